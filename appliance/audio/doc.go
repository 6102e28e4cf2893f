// Package audio turns sources into 48 kHz stereo PCM and Opus: it resolves
// queries to sources, opens their bytes (http(s) with range requests,
// media-directory files), sniffs and decodes their containers, resamples,
// encodes Opus, and reads Ogg Opus packets for passthrough. It is a leaf:
// it imports nothing from the project, and it is the only package that
// uses cgo (libopus and libopusfile through github.com/hraban/opus).
//
// # Basics
//
// A player does, per source:
//
//	res, _ := audio.NewResolver(audio.SourceConfig{MediaDirs: dirs, Extractor: "yt-dlp"})
//	mds, err := res.Resolve(ctx, query) // → AudioData; errors map to 400/404
//	s, err := res.Open(ctx, mds[0])     // bytes: a file or an HTTP stream
//	d, err := audio.Open(ctx, s, audio.OpenOptions{Name: mds[0].URL})
//	n, err := d.Read(frame)             // frame: FrameLen float32, 20 ms
//	err = d.Seek(90 * time.Second)
//	enc, _ := audio.NewEncoder(audio.EncoderConfig{})
//	k, err := enc.Encode(frame, packet) // packet: MaxOpusFrame bytes
//
// or, for an Ogg Opus source played at volume 1.0 without a filter,
// audio.OpenOggOpus(s) and ReadPacket, which hands the file's own packets
// over without decoding (OpusHead.Passthrough says whether the stream
// qualifies; ErrPacketDuration says a packet is not 20 ms, so the player
// falls back to Open at the reader's Position).
//
// Decoder.Read, OggOpusReader.ReadPacket and Encoder.Encode allocate
// nothing per frame for WAV and Ogg Opus (BenchmarkDecoderRead,
// BenchmarkReadPacket, BenchmarkEncode); the pure-Go FLAC, MP3 and Vorbis
// decoders allocate inside their libraries (see below).
//
// Memory per open stream: Open buffers 64 KB of input; OpenOggOpus, which
// reads whole pages into its own page buffer, 8 KB. The Ogg page buffer
// starts at 8 KB and grows (once, in 8 KB steps) to the largest page met,
// at most 65 KB; a player keeps one OggOpusReader per passthrough source
// for the source's lifetime, so neither is sized for the worst case.
//
// # Lifecycle and goroutines
//
// Nothing here starts a goroutine of its own except through os/exec: the
// ffmpeg fallback and the yt-dlp extractor run as child processes whose
// I/O copiers belong to exec.Cmd and are waited for by Wait (the extractor
// within its timeout, ffmpeg at EOF or Close). A Decoder, an
// OggOpusReader and an Encoder are used from one goroutine; Close of a
// Decoder or Stream may come from another goroutine to abort a Read that
// blocks on a slow source: it cancels the HTTP request or closes the file
// underneath. Close is idempotent everywhere. A Resolver is safe for
// concurrent use and holds its media directories open (os.Root) until
// Close.
//
// # Formats, decoders and seeking
//
// Open sniffs magic bytes (Sniff): "OggS" with "OpusHead" or "\x01vorbis"
// in the first packet, "RIFF"…"WAVE", "fLaC", "ID3" (looking behind the
// tag for "fLaC" when the stream seeks), an MPEG Layer III frame header.
//
//   - Ogg Opus: this package's Ogg demuxer (RFC 3533, CRC-checked,
//     resyncing over damage) and libopus's packet decoder, always to
//     stereo, with the OpusHead output gain, the pre-skip and the end
//     trimming of RFC 7845. Seek bisects over byte offsets for the page
//     80 ms (the RFC's pre-roll) before the target, decodes from there and
//     discards up to it: sample-accurate. Matches libopusfile sample for
//     sample (TestOpusDecoderMatchesLibopusfile). Mapping families other
//     than 0 (and the trivial 1) go to ffmpeg.
//   - WAV: own parser (8/16/24/32-bit PCM, 32/64-bit float, EXTENSIBLE);
//     Seek is offset arithmetic, sample-exact. Other codecs in WAV
//     (A-law, ADPCM...) go to ffmpeg.
//   - FLAC: github.com/mewkiz/flac; Seek uses the SEEKTABLE (or builds one
//     by one pass over the frames) and drops the samples before the target
//     in its frame: sample-exact. Allocates per frame (≈ 3 allocations,
//     7 KB per 20 ms).
//   - MP3: github.com/hajimehoshi/go-mp3. It decodes the Xing/Info frame to
//     silence and keeps the encoder delay and padding; the LAME tag's delay
//     and padding (plus the 529-sample decoder delay) are trimmed here, so
//     lengths and positions agree with ffmpeg to the sample. The stream
//     opens without the library's index pass (play starts at once); the
//     first Seek reopens it with the index, then seeks are sample-exact.
//     Allocates per frame (≈ 100 allocations, 43 KB per 20 ms).
//   - Ogg Vorbis: github.com/jfreymuth/oggvorbis; SetPosition decodes from
//     the page before the target: sample-exact. A few small allocations.
//   - Anything else (AAC/M4A, WebM/Opus, ALAC, ...) or what the native
//     decoders refuse: ffmpeg when installed, writing float WAV at 48 kHz
//     in the source's channel count, so that up- and down-mixing are the
//     same as for native formats. A regular file is handed over as
//     /dev/fd/3 so ffmpeg can seek (MP4 with the index at the end); a
//     stream goes through stdin. Seek restarts ffmpeg with -ss (exact).
//
// TestSeekAccuracy seeks in a chirp in every format and finds, by
// correlation with the analytic signal, every seek landing at lag 0.
//
// Mono is duplicated to both channels; more than two channels are
// down-mixed with ITU-R BS.775 weights (centre and surrounds at -3 dB,
// LFE dropped) in each format's channel order.
//
// # Why these decoders?
//
// Pure Go where a maintained decoder exists (FLAC, MP3, Vorbis: no cgo,
// cross-builds stay simple, and their bugs cannot corrupt memory; a panic
// in one is recovered at the Read/Seek boundary and returned as
// ErrDecoderPanic). libopus for Opus, because it is the reference decoder
// and already linked for the encoder. Why not hraban/opus's Stream
// (libopusfile) for Ogg Opus? It cannot seek, yields the file's channel
// count and reads through a Go callback map; the same Ogg demuxer also
// has to serve passthrough, where no decoder runs at all.
//
// # Why a windowed-sinc resampler?
//
// Linear interpolation aliases and dulls: for 44.1 → 48 kHz it measures
// THD+N of -62 dB on a 1 kHz sine and -20 dB at 10 kHz. The Resampler is
// a polyphase Kaiser-windowed sinc (100 dB stopband, passband to 20 kHz
// at 44.1 kHz, 138 taps at 44.1 kHz): THD+N -120 dB at 1 kHz and at 10 kHz,
// and a 30 kHz tone at 96 kHz aliases at -115 dB (TestResamplerQuality).
// It costs ≈ 0.2 ms per 20 ms stereo frame on the development machine
// (BenchmarkResampler), 1 % of a core; 48 kHz sources skip it.
//
// # Sources
//
// Resolver follows node-protocol.md section 8: an http(s) URL whose
// response is audio (by its bytes or Content-Type) is streamed; a web page
// goes to the extractor when enabled (ErrNotAudio otherwise); a path
// relative to a media directory, an absolute path inside one or a file:
// URL is a file (os.Root refuses ".." and symlinks leading out; symlinks
// inside, even absolute ones, work); "ytsearch:"-style queries and, with
// the extractor, plain words ("ytsearch1:") go to yt-dlp. Open re-runs
// the extractor on the page when a stream URL fails or expires.
//
// Decisions on the spec (node-protocol.md section 8):
//   - An http(s) URL is first fetched: the spec lists "http(s) URLs" and
//     "page URLs" as different sources, and only the response tells them
//     apart.
//   - Plain words without the extractor are ErrUnsupportedQuery (400); a
//     path that is not in the media directories is ErrNotFound (404); a
//     path leading out of them is ErrOutsideMediaDir (400).
//   - searchSources also matches media-directory file names (not in
//     discodo, which had no media directories).
package audio
