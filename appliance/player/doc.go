// Package player is one guild's player: it turns the head of a voice
// client's queue into the 20 ms Opus frames the voice connection pulls,
// with discodo's queue semantics (node-protocol.md sections 6 and 7):
// the next source prepared ahead of time, equal-power crossfades (also on
// skip) or a gapless hand-over, click-free volume ramps, seeks, pause and
// resume, autoplay through REQUIRE_NEXT_SOURCE, a filter chain, and Opus
// passthrough for Ogg Opus sources. It imports only package audio from
// the project; it satisfies voice.FrameSource structurally.
//
// # Basics
//
//	p, err := player.New(player.Config{Host: vc, Opener: resolver, Crossfade: 10 * time.Second})
//	go p.Run(ctx)          // until ctx ends: owns every goroutine, closes every source
//	conn.SetSource(p)      // the voice connection pulls p.NextFrame every 20 ms
//	p.QueueChanged()       // after every committed queue mutation
//	p.SetVolume(0.5); p.SetFilter(chain); p.Seek(90 * time.Second); p.Skip()
//	pl, ok := p.Current()  // getState, GET /seek, position checkpoints
//
// # The seam with the node
//
// The node implements Host. The player never removes anything from the
// queue itself; it looks at the head (Host.Peek) and tells the node what
// happened, and the node mutates its queue in those calls:
//
//   - Peek when a source must be prepared: nothing is audible, the current
//     source reached its preload point (PreloadTime before its crossfade
//     starts, i.e. when what remains ≤ PreloadTime + crossfade), or Skip
//     wants a successor. The prepared source stays in the queue.
//   - QueueChanged after every queue mutation: the player peeks again and
//     drops the source it prepared if that is no longer the head (deleted,
//     moved, skipped over). Until it looked again, it does not start it.
//   - SourceStart when a source's first frame went out: the node pops it
//     if it is still the head (QUEUE_EVENT pop [0]) and makes it current.
//   - SourceTraceback for a source that failed before it started: the node
//     pops it if it is the head, so that the next Peek sees the entry
//     after it. (For one that failed while audible, SourceStop(failed)
//     follows.)
//   - RequireNextSource when Peek found the queue empty at the preload
//     point (or on a skip), once per source, with the autoplay flag.
//
// Skipping n entries: the node deletes the n−1 entries after the current
// source (QUEUE_EVENT delItem), calls QueueChanged, then Skip. A restart
// resumes through Config.Resume (the stored current item and position,
// not a queue entry) and Config.Paused.
//
// Changes from the proposed seam, and why: Host.Next (pop at preload time)
// became Peek plus the pops in SourceStart and SourceTraceback, so that the
// queue the bot sees keeps its next entry until it is heard, queue edits
// in the last seconds of a source apply to what plays next, skip offsets
// count the way the bot sees them, and a crash never loses a popped but
// unheard entry. QueueChanged is new (the player must learn that the head
// changed, and an idle player that an entry arrived). Current returns a
// Playing struct; Stats counts Sent, Passed, Encoded and Nulled (the
// deficit, voice.Stats.Skipped, is the connection's); StopReason names
// the reasons; FilterError's filter is the Filter's String().
//
// # Lifecycle and goroutines
//
// New validates and starts nothing. Run runs the control goroutine and
// returns nil when its context ends, after aborting every source and
// waiting for their readers; it may be called once. The control goroutine
// calls the Host (one call at a time, in the order things happened),
// peeks, starts a reader per source and closes finished ones. Each open
// source has one reader goroutine (the track) that opens it, reads and
// decodes it ahead into a ring (at most BufferLimit, BUFFERLIMIT; see
// "# Memory") and performs its seeks; it sleeps when the ring is full,
// NextFrame wakes it when half of the ring is free (not after every
// frame), and it is aborted by closing its streams (which unblocks a Read
// on a slow source) and cancelling its context (which kills ffmpeg).
// NextFrame runs on the voice connection's send loop and never waits for
// I/O or decoding.
//
// A player prepares nothing unless the voice connection pulls it: the
// control goroutine peeks only within 200 ms of a NextFrame call, so a
// voice client without a live connection leaves its queue untouched
// (node-protocol.md section 4). Sources already open stay open and
// buffered while the connection is away; nothing advances.
//
// Panics in the control goroutine, a reader, an Opener, NextFrame or the
// Filter are recovered: PlayerTraceback (the reader's source also gets
// SourceTraceback; a panicking Filter is bypassed with FilterError until
// SetFilter). The player keeps working.
//
// Locking: one player mutex guards the player's state and is held for the
// whole of NextFrame (≈ 0.3 ms with encoding); each track has its own
// mutex for its ring, taken briefly by its reader and by NextFrame (order:
// player, then track; a reader takes the player's mutex, to make the
// encoder, only without its own). Host calls are made without any lock
// held.
//
// # The 20 ms path
//
// Per frame, NextFrame either passes a source's own Opus packet through,
// or builds PCM: the current source (and the outgoing one in a
// crossfade, mixed with equal-power gains), the Filter (its output
// re-framed into 20 ms frames; a timescale may consume several input
// frames per output frame), the volume envelope (a linear ramp over the
// frame from the last gain to the new one), clipping to [-1, 1] (NaN from
// a filter becomes 0), and the Opus encoder (audio.Encoder: bitrate and
// complexity from Config.Encoder). It allocates nothing
// (TestNextFrameAllocs, BenchmarkNextFrame): the encoder and the mixing
// buffers are made by the reader of the first source that decodes, before
// it hands out PCM.
//
// Measured on the development machine (2 vCPU, shared): encoding at
// complexity 10 ≈ 0.31–0.42 ms per frame (1.6–2.1 % of a core per
// stream), complexity 5 ≈ 0.20 ms, passthrough ≈ 6 µs; of that, building
// the PCM takes ≈ 4 µs for one source, ≈ 20 µs in a crossfade, ≈ 10 µs
// with a filter and a ramp (BenchmarkBuildFrame). From an entry in the queue (local
// WAV or Ogg Opus) to its first packet at the fake Discord server:
// ≈ 16 ms (TestLatencyOverVoice; issue 8's target is 150 ms). A seek is
// heard ≈ 40 ms after Seek (TestSeekOverVoice).
//
// # Why is the frame encoded on the send loop?
//
// Preparing the frame one slot ahead in a goroutine would make NextFrame
// a copy, but it costs a goroutine hand-off every 20 ms per guild (and on
// a loaded machine the preparing goroutine can be late, which is an
// underrun), delays every option change by a slot, and needs its own
// buffer management. Encoding inline costs ≈ 0.3 ms of the slot; the
// arrival jitter at the fake server is p99 ≈ 2.1–2.7 ms encoding inline
// against 0.6–2.1 ms passing through (BenchmarkPacingOverVoice), within
// discord-voice.md's 5 ms, so the simpler design stays.
//
// # Passthrough
//
// An Ogg Opus source is passed through (its packets go to Discord as they
// are, no decoder, no encoder: TestPassthroughPackets, the e2e tests count
// encoder calls) when its stream seeks (a file, HTTP with range requests),
// its OpusHead is stereo, mapping family 0, without output gain
// (audio.OpusHead.Passthrough), and its packets are 20 ms; and while the
// output is one source at volume 1.0 with no filter, no crossfade and no
// fade pending. The reader then only reads packets.
//
// When PCM is needed (a volume other than 1, a filter, a crossfade, a
// pause or seek fade, a gapless join that is not frame-aligned), the
// reader opens the source a second time with a decoder (lockstep; only
// then does the source get PCM storage, and the player an encoder): units
// already buffered get their PCM filled in from the head on, and from then
// on every unit carries both the packet and its PCM. The output switches
// to encoding once PCM is at hand (≈ 2 frames for a file; longer for HTTP,
// which needs a second request and a seek — passthrough goes on meanwhile,
// so nothing is missing, the change is just heard later). It switches
// back at the next frame boundary when the volume is 1.0 again and the
// ramp is done (TestPassthroughSwitch, TestPassthroughOverVoice: no
// missing slot, no click, the file's packets again after the switch back).
// A packet that is not 20 ms (or over 1500 bytes) ends passthrough for the
// source: it is decoded from there (audio's ErrPacketDuration).
//
// Not passed through: non-seekable Ogg Opus (a live radio over HTTP without
// ranges cannot be opened a second time at the same position, so it is
// decoded from the start and the volume always works), mono or
// multichannel files, files with an output gain.
//
// # Why a lookahead shift?
//
// The listener's decoder hears what our libopus encoder got 312 samples
// earlier (its look-ahead at 48 kHz). The PCM that goes with the file's
// packet n is therefore the audio from the packet's own start + 312
// samples, and on a switch from packets to encoding the encoder is first
// run (output discarded) over the PCM of the last packet sent: its
// look-ahead then holds exactly what the listener heard, and the first
// encoded frame continues the last packet without a gap or a 6.5 ms jump.
// After a pause, seek or underrun the encoder is primed with silence
// instead. Passthrough has no fades: a pause or a seek while passing
// packets through without PCM at hand is abrupt at a packet boundary.
//
// # Crossfade, gapless, skip
//
//   - A crossfade starts when what remains of the current source is at most
//     min(crossfade, half the next source's length) and both have PCM at
//     hand; it lasts what remains. Gains are cos(πx/2) for the outgoing
//     and sin(πx/2) for the incoming source, x from 0 to 1 (equal power;
//     TestCrossfadeShape checks every sample, TestCrossfadeOverVoice the
//     timing, shape and constant power of what the fake server decoded).
//     Half the next one's length, so that a short source is heard alone
//     for a while. What remains is exact once the reader reached the end,
//     else from the duration (the decoder's, else the item's metadata); a
//     source of unknown length crossfades over what is buffered when its
//     reader reaches the end.
//   - Crossfade 0: gapless; the next source's first sample follows the
//     last of the current one in the same frame (TestGapless). When the
//     current source ended as packets, the next starts at a frame
//     boundary (packet-exact, the last packet's end padding included).
//   - Skip: a crossfade of min(crossfade, what remains, half the next)
//     into the next source, at least 20 ms (a crossfade 0 skip is a 20 ms
//     equal-power crossfade, not a click); while the next source is still
//     opening the current one plays on (at most 100 ms without a
//     crossfade, 2 s with one, then it fades out over 20 ms and the next
//     starts when ready); with an empty queue it fades out over 20 ms. Skipped while paused:
//     at once, the next source starts on Resume.
//   - Seek: 20 ms fade-out of the old position, 20 ms fade-in at the new
//     one, accurate to the sample for PCM sources (TestSeekExact) and to
//     the packet (20 ms) for passthrough; at or past the end the source
//     ends; during a crossfade the outgoing source ends at once.
//   - Pause: 20 ms fade-out, then NextFrame returns 0 (the connection sends
//     its five silence frames); Resume fades in over 20 ms. A source heard
//     from its beginning is never faded in.
//   - Volume: 0 to anything (the node caps at 5); the ramp takes one frame
//     and is heard in the next frame; samples are clipped to [-1, 1].
//
// # Events and timing
//
// SourceStart when the first frame holding the source's audio is handed
// out by NextFrame (not when it is prepared); SourceStop when its last
// sample went out (ended), when the crossfade away from it completed or
// it was cut (skipped), or when it failed while audible (after
// SourceTraceback). Current's position is the audio handed out so far
// (the listener hears it ≈ 6.5 ms later, the encoder's look-ahead): within
// 20 ms (a packet) for passthrough, exact otherwise; during a pending
// seek it is the target. Stats.Nulled counts slots in which an audible,
// unpaused source had nothing ready (underruns), not the opening of a
// source or the wait after a seek.
//
// # Failures
//
// An Open error (dead server, missing file), a malformed file, a decoder
// error mid-stream, a stalled HTTP source (audio's idle timeout and
// retries), a panicking Opener or decoder: SourceTraceback, the source is
// dropped, the next entry plays (TestFailures, TestDecodeErrorMidStream,
// TestHTTPSourcesOverVoice). A source that failed while audible plays
// what it buffered, then SourceTraceback and SourceStop(failed). A prepared
// source that fails is reported at once. If the node does not pop a
// failed head, the player does not retry it until the queue changes.
//
// # Memory
//
// What a player holds follows what it does (BenchmarkPlayerMemory: Go
// heap per player, without the voice connection):
//
//   - Idle: ≈ 14 KB. The encoder (48 KB) and the mixing buffers (31 KB:
//     the mix, the incoming side of a crossfade, the re-framed filter
//     output and the last packet's PCM; 46 KB more with a filter) are made
//     by the first source that decodes and dropped when no source is open;
//     a passthrough player has none.
//   - Each open source has a ring of 20 ms units, 60 ms deep while it is
//     prepared ahead of its turn (prepUnits), 200 ms (readAhead) once it
//     is audible, and BufferLimit once it showed that it can stall: a
//     Read that took 50 ms or more, or a ring its reader let drain below
//     a quarter after it had been full (TestRingGrows). Packets are stored packed in a byte ring that
//     grows with their sizes (≈ 320 bytes a packet at 128 kb/s, not
//     1,500-byte slots); PCM storage (float32, 7.5 KB a unit) exists only
//     for a source that decodes, so a passthrough source gets it when
//     lockstep starts (TestRingDepth). Its packet reader keeps 8 KB of
//     input and its largest Ogg page (package audio); a decoder keeps
//     16 KB of input (and no sample buffer for stereo at 48 kHz: the
//     converter decodes into the ring).
//
// Why 200 ms and not seconds: a local file refills it in microseconds,
// and an HTTP source's next seconds already wait in the kernel's socket
// buffer as compressed bytes (16 KB a second at 128 kb/s) rather than as
// PCM (384 KB a second); a source that cannot keep 200 ms ahead shows it
// and gets BufferLimit before the ring runs dry. The reader refills at
// half free (every 100 ms), not after every frame.
//
// Measured (BenchmarkPlayerMemory, Go heap): idle ≈ 14 KB; passthrough
// ≈ 60 KB, ≈ 102 KB while the next source is prepared; decoding (WAV)
// and encoding ≈ 206 KB, ≈ 256 KB while the next is prepared (its
// decoder and 60 ms ring). A source that reached BufferLimit (5 s) holds
// 1.9 MB of PCM, or ≈ 80 KB of packets. With the voice connection
// (discodo bench, RSS per player): passthrough 1.13 MB with the first
// design (a 5 s PCM ring per source), ≈ 190 KB now; encoded (complexity
// 10) 4.1 MB, 285–300 KB in the first 15 s and 408–440 KB once the heap
// reached its first collection (the garbage up to the next collection,
// stacks, the collector's metadata: README, "Performance").
//
// # Why is BUFFERLIMIT a bound, not a depth?
//
// node-protocol.md section 9 has BUFFERLIMIT as "seconds decoded ahead",
// and discodo decodes that far ahead of every source: 1.9 MB of float32
// per source, 4 MB per player while the next source is prepared, 1 GB
// for 250 playing guilds on a board that has 512 MB. Here decoding ahead
// is bounded by BUFFERLIMIT, and a source is read that far only once it
// showed that it needs it. A local file, or an HTTP stream whose server
// sends ahead (its bytes wait in the socket's buffer: the source is still
// buffered, only not decoded), does not make the reader wait, and a 1 s
// ring refilled at 750 ms covers the scheduling of a loaded board; a source that stalls once (a slow network, a
// throttled server, a busy SD card) is noticed at its first slow Read,
// long before a 1 s ring runs dry, and gets all of BUFFERLIMIT from then
// on. What this does not cover, and discodo's eager 5 s would: a source
// that never made its reader wait and then stalls, all at once, for
// longer than its ring (0.75 to 1 s) and its socket's buffer hold. A
// BUFFERLIMIT under 1 s bounds every ring from the start.
//
// # Why float32 in the ring?
//
// int16 would halve the PCM, but it quantizes what the decoders produce
// (24-bit FLAC, float WAV, the float output of the Opus, Vorbis and MP3
// decoders) before the volume and the filters, clips decoded overs (> 1.0,
// common in lossy decoders' output) before the volume could bring them
// back, and loses the sample-exactness that the seek, gapless and
// passthrough tests check. The shorter ring saves more and keeps the
// audio as decoded.
//
// # Why refill at a low-water mark?
//
// NextFrame used to wake the reader after every unit it took: every 20 ms
// slot cost two goroutine wake-ups (the send loop's timer, then the
// reader), and the reader, readied by the send loop, ran next on its P,
// ahead of the send loops queued there. Now the reader sleeps until
// half of the ring is free and refills it in one go
// (TestReaderRefillsAtLowWater). At 1000 passthrough streams (discodo
// bench, execution traces, a 1 s ring refilled at a quarter free) the
// goroutine-to-goroutine wake-ups fell from 50,000 to 4,300 a second,
// the node's CPU from 0.86–0.88 to 0.60–0.72 cores, and the scheduling
// delay of the send loops (timer to running) from p99 2.0 ms to 1.5 ms.
// The 200 ms ring refilled at half free wakes each reader 10 times a
// second; at 1000 streams that measured the same (0.67–0.70 cores, p99
// 2.7–2.9 ms in the same hour). A refill runs for a few µs between
// syscalls (p99 13 µs).
package player
