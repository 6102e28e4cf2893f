package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errorLog records a chain's onError calls.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(filter string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Errorf("%s: %w", filter, err))
}

func (l *errorLog) get() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// healthyPlayer runs a chain of a built-in and the WAT gain on its own
// goroutine, checking every frame, until stop is closed. It stands for the
// other players of the node.
type healthyPlayer struct {
	frames atomic.Int64
	bad    atomic.Value // string
	done   chan struct{}
}

func startHealthyPlayer(t *testing.T, h *Host, stop <-chan struct{}) *healthyPlayer {
	t.Helper()
	c := newChain(t, h, `{"volume": {"volume": 0.5}, "gain": {"gain": 2}}`, func(f string, err error) {
		t.Errorf("the healthy player's %s failed: %v", f, err)
	})
	p := &healthyPlayer{done: make(chan struct{})}
	in := frameOf(0.25)
	c.Process(in) // the volume ramp
	go func() {
		defer close(p.done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			out := c.Process(in)
			if len(out) != len(in) || out[0] != 0.25 || out[len(out)-1] != 0.25 {
				p.bad.Store(fmt.Sprintf("%d samples, %v … %v", len(out), out[0], out[len(out)-1]))
			}
			p.frames.Add(1)
			if p.frames.Load()%50 == 0 {
				runtime.GC() // a stop-the-world must not wait for a runaway guest
			}
		}
	}()
	return p
}

