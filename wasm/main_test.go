package wasm

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testCacheDir is one compilation cache for the whole test binary, so that
// each guest is compiled once per run.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasm-test-cache-")
	if err != nil {
		panic(err)
	}
	testCacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testHost returns a Host on the shared cache, closed and checked for leaked
// goroutines at the end of the test.
func testHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
	}
	if cfg.CallBudget == 0 {
		// The test machine is shared: a generous budget keeps healthy
		// filters from being stopped by a scheduling hiccup. Tests of
		// the budget set their own.
		cfg.CallBudget = 200 * time.Millisecond
	}
	checkLeaks(t)
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// checkLeaks fails the test if goroutines started during it are still
// running a second after it ended.
func checkLeaks(t testing.TB) {
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(time.Second)
		for {
			var leaked []string
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// goroutines returns the stacks of the running goroutines by their header
// line, leaving out the testing framework's own.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.(*M).") ||
			strings.Contains(g, "testing.tRunner") && strings.Contains(g, "checkLeaks") ||
			strings.Contains(g, "runtime.goexit") && strings.Contains(g, "signal.") {
			continue
		}
		id, _, _ := strings.Cut(header, " [")
		out[id] = g
	}
	return out
}

func newChain(t testing.TB, h *Host, chainJSON string, onError func(string, error)) *Chain {
	t.Helper()
	spec, err := ParseChain([]byte(chainJSON))
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.NewChain(context.Background(), spec, onError)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestSmoke(t *testing.T) {
	h := testHost(t, Config{})
	c := newChain(t, h, `{"volume": {"volume": 0.5}}`, nil)
	pcm := make([]float32, 1920)
	for i := range pcm {
		pcm[i] = 0.5
	}
	out := c.Process(pcm)
	out = c.Process(pcm)
	if len(out) != 1920 || out[100] != 0.25 {
		t.Fatalf("got %d samples, out[100] = %v", len(out), out[100])
	}
}
