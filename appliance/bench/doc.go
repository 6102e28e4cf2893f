// Package bench is the node's benchmark harness (issue 8), run as
// `discodo bench`: numbers, not claims.
//
// # Basics
//
//	discodo bench run -mode passthrough -n 1000      # one configuration
//	discodo bench run -mode encode -n 80 -dave       # DAVE on
//	discodo bench scale -out appliance/bench/results # the scaling table, results.json, scaling.png
//	discodo bench filters                            # each built-in WASM filter per 20 ms frame
//	discodo bench latency                            # the real binary: idle RSS, loadSource → first packet
//
// A run starts N players (package player, the node's own), each pulled by
// its own voice connection (package voice: gateway v8, UDP, RTP, transport
// AEAD, and a DAVE session as the node makes one), against one fake
// Discord voice server on loopback (voicetest in its load setting: every
// packet decrypted, checked and counted, nothing kept). The players loop a
// file the harness writes itself (a music-like signal: three tones and
// noise): 16-bit WAV for "encode" (decode, volume envelope, libopus at the
// configured complexity on the send loop), Ogg Opus for "passthrough"
// (the file's packets as they are). With -dave the fake server requires
// DAVE, plays the gateway's DAVE role (davetest.Gateway) and brings a
// member into every call once the node sends audio, so that the node
// commits it and encrypts every frame; the member decrypts one frame in
// fifty to prove it. -filter runs a WASM filter chain in every encoding
// player.
//
// After all streams send (and encrypt) and a warm-up, it measures for
// -duration:
//
//   - CPU: the process's user+system time (getrusage) over wall time, in
//     cores and in % of one core per stream;
//   - libopus alone: the CPU time the players' own encoders spend inside
//     libopus per frame while the streams run (audio.EncodeMeter: the
//     encoding thread's CPU clock around each call), and the node's
//     overhead: CPU per stream over that, minus one (timed alone on an
//     idle machine libopus reads 10–30 % cheaper, which flattered the
//     overhead: the first harness did that);
//   - send deviation: how far from its slot of the 20 ms grid each packet
//     left, early or late, from voice.Config.ObserveSend (a lock-free
//     histogram of 10 µs buckets): p50, p99, max;
//   - deficit (voice.Stats.Skipped: slots skipped after a stall of 20 ms or
//     more), nulled (player underruns), late (slots started ≥ 5 ms late);
//   - memory: VmRSS before the streams (harness warmed up, after a GC) and
//     at the end, per player the difference over N, and VmHWM;
//   - the machine: load average, the cores the whole machine kept busy
//     (/proc/stat), softirq and steal time, the sink's CPU, and how often
//     the kernel preempted the node's threads.
//
// `bench filters` runs each built-in WASM filter, and all ten chained,
// through wasm.Chain.Process on one locked thread, in five interleaved
// rounds; its verdict reads each filter's quietest round, since on a
// shared VM whole seconds run at half speed.
//
// Run, MeasureFilters and MeasureLatency are the same measurements as
// functions; Main is the command line.
//
// # Goroutines
//
// Run owns every goroutine it starts (a player's Run and a connection's
// Run per stream) and waits for them before it returns; the sink, in or
// out of process, is closed by whoever started it. MeasureLatency starts
// the node binary as a child, stops it with SIGTERM and waits. Child
// processes die with the harness (Pdeathsig).
//
// # Why is the fake voice server in its own process?
//
// The figures are the node's: its CPU time and its memory. A sink in the
// same process adds its decryption, checks and garbage to both (at 1000
// streams it takes a quarter of a core). So `discodo bench` re-executes
// itself as `discodo bench sink` and talks to it over stdin/stdout (its
// endpoint, then reports on request); -sink inproc keeps it in process.
// The sink is a test fake, but it ships in the binary so that the same
// command measures a board that has no Go toolchain.
//
// # Why does the sink poll its socket, and why is it niced?
//
// On loopback the sender's sendto runs the whole receive path, including
// waking the receiver: with a sink blocked in Go's netpoller every packet
// cost the node 4–11 µs more than a send to a network card would
// (measured: 11.7 µs against 7.9 µs per write at 2,000 packets/s), which
// is 5 % of an encoded stream. So the sink drains its socket every
// millisecond (voicetest.Options.PollUDP) and no packet wakes anybody.
// And it runs at nice 10 in the normal scheduling class even when the node
// runs under chrt: its work is not measured, and when it takes a core at
// the wrong moment the node's send loops are late.
//
// # Why not a shared pacer?
//
// Each voice connection keeps its own send loop with its own timer. At
// 1000 passthrough streams the timers, wake-ups and selects cost about 0.1
// core of the node's 0.8 (a shared pacer could save most of that), but
// CPU is not what limits there: the send deviation is, and it comes from
// the operating system's scheduling of the node's threads on a shared
// 2-vCPU machine and from Go's runnext hand-offs (see the README's
// figures), which a pacer would not change. The per-connection loop also
// keeps a slow stream from delaying others.
//
// # Decisions
//
//   - Encoded streams play WAV: the decoder then costs almost nothing, so
//     "overhead over libopus" is the node's own machinery (framing, ramps,
//     buffers, AEAD, UDP, scheduling), not a codec's. Compressed sources
//     add their decoder (MP3 ≈ 100 allocations and tens of µs per frame).
//   - The deviation is the send loop's view (when the packet left), not
//     the arrival at the sink: loopback adds nothing a listener would
//     hear, and the sink polls every millisecond.
//   - "Per player" memory includes everything a playing guild costs:
//     player, source buffers (BUFFERLIMIT), voice connection, goroutines,
//     DAVE session.
package bench
