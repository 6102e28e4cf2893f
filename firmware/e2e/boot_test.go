package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// TestCorruptStoreAtBoot boots the node on an unreadable discodo.db: a
// file of random bytes, a real store with torn meta pages, and one cut
// short with intact meta pages (on which bbolt alone faults), as a power
// cut during a copy or a failing SD card leaves them. The node must log
// loudly, move the file aside untouched, serve with no sessions, and on
// the next start keep what it stored since — no crash loop.
func TestCorruptStoreAtBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	garbage := make([]byte, 64<<10)
	rand.Read(garbage)
	cases := map[string]func(t *testing.T) []byte{
		"garbage":   func(*testing.T) []byte { return garbage },
		"torn":      func(t *testing.T) []byte { return tornStore(t, true) },
		"truncated": func(t *testing.T) []byte { return tornStore(t, false) },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			state, port := t.TempDir(), freePort(t)
			dbPath := filepath.Join(state, "discodo.db")
			bad := corrupt(t)
			if err := os.WriteFile(dbPath, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			p := start(t, "amd64", state, port, nil)
			p.waitListening(10 * time.Second)
			if !strings.Contains(p.logs.String(), loudStoreLog) {
				t.Fatalf("no loud log about the unreadable store:\n%s", p.logs)
			}
			for line := range strings.Lines(p.logs.String()) {
				if strings.Contains(line, loudStoreLog) {
					t.Logf("%s", strings.TrimSpace(line))
				}
			}
			aside, _ := filepath.Glob(dbPath + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files %v", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, bad) {
				t.Errorf("the moved-aside file differs from the corrupt store (%d bytes, was %d)", len(kept), len(bad))
			}
			// Serving, with no sessions, and storing again.
			c := servertest.Remote(t, p.url).Dial("")
			c.Identify("4242", nil)
			c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
				"d": map[string]any{"guild_id": "77", "channel_id": "88", "user_id": "4242", "session_id": "s"}})
			var created struct{ ID string }
			c.Expect("VC_CREATED").Decode(t, &created)
			r := newREST(p.url, servertest.VCHeaders("4242", "77", created.ID))
			defer r.close()
			if status, body, err := r.do(t.Context(), "POST", "/putSource", `{"source":{"url":"http://127.0.0.1:9/a.ogg","tag":"after"}}`); err != nil || status != 200 {
				t.Fatalf("putSource on the fresh store: %d %s %v", status, body, err)
			}
			c.Close()
			p.stop()
			checkStore(t, dbPath)

			// The next boot finds a good store: nothing moved, the session back.
			p = start(t, "amd64", state, port, nil)
			p.waitListening(10 * time.Second)
			c = servertest.Remote(t, p.url).Dial("")
			c.Send("IDENTIFY", map[string]any{"user_id": "4242"})
			if f := c.Expect("RESUMED"); !strings.Contains(string(f.D), `"77"`) {
				t.Errorf("RESUMED after the second boot: %s", f.D)
			}
			if got, err := observe(t.Context(), newREST(p.url, servertest.VCHeaders("4242", "77", created.ID))); err != nil || len(got.queue) != 1 || got.queue[0] != "after" {
				t.Errorf("queue after the second boot: %v %v", got, err)
			}
			if strings.Contains(p.logs.String(), loudStoreLog) {
				t.Errorf("the second boot moved the store aside again:\n%s", p.logs)
			}
			if again, _ := filepath.Glob(dbPath + ".corrupt-*"); len(again) != 1 {
				t.Errorf("moved-aside files after the second boot: %v", again)
			}
			c.Close()
			p.stop()
		})
	}
}

