package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// manager is the service manager's end: a real unixgram socket.
type manager struct {
	t    *testing.T
	conn *net.UnixConn
	name string
}

func listen(t *testing.T, name string) *manager {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &manager{t: t, conn: conn, name: name}
}

// next returns the next datagram, or "" after d.
func (m *manager) next(d time.Duration) string {
	m.t.Helper()
	buf := make([]byte, 4096)
	m.conn.SetReadDeadline(time.Now().Add(d))
	n, err := m.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		m.t.Fatal(err)
	}
	return string(buf[:n])
}

// drain returns every datagram already queued.
func (m *manager) drain() []string {
	var got []string
	for {
		s := m.next(10 * time.Millisecond)
		if s == "" {
			return got
		}
		got = append(got, s)
	}
}

func TestNotifyPathAndAbstractSockets(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		fmt.Sprintf("@discodo-test-%d-%d", os.Getpid(), time.Now().UnixNano()),
	} {
		m := listen(t, name)
		n, err := New(Config{Socket: name})
		if err != nil {
			t.Fatal(err)
		}
		if !n.Enabled() {
			t.Fatal("not enabled with a socket")
		}
		if err := n.Ready("serving on 127.0.0.1:8000"); err != nil {
			t.Fatal(err)
		}
		if got := m.next(time.Second); got != "READY=1\nSTATUS=serving on 127.0.0.1:8000" {
			t.Errorf("%s: READY datagram %q", name, got)
		}
		n.Status("two\nlines")
		if got := m.next(time.Second); got != "STATUS=two lines" {
			t.Errorf("%s: a newline in STATUS must not start an assignment: %q", name, got)
		}
		n.Stopping("bye")
		if got := m.next(time.Second); got != "STOPPING=1\nSTATUS=bye" {
			t.Errorf("%s: STOPPING datagram %q", name, got)
		}
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, bad := range []string{"vsock:2:1234", "relative/path", "@"} {
		if _, err := New(Config{Socket: bad}); !errors.Is(err, ErrSocketAddress) {
			t.Errorf("New(%q) = %v, want ErrSocketAddress", bad, err)
		}
	}
	// A socket that is gone: an error naming it, no panic.
	n, err := New(Config{Socket: filepath.Join(t.TempDir(), "gone")})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready("x"); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Ready to a missing socket: %v", err)
	}
	// Disabled: nothing happens, nothing fails.
	off, _ := New(Config{})
	if off.Enabled() || off.Ready("x") != nil || off.Watchdog() != 0 {
		t.Error("the zero Config must disable everything")
	}
}

func TestConfigFromEnv(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		env  map[string]string
		want time.Duration
		err  error
	}{
		{map[string]string{}, 0, nil},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, nil},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}, 30 * time.Second, nil},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0, nil}, // not ours
		{map[string]string{"WATCHDOG_USEC": "0"}, 0, ErrWatchdogUsec},
		{map[string]string{"WATCHDOG_USEC": "-5"}, 0, ErrWatchdogUsec},
		{map[string]string{"WATCHDOG_USEC": "30s"}, 0, ErrWatchdogUsec},
		{map[string]string{"WATCHDOG_USEC": "99999999999999999999"}, 0, ErrWatchdogUsec},
	} {
		tc.env["NOTIFY_SOCKET"] = "@x"
		cfg, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
		if !errors.Is(err, tc.err) || cfg.Watchdog != tc.want || cfg.Socket != "@x" {
			t.Errorf("%v: got %v, %v; want %v, %v", tc.env, cfg.Watchdog, err, tc.want, tc.err)
		}
	}
}

// TestWatchdogPetsOnlyWhileHealthy runs the watchdog on the fake clock:
// WatchdogSec=10s, checks every 5 s; the check fails from 22 s to 41 s
// and then hangs once (bounded by 5 s). The datagrams queue in a real
// socket and are read after the bubble ends.
func TestWatchdogPetsOnlyWhileHealthy(t *testing.T) {
	m := listen(t, filepath.Join(t.TempDir(), "notify"))
	var checks []time.Duration
	synctest.Test(t, func(t *testing.T) {
		n, err := New(Config{Socket: m.name, Watchdog: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		healthy := func(ctx context.Context) error {
			at := time.Since(start)
			checks = append(checks, at)
			switch {
			case at > 22*time.Second && at < 41*time.Second:
				return errors.New("the store cannot be read")
			case at == 50*time.Second:
				<-ctx.Done() // a stuck loop: the check times out
				return ctx.Err()
			}
			return nil
		}
		ctx, cancel := context.WithTimeout(t.Context(), 72*time.Second)
		defer cancel()
		if err := n.Run(ctx, healthy); err != nil {
			t.Fatal(err)
		}
	})
	got := m.drain()
	want := []string{
		"WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", // 5, 10, 15, 20 s
		"STATUS=unhealthy: the store cannot be read",  // 25 s; 30, 35, 40 s say nothing more
		"WATCHDOG=1\nSTATUS=serving",                  // 45 s
		"STATUS=unhealthy: context deadline exceeded", // 50 s, answered at 55 s
		"WATCHDOG=1\nSTATUS=serving",                  // the tick at 55 s, pending meanwhile
		"WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1",      // 60, 65, 70 s
	}
	if !slices.Equal(got, want) {
		t.Errorf("datagrams:\n%q\nwant\n%q\nchecks at %v", got, want, checks)
	}
}

// TestWatchdogOffOnlyWaits: without WATCHDOG_USEC, Run never calls the
// check and returns when its context ends.
func TestWatchdogOffOnlyWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := New(Config{Socket: "@unused"})
		var calls atomic.Int32
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		n.Run(ctx, func(context.Context) error { calls.Add(1); return nil })
		if calls.Load() != 0 {
			t.Errorf("%d checks without a watchdog", calls.Load())
		}
	})
}
