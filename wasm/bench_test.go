package wasm

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// benchParams are the parameters each built-in is benchmarked with: typical
// settings that exercise the whole filter (every equalizer band on).
var benchParams = map[string]string{
	"volume":     `{"volume": 0.8}`,
	"equalizer":  `{"gains": [0.2, 0.15, 0.1, 0.05, 0.02, -0.05, -0.1, -0.1, -0.05, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25]}`,
	"karaoke":    `{"level": 1, "monoLevel": 1, "filterBand": 220, "filterWidth": 100}`,
	"timescale":  `{"speed": 1.25, "pitch": 1.1}`,
	"tremolo":    `{"frequency": 4, "depth": 0.5}`,
	"vibrato":    `{"frequency": 4, "depth": 0.5}`,
	"rotation":   `{"rotationHz": 0.2}`,
	"distortion": `{"sinOffset": 0, "sinScale": 1.2, "cosOffset": 0.1, "cosScale": 1, "tanOffset": 0, "tanScale": 1, "offset": 0, "scale": 1}`,
	"channelMix": `{"leftToLeft": 0.5, "leftToRight": 0.5, "rightToLeft": 0.5, "rightToRight": 0.5}`,
	"lowPass":    `{"smoothing": 20}`,
}

// benchFrame is one 20 ms frame of a music-like signal.
func benchFrame() []float32 {
	x := tones(frame, 0.1, 110, 440, 1234, 5000)
	y := tones(frame, 0.1, 220, 660, 2345, 7000)
	return stereo(x, y)
}

// BenchmarkBuiltin measures one 20 ms stereo frame through each built-in:
//
//	native   the DSP code compiled for the host
//	wasm     the node's path: a chain of the shipped module (compiler
//	         engine, no termination checks), copies in and out included
//	checked  the same module compiled with wazero's termination checks, as
//	         uploads are (what "Why two kinds of runtime" decided against)
//	interp   the interpreter, as on 32-bit ARM (volume and equalizer only)
func BenchmarkBuiltin(b *testing.B) {
	ctx := context.Background()
	h := testHost(b, Config{CallBudget: time.Second})
	checked, err := newHost(ctx, Config{CacheDir: testCacheDir, CallBudget: time.Second}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer checked.Close(ctx)
	interp, err := New(ctx, Config{CallBudget: time.Second, Interpreter: true})
	if err != nil {
		b.Fatal(err)
	}
	defer interp.Close(ctx)
	in := benchFrame()
	for _, name := range dsp.Names {
		chain := `{"` + name + `": ` + benchParams[name] + `}`
		b.Run(name+"/native", func(b *testing.B) {
			spec, err := ParseChain([]byte(chain))
			if err != nil {
				b.Fatal(err)
			}
			f := dsp.New(name)
			for _, p := range spec.Filters[0].Params {
				f.SetParam(p.Name, p.Value)
			}
			buf := make([]float32, Cap*2)
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, in)
				f.Process(buf, frame, 2, Rate, Cap)
			}
		})
		hosts := []struct {
			kind string
			h    *Host
		}{{"wasm", h}, {"checked", checked}}
		if name == "volume" || name == "equalizer" {
			hosts = append(hosts, struct {
				kind string
				h    *Host
			}{"interp", interp})
		}
		for _, hk := range hosts {
			b.Run(name+"/"+hk.kind, func(b *testing.B) {
				c := newChain(b, hk.h, chain, func(f string, err error) { b.Fatal(err) })
				b.ReportAllocs()
				for b.Loop() {
					c.Process(in)
				}
			})
		}
	}
}

// BenchmarkCall measures a bare process call (0 frames):
//
//	builtin        a Go guest, trusted runtime
//	wat-trusted    the hand-written gain.wasm in a trusted runtime: wazero's
//	               own cost of a call
//	wat-sandboxed  the same module as an upload: termination checks, the
//	               host's watchdog timer and wazero's watcher goroutine
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	h := testHost(b, Config{CallBudget: time.Second})
	gain := module(b, "gain")
	trusted, err := h.compile(ctx, gain, sha256.Sum256(gain), "", false, true)
	if err != nil {
		b.Fatal(err)
	}
	defer trusted.close(ctx)
	if _, err := h.Register(ctx, "gain", gain); err != nil {
		b.Fatal(err)
	}
	sandboxed, _ := h.acquire(ctx, "gain")
	defer h.release(sandboxed)
	for _, tc := range []struct {
		name   string
		e      *entry
		filter string
	}{{"builtin", mustBuiltins(b, h), "volume"}, {"wat-trusted", trusted, "gain"}, {"wat-sandboxed", sandboxed, "gain"}} {
		b.Run(tc.name, func(b *testing.B) {
			in, err := h.start(ctx, tc.e, FilterSpec{Name: tc.filter})
			if err != nil {
				b.Fatal(err)
			}
			defer in.close(ctx)
			b.ReportAllocs()
			for b.Loop() {
				in.stack[0], in.stack[1], in.stack[2], in.stack[3], in.stack[4] = uint64(in.audio), 0, Channels, Rate, Cap
				if err := in.call(in.processFn, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUploadedFrame is one 20 ms frame through the hand-written gain
// filter as an upload: the whole untrusted path.
func BenchmarkUploadedFrame(b *testing.B) {
	h := testHost(b, Config{CallBudget: time.Second})
	if _, err := h.Register(context.Background(), "gain", module(b, "gain")); err != nil {
		b.Fatal(err)
	}
	c := newChain(b, h, `{"gain": {"gain": 0.5}}`, nil)
	in := benchFrame()
	b.ReportAllocs()
	for b.Loop() {
		c.Process(in)
	}
}

// BenchmarkNewChain measures building (and closing) a chain of three
// built-ins: what an option change costs before it is heard.
func BenchmarkNewChain(b *testing.B) {
	h := testHost(b, Config{})
	spec, err := ParseChain([]byte(`{"equalizer": ` + benchParams["equalizer"] + `, "timescale": {"speed": 1.2}, "volume": {"volume": 0.8}}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := h.NewChain(ctx, spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.Close(ctx)
	}
}

// BenchmarkNew measures loading the built-ins: "cold" compiles them (first
// start), "cached" loads them from the compilation cache (every restart).
func BenchmarkNew(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		dir  string
	}{{"cold", ""}, {"cached", testCacheDir}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				h, err := New(ctx, Config{CacheDir: tc.dir})
				if err != nil {
					b.Fatal(err)
				}
				h.Close(ctx)
			}
		})
	}
}

func mustBuiltins(tb testing.TB, h *Host) *entry {
	e, err := h.builtins(context.Background(), guestModule)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
