package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// binary builds the node once per test binary.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "discodo-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "discodo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a running node binary.
type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
}

func startBinary(t *testing.T, stateDir string, port int, extra ...string) *proc {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--state-dir", stateDir, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--password", servertest.Password, "--log-level", "debug"}, extra...)
	cmd := exec.Command(bin, args...)
	logs := &strings.Builder{}
	cmd.Stderr = &lockedWriter{w: logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: logs}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the node did not listen within 10 s; log:\n%s", logs)
	return nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSIGKILLDuringTrafficKeepsEveryAcknowledgedChange builds the binary,
// kills it with SIGKILL while a client is putting sources, restarts it and
// checks RESUMED and that every acknowledged putSource is in the queue,
// once, in order.
func TestSIGKILLDuringTrafficKeepsEveryAcknowledgedChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	state := t.TempDir()
	port := freePort(t)
	p := startBinary(t, state, port, "--vc-timeout", "60")
	node := servertest.Remote(t, p.url)
	c := node.Dial("")
	c.Identify("4242", nil)
	c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": "77", "channel_id": "88", "user_id": "4242", "session_id": "s"}})
	var created struct{ ID string }
	c.Expect("VC_CREATED").Decode(t, &created)
	h := servertest.VCHeaders("4242", "77", created.ID)

	var acked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tag := fmt.Sprintf("t%04d", i)
			status, _, err := tryDo(p.url, h, `{"source":{"url":"http://x/`+tag+`","tag":"`+tag+`"}}`)
			if err != nil {
				return // the node is gone
			}
			if status == 200 {
				acked = append(acked, tag)
			}
		}
	}()
	time.Sleep(700 * time.Millisecond)
	p.kill()
	close(stop)
	<-done
	if len(acked) < 10 {
		t.Fatalf("only %d putSource acknowledged before the kill", len(acked))
	}

	p = startBinary(t, state, port, "--vc-timeout", "60")
	node = servertest.Remote(t, p.url)
	c = node.Dial("")
	c.Identify("4242", nil)
	if f := c.Expect("RESUMED"); string(f.D) != `{"voice_clients":[["77","88"]]}` {
		t.Fatalf("RESUMED %s", f.D)
	}
	status, body := node.Do(servertest.Request{Method: "GET", Path: "/queue", Header: h})
	if status != 200 {
		t.Fatalf("queue after restart: %d %s", status, body)
	}
	var q struct {
		Entries []struct{ Tag string } `json:"entries"`
	}
	json.Unmarshal(body, &q)
	var tags []string
	for _, e := range q.Entries {
		tags = append(tags, e.Tag)
	}
	// Every acknowledged tag, in order; at most one more (committed, killed
	// before its answer left); no duplicates.
	if len(tags) < len(acked) || len(tags) > len(acked)+1 || !slices.Equal(tags[:len(acked)], acked) {
		t.Fatalf("acknowledged %d, stored %d; first difference around %v / %v", len(acked), len(tags), firstDiff(acked, tags), p.logs)
	}
	t.Logf("%d putSource acknowledged before SIGKILL, all present after restart", len(acked))
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %s vs %s", i, a[i], b[i])
		}
	}
	return "prefix equal"
}

var client = &http.Client{Timeout: 5 * time.Second}

// tryDo posts a putSource and returns the status, or an error when the
// node is unreachable.
func tryDo(base string, h map[string]string, body string) (int, []byte, error) {
	req, _ := http.NewRequest("POST", base+"/putSource", strings.NewReader(body))
	req.Header.Set("Authorization", servertest.Password)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
