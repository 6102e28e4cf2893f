package davetest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// NoLeaks records the number of goroutines now and, when the test ends
// (after every later cleanup), fails it if more remain after a grace
// period. Call it first in a test.
func NoLeaks(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Errorf("%d goroutines leaked:\n%s", n-before, strings.TrimSpace(string(buf)))
		}
	})
}
