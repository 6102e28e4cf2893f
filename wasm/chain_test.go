package wasm

import (
	"context"
	"sync"
	"testing"
)

func TestChainShapes(t *testing.T) {
	h := testHost(t, Config{})
	// The empty chain returns its input.
	empty := newChain(t, h, `{}`, nil)
	in := frameOf(0.3)
	if out := empty.Process(in); &out[0] != &in[0] {
		t.Error("the empty chain copies")
	}

	// Longer inputs go through in pieces of Cap frames; an odd trailing
	// sample is ignored.
	c := newChain(t, h, `{"volume": {"volume": 0.5}}`, nil)
	c.Reset()
	long := make([]float32, (Cap*2+Cap/2)*2+1)
	for i := range long {
		long[i] = float32(i%100) / 100
	}
	out := c.Process(long)
	if len(out) != len(long)-1 {
		t.Fatalf("%d samples out of %d", len(out), len(long))
	}
	for i := range out {
		if out[i] != long[i]*0.5 {
			t.Fatalf("sample %d: %v, want %v", i, out[i], long[i]*0.5)
		}
	}
	if long[0] != 0 || long[1] != 0.01 {
		t.Error("Process changed its input")
	}

	// Reset empties the timescale's buffers: the start latency returns.
	ts := newChain(t, h, `{"timescale": {"speed": 1.5}}`, nil)
	first := len(ts.Process(benchFrame()))
	for range 20 {
		ts.Process(benchFrame())
	}
	ts.Reset()
	if n := len(ts.Process(benchFrame())); n != first {
		t.Errorf("after Reset the timescale gave %d samples, %d at the start", n, first)
	}
}

// TestProcessAllocations checks the 20 ms path allocates nothing for the
// built-ins, and bounds what wazero allocates for an untrusted call (its
// watcher goroutine and channel, see "Why two kinds of runtime").
func TestProcessAllocations(t *testing.T) {
	h := testHost(t, Config{})
	if _, err := h.Register(context.Background(), "gain", module(t, "gain")); err != nil {
		t.Fatal(err)
	}
	in := benchFrame()
	for _, tc := range []struct {
		chain string
		max   float64
	}{
		{`{"equalizer": {"gains": [0.1, 0.2]}, "timescale": {"speed": 1.1}, "volume": {"volume": 0.9}, "rotation": {"rotationHz": 0.2}}`, 0},
		{`{"gain": {"gain": 0.5}}`, 4},
	} {
		c := newChain(t, h, tc.chain, nil)
		c.Process(in)
		allocs := testing.AllocsPerRun(100, func() { c.Process(in) })
		if h.interpreter {
			// wazero's interpreter (32-bit ARM) allocates per call.
			t.Logf("%s: %v allocations per frame with the interpreter", tc.chain, allocs)
			continue
		}
		if allocs > tc.max {
			t.Errorf("%s: %v allocations per frame, want at most %v", tc.chain, allocs, tc.max)
		}
	}
}

// TestConcurrentRegistry runs a chain while other goroutines register,
// replace and remove the module it uses and build other chains (run it with
// -race).
func TestConcurrentRegistry(t *testing.T) {
	h := testHost(t, Config{})
	ctx := context.Background()
	gain := module(t, "gain")
	variants := [][]byte{gain, withCustomSection(gain, "b", 1), withCustomSection(gain, "c", 2)}
	if _, err := h.Register(ctx, "gain", gain); err != nil {
		t.Fatal(err)
	}
	c := newChain(t, h, `{"gain": {"gain": 0.5}, "volume": {"volume": 1}}`, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%5 == 4 {
				h.Remove(ctx, "gain")
			} else if _, err := h.Register(ctx, "gain", variants[i%3]); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		spec, _ := ParseChain([]byte(`{"volume": {"volume": 2}}`))
		for {
			select {
			case <-stop:
				return
			default:
			}
			other, err := h.NewChain(ctx, spec, nil)
			if err != nil {
				t.Error(err)
				return
			}
			other.Process(frameOf(0.1))
			other.Close(ctx)
		}
	})
	in := frameOf(0.5)
	for range 300 {
		out := c.Process(in)
		if len(out) != len(in) || out[0] != 0.25 && out[0] != 0.5 {
			t.Fatalf("%d samples, %v", len(out), out[0])
		}
	}
	close(stop)
	wg.Wait()
}