func TestHostileProcess(t *testing.T) {
	// The budget is shared with the healthy player, on a shared machine:
	// 100 ms, not the default 2 ms (1 s under the race detector).
	budget := 100 * time.Millisecond
	if raceEnabled {
		budget = time.Second
	}
	h := testHost(t, Config{CallBudget: budget})
	ctx := context.Background()
	for _, name := range []string{"hostile", "gain"} {
		if _, err := h.Register(ctx, name, module(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	healthy := startHealthyPlayer(t, h, stop)
	defer func() {
		close(stop)
		<-healthy.done
		if bad := healthy.bad.Load(); bad != nil {
			t.Errorf("the healthy player heard %v, want 0.25", bad)
		}
	}()

	for _, tc := range []struct {
		mode int
		err  error
		says string
	}{
		{1, ErrBudget, "ran over " + budget.String()},
		{2, nil, ""}, // see TestMemoryBomb
		{3, ErrTrap, "unreachable"},
		{4, ErrTrap, "out of bounds"},
		{5, ErrBadReturn, "process returned -1"},
		{6, ErrBadReturn, "process returned 3841"},
		{7, ErrTrap, "exited with code 3"},
		{9, ErrTrap, "stack overflow"},
	} {
		var log errorLog
		// The hostile filter sits between two built-ins: they go on.
		c := newChain(t, h, fmt.Sprintf(`[{"name": "volume", "params": {"volume": 2}}, {"name": "hostile", "params": {"mode": %d}}, {"name": "volume", "params": {"volume": 0.5}}]`, tc.mode), log.add)
		c.Reset() // no ramps
		before := healthy.frames.Load()
		start := time.Now()
		in := frameOf(0.1)
		out := c.Process(in)
		elapsed := time.Since(start)
		for range 3 {
			if len(out) != len(in) || out[0] != 0.1 || out[len(out)-1] != 0.1 {
				t.Fatalf("mode %d: %d samples, %v … %v, want the input through the built-ins", tc.mode, len(out), out[0], out[len(out)-1])
			}
			out = c.Process(in)
		}
		errs := log.get()
		if tc.err == nil { // a trap or an overrun, as the machine goes
			if len(errs) != 1 || !errors.Is(errs[0], ErrTrap) && !errors.Is(errs[0], ErrBudget) {
				t.Errorf("mode %d: errors %v, want a trap or an overrun", tc.mode, errs)
			}
		} else if len(errs) != 1 || !errors.Is(errs[0], tc.err) || !strings.Contains(errs[0].Error(), tc.says) || !strings.HasPrefix(errs[0].Error(), "hostile: ") {
			t.Errorf("mode %d: errors %v, want one %v saying %q", tc.mode, errs, tc.err, tc.says)
		}
		if tc.mode == 1 {
			if elapsed > budget+time.Second {
				t.Errorf("the infinite loop was stopped after %v (budget %v)", elapsed, budget)
			}
			if n := healthy.frames.Load() - before; n == 0 {
				t.Errorf("the healthy player processed nothing while the loop ran (%v)", elapsed)
			}
		}
		c.Close(ctx)
	}
	if healthy.frames.Load() == 0 {
		t.Error("the healthy player never ran")
	}
}

func TestMemoryBomb(t *testing.T) {
	// The bomb grows its memory 1 MiB at a time until memory.grow fails at
	// the limit, then traps. Growing copies the memory each time, which
	// may take longer than 20 ms: here the budget is large enough to
	// reach the limit.
	h := testHost(t, Config{CallBudget: 5 * time.Second, MaxMemoryPages: 64})
	if _, err := h.Register(context.Background(), "hostile", module(t, "hostile")); err != nil {
		t.Fatal(err)
	}
	var log errorLog
	c := newChain(t, h, `{"hostile": {"mode": 2}}`, log.add)
	mem := c.slots[0].in.mem
	if out := c.Process(frameOf(0.1)); out[0] != 0.1 {
		t.Errorf("after the bomb: %v", out[0])
	}
	if errs := log.get(); len(errs) != 1 || !errors.Is(errs[0], ErrTrap) || !strings.Contains(errs[0].Error(), "unreachable") {
		t.Errorf("memory bomb: %v, want a trap at unreachable", errs)
	}
	if pages := mem.Size() / 65536; pages > 64 {
		t.Errorf("the bomb reached %d pages, the limit is 64", pages)
	}
}

func TestHostileCalls(t *testing.T) {
	h := testHost(t, Config{CallBudget: 20 * time.Millisecond})
	ctx := context.Background()
	if _, err := h.Register(ctx, "hostile", module(t, "hostile")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		chain string
		err   error
	}{
		{`{"hostile": {"mode": 12}}`, ErrBudget},    // set_param loops
		{`{"hostile": {"mode": 13}}`, ErrBadReturn}, // set_param returns 7
		{`{"hostile": {"mode": 99}}`, ErrParamRange},
		{`{"hostile": {"mood": 1}}`, ErrUnknownParam},
	} {
		spec, err := ParseChain([]byte(tc.chain))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = h.NewChain(ctx, spec, nil)
		if pe, ok := errors.AsType[*ParamError](err); !ok || pe.Filter != "hostile" || !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want a ParamError of hostile: %v", tc.chain, err, tc.err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v", tc.chain, d)
		}
	}

	// reset loops: Reset stops it and bypasses the filter.
	var log errorLog
	c := newChain(t, h, `{"hostile": {"mode": 11}}`, log.add)
	c.Reset()
	if out := c.Process(frameOf(0.3)); out[0] != 0.3 {
		t.Errorf("after the reset loop: %v", out[0])
	}
	if errs := log.get(); len(errs) != 1 || !errors.Is(errs[0], ErrBudget) {
		t.Errorf("reset loop: %v", errs)
	}
}

func TestSlowBuiltinBypassed(t *testing.T) {
	// A built-in cannot be stopped mid-call; one that is too slow for the
	// machine, call after call, is bypassed after slowLimit calls.
	h := testHost(t, Config{CallBudget: time.Nanosecond})
	var log errorLog
	c := newChain(t, h, `{"equalizer": {"gains": [0.1]}}`, log.add)
	in := benchFrame()
	for i := 1; i < slowLimit; i++ {
		c.Process(in)
	}
	if errs := log.get(); len(errs) != 0 {
		t.Fatalf("bypassed before %d slow calls: %v", slowLimit, errs)
	}
	c.Process(in)
	if errs := log.get(); len(errs) != 1 || !errors.Is(errs[0], ErrBudget) || !strings.Contains(errs[0].Error(), "too slow") {
		t.Errorf("after %d slow calls: %v", slowLimit, errs)
	}
	if out := c.Process(in); &out[0] != &in[0] {
		t.Error("the bypassed chain does not pass the input through")
	}
}

// logCapture is a slog.Handler that keeps the records.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCapture) WithGroup(string) slog.Handler            { return l }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	return nil
}

func (l *logCapture) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func TestGuestOutputLogged(t *testing.T) {
	var logs logCapture
	h := testHost(t, Config{Logger: slog.New(&logs)})
	if _, err := h.Register(context.Background(), "hostile", module(t, "hostile")); err != nil {
		t.Fatal(err)
	}
	c := newChain(t, h, `{"hostile": {"mode": 8}}`, func(f string, err error) { t.Errorf("%s: %v", f, err) })
	for range 200 {
		if out := c.Process(frameOf(0.1)); out[0] != 0.1 {
			t.Fatalf("mode 8 changed the audio: %v", out[0])
		}
	}
	n := logs.count("line=hello from hostile.wat")
	if n < 1 || n > lineBurst+2 {
		t.Errorf("%d of 200 guest lines logged, want 1…%d (rate-limited)", n, lineBurst+2)
	}
	if logs.count("filter=hostile") != n {
		t.Errorf("guest lines do not name the filter")
	}
}
