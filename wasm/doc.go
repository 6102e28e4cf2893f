// Package wasm runs audio filters as sandboxed WebAssembly modules: the
// host side of the filter ABI (/work/shared/spec/wasm-filter-abi.md) on
// wazero, and the ten built-in filters Lavalink users know, in two embedded
// WebAssembly modules: nine compiled from Go, and the equalizer written by
// hand in WebAssembly text for SIMD (see "Why two modules for ten filters").
//
// # Basics
//
// A Host holds the compiled modules: the built-ins, compiled (or loaded from
// the cache) at their first use (or by Warm), so that an idle node carries
// no WASM runtime, and the uploads, compiled and checked by Register. A
// Chain is one player's filters, one module instance per slot:
//
//	h, err := wasm.New(ctx, wasm.Config{CacheDir: filepath.Join(stateDir, "wasm")})
//	defer h.Close(ctx)
//
//	info, err := h.Register(ctx, "mine", body)     // PUT /filters/mine: 400 with err
//	spec, err := wasm.ParseChain(options.Filter)   // the "filter" option: 400 with err
//	chain, err := h.NewChain(ctx, spec, func(filter string, err error) {
//		// FILTER_ERROR {filter, reason: err.Error()}; must not block
//	})                                             // 400 with err (a *ParamError names
//	                                               // filter and parameter); keep the old chain
//	out := chain.Process(pcm)                      // every 20 ms: 1920 float32, 48 kHz stereo
//	chain.Reset()                                  // seek, new track
//	chain.Close(ctx)
//
// Process returns the filtered samples, perhaps more or fewer than it got
// (timescale): the caller re-frames. The result aliases pcm or a buffer of
// the chain, valid until the next call. A filter that traps, overruns its
// budget or returns what the ABI does not allow is bypassed from then on
// and reported once through onError; the audio goes on without it.
//
// Register of a name in use replaces the module: chains using it restart
// that slot on the new module, with the same parameters, at their next
// Process (a parameter the new module rejects bypasses the slot, reported).
// Remove makes chains drop the slot at their next Process, reporting
// ErrRemoved; uploading the name again does not bring it back into those
// chains. Chains notice both through a generation counter: one atomic load
// per frame.
//
// # Goroutines and lifecycle
//
// New starts nothing. The Host's methods are safe for concurrent use; a
// Chain is used by one goroutine at a time (its player's), Process, Reset
// and Close included; onError runs on that goroutine. The host starts no
// goroutine of its own that outlives a call: an upload's call runs with a
// timer (time.AfterFunc, fired only on overrun) and wazero's watcher
// goroutine, which ends with the call. Close the chains before the Host:
// Host.Close closes every instance, and a chain of a closed host passes the
// audio through. Close is idempotent on both.
//
// The compilation cache lives in Config.CacheDir: one directory for the
// built-ins (named after their sha256 and the wazero version, older ones are
// removed by New) and one per uploaded module (modules/<sha256>), removed
// with the last name and chain using it. PruneCache removes what a crash
// left behind; the node calls it after registering the stored modules.
//
// # Caveats
//
//   - A Go guest instance costs about 4 MiB (2.6 MiB of linear memory, the
//     rest wazero's) and 4–7 ms to create on a 2.8 GHz x86 core: a chain of
//     three built-ins is built in about 20 ms. Arm boards are slower.
//   - Uploads run with wazero's termination checks: about 50 ns per loop
//     iteration (see BenchmarkUploadedFrame). A filter written for the node
//     should process several samples per loop iteration.
//   - A call into an upload allocates three small objects (wazero's watcher
//     goroutine and its channel); a call into a built-in allocates nothing.
//   - Where wazero has no compiler (32-bit ARM) it interprets: 30 to 80
//     times slower for the built-ins (the equalizer with every band on
//     takes 15 ms per 20 ms frame on this x86 machine), and wazero's
//     interpreter allocates on every guest function call (1,850 objects
//     per frame for a chain of four built-ins). The default budget is then
//     20 ms; a built-in too slow for the board is bypassed after 50
//     frames. The test suite passes under qemu-arm (GOARCH=arm GOARM=7).
//   - An 8 MiB module may still make wazero's compiler use a few hundred MB
//     while compiling it: uploads need the node's password.
//
// # Why two kinds of runtime
//
// Only wazero's WithCloseOnContextDone stops a guest that does not return:
// it compiles a check into every loop back-edge, which returns to Go, and
// watches the context with a goroutine per call. Uploads need it, and get
// it: each upload has a runtime of its own with the flag, and every call a
// deadline of Config.CallBudget (2 ms). Because the checks return to Go, the
// garbage collector can also stop the world while an upload spins (measured:
// runtime.GC took 3 ms during a 2 s loop); without them, a stop-the-world
// waits for the guest to return.
//
// The built-ins do not get the flag. They are our code, their loops are
// bounded by construction (O(frames) with frames ≤ cap, no allocation, no
// parameter that changes the work per frame; FuzzFilters drives them with
// arbitrary parameters), so a stop-the-world waits at most one call
// (0.2 ms for the equalizer). And the flag would cost them much: the
// built-ins took 2.5 to 10 times as long with the checks (BenchmarkBuiltin,
// "checked"), and every call would allocate. A built-in cannot be stopped
// mid-call, so the host measures each call instead: one that overran is
// counted, and slowLimit (50) overruns in a row (a machine too slow for it,
// not a hiccup) bypass it with ErrBudget.
//
// # Why two modules for ten filters
//
// A Go guest carries the Go runtime: 1.8 MB per module, about 0.8 s to
// compile on this machine (seconds on a Pi) and several MB of native code.
// Ten modules would have been 18 MB in the binary and in git at every
// rebuild, and ten compilations on a cold start. One Go module holds nine
// of the filters (1.9 MB, compiled once); the equalizer is a second module,
// written by hand in WebAssembly text (builtin/equalizer), because Go does
// not compile to WebAssembly's SIMD instructions and fifteen recursions per
// sample were too slow without them: 108 µs a frame from Go, 30–33 µs
// with f32x4 (two bands by two channels per instruction). It is 1.8 KB and
// has no runtime to start. dsp.Equalizer stays as its reference
// (TestEqualizerModuleMatchesDSP) and as the native figure of the
// benchmarks.
//
// Both modules answer one more export, builtin_select(name_ptr, name_len),
// with which the host picks an instance's filter after the ABI's two
// allocs. Apart from that call the built-ins go through the exact path
// uploads do: the same ABI calls, the same export checks, the same import
// allowlist.
//
// # Why hot loops live in small functions
//
// Go's WebAssembly backend compiles the whole control flow of a function
// into one loop around a br_table dispatch: every jump of a large function
// goes through a large dispatch with many live values, which wazero cannot
// keep in registers. Moving the equalizer's per-sample loop into a small
// //go:noinline function made it about 10× faster under wazero (2.3 ms to
// 0.2 ms per frame), volume 5× (13 µs to 2.7 µs, with eight samples per
// iteration). Hot loops in builtin/dsp are written that way, and the
// waveshaper uses its own sincos rather than math's (3× faster there).
//
// # Why these imports
//
// The spec allows WASI's clock, random, fd_write to stdout/stderr and
// proc_exit. Real toolchains import a few more in their startup code even
// when the filter never uses them (Go: sched_yield, poll_oneoff,
// args_*, environ_*; wasi-libc: fd_close, fd_fdstat_get, fd_seek,
// fd_prestat_*). allowedImports lists those too, because in this sandbox
// none of them reaches anything: there are no arguments, no environment, no
// preopened directory and no file but stdin (empty), stdout and stderr (the
// node's log, one token bucket per host); the clocks are wazero's
// deterministic fakes, sleeping returns at once and random is a
// deterministic stream. Everything else (path_*, sock_*, any other module)
// is refused at registration, naming the import.
//
// # Spec decisions
//
// Where wasm-filter-abi.md left room, this package decided (reported to the
// lead):
//
//   - The built-ins come in two modules with an extra export,
//     builtin_select (above). GET /filters lists each with the sha256 and
//     size of its module.
//   - The equalizer computes in float32 (dsp.Equalizer and the other
//     built-ins in float64; Lavalink's equalizer in float32 too), in a form
//     that keeps its low bands precise: within 2^-13 of the float64
//     reference, about 2^-15 seen. It handles one and two channels and
//     returns -1 for more (the node passes two; the ABI allows it).
//   - Imports: the allowlist above, broader than the spec's four names but
//     no wider in what a module can reach.
//   - Structural limits beyond the spec's (see binary.go): tables get a
//     maximum of 2^18 entries (a minimum above is refused with
//     ErrMemoryLimit), at most 100,000 functions, types, globals, exports,
//     element and data segments, 1,000 imports, 50,000 locals per function;
//     custom sections are dropped before compiling.
//   - Budgets: _initialize, abi_version and the allocs get 100 call budgets
//     (at least 1 s, at most 10 s); the interpreter's default call budget is
//     20 ms; a built-in is bypassed after 50 overruns in a row, an upload
//     after one.
//   - Parameters: a filter's parameters may also be a bare number, named
//     like the filter ({"volume": 1.2}, Lavalink's form); a name may repeat
//     in a chain (it runs twice); at most 16 filters, 256 parameters per
//     filter, names of at most 256 bytes (the name buffer), nesting of 8.
//   - Lavalink's filters are described by their names and ranges only;
//     what they compute is documented on each type of builtin/dsp (e.g. the
//     equalizer multiplies a band's centre by 1 + 4·gain, rotationHz 0 and
//     lowPass smoothing ≤ 1 disable, distortion's trigonometric terms are
//     active only away from their defaults, timescale clamps its length
//     ratio to 1/8…4 and its pitch ratio to 1/4…4 so that one call never
//     needs more than cap frames).
//   - process may be called with 0 frames (after a timescale returned none).
package wasm