// tornStore makes a real store with sessions and queues, then cuts the
// file in the middle of its data pages and, with metas, overwrites part of
// both meta pages, as a torn write leaves them.
func tornStore(t *testing.T, metas bool) []byte {
	t.Helper()
	state, port := t.TempDir(), freePort(t)
	p := start(t, "amd64", state, port, nil)
	p.waitListening(10 * time.Second)
	c := servertest.Remote(t, p.url).Dial("")
	c.Identify("1", nil)
	c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": "2", "channel_id": "3", "user_id": "1", "session_id": "s"}})
	var created struct{ ID string }
	c.Expect("VC_CREATED").Decode(t, &created)
	r := newREST(p.url, servertest.VCHeaders("1", "2", created.ID))
	for i := range 200 {
		body := fmt.Sprintf(`{"source":{"url":"http://127.0.0.1:9/%d.ogg","tag":"t%d","title":%q}}`, i, i, strings.Repeat("x", 200))
		if status, b, err := r.do(t.Context(), "POST", "/putSource", body); err != nil || status != 200 {
			t.Fatalf("putSource: %d %s %v", status, b, err)
		}
	}
	r.close()
	c.Close()
	p.stop()
	b, err := os.ReadFile(filepath.Join(state, "discodo.db"))
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's pages are 4 KiB here: pages 0 and 1 are the meta pages.
	// Overwrite both (a torn first sector of each) and cut the tail.
	if len(b) < 4*4096 {
		t.Fatalf("the store is only %d bytes", len(b))
	}
	b = b[:len(b)/2+123]
	for _, off := range []int{0, 4096} {
		if metas {
			copy(b[off+16:off+80], bytes.Repeat([]byte{0xA5}, 64))
		}
	}
	return b
}

// notifyListener is systemd's end of $NOTIFY_SOCKET.
type notifyListener struct {
	conn *net.UnixConn
	buf  []byte
}

func listenNotify(t *testing.T, name string) *notifyListener {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifyListener{conn: conn, buf: make([]byte, 4096)}
}

// next returns the next datagram or "" after d.
func (l *notifyListener) next(t *testing.T, d time.Duration) string {
	t.Helper()
	l.conn.SetReadDeadline(time.Now().Add(d))
	n, err := l.conn.Read(l.buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(l.buf[:n])
}

// TestNotifySystemd plays systemd for a Type=notify service with
// WatchdogSec=0.4s, on a socket path and on an abstract socket: READY=1
// must come only once the port serves HTTP, WATCHDOG=1 every 0.2 s, and
// STOPPING=1 on SIGTERM before a clean exit. A NOTIFY_SOCKET the node
// cannot use is logged and the node serves anyway.
func TestNotifySystemd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, name := range []string{"path", "abstract"} {
		t.Run(name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "notify")
			if name == "abstract" {
				sock = fmt.Sprintf("@discodo-firmware-test-%d-%d", os.Getpid(), time.Now().UnixNano())
			}
			sd := listenNotify(t, sock)
			state, port := t.TempDir(), freePort(t)
			p := start(t, "amd64", state, port, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"})
			ready := sd.next(t, 10*time.Second)
			if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=serving on 127.0.0.1:") {
				t.Fatalf("first notification %q; log:\n%s", ready, p.logs)
			}
			// Serving at READY: an HTTP request answers at once.
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(p.url + "/")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET / right after READY=1: %v %v", resp, err)
			}
			resp.Body.Close()
			var pets int
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				switch m := sd.next(t, time.Until(deadline)); m {
				case "WATCHDOG=1":
					pets++
				case "":
				default:
					t.Errorf("unexpected notification %q", m)
				}
			}
			if pets < 3 || pets > 6 {
				t.Errorf("%d WATCHDOG=1 in 1 s with WatchdogSec=0.4s (want about 5)", pets)
			}
			p.stop()
			var stopping bool
			for m := sd.next(t, time.Second); m != ""; m = sd.next(t, 100*time.Millisecond) {
				if strings.HasPrefix(m, "STOPPING=1\n") {
					stopping = true
				}
			}
			if !stopping {
				t.Errorf("no STOPPING=1 at SIGTERM")
			}
		})
	}
	t.Run("unusable socket", func(t *testing.T) {
		state, port := t.TempDir(), freePort(t)
		p := start(t, "amd64", state, port, []string{"NOTIFY_SOCKET=vsock:2:9999", "WATCHDOG_USEC=junk"})
		p.waitListening(10 * time.Second)
		p.stop()
		for _, want := range []string{"not notifying systemd", "the systemd watchdog is off"} {
			if !strings.Contains(p.logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, p.logs)
			}
		}
	})
}
