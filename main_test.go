package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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

	"github.com/lxzan/gws"

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

// TestTLSLimitsSecretsAndSIGTERM runs the binary with TLS and tight
// connection limits, checks a wss client gets HELLO, that the per-address
// limit answers 503, that SIGTERM exits cleanly, and that no password,
// voice token or session id reached the log.
func TestTLSLimitsSecretsAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	port := freePort(t)
	p := startBinary(t, filepath.Join(dir, "state"), port, "--tls-cert", filepath.Join(dir, "cert.pem"),
		"--tls-key", filepath.Join(dir, "key.pem"), "--max-connections-per-addr", "2")

	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	rec := &recorder{frames: make(chan []byte, 16)}
	h, _, err := gws.NewClient(rec, &gws.ClientOption{
		Addr:          fmt.Sprintf("wss://127.0.0.1:%d/ws", port),
		RequestHeader: http.Header{"Authorization": []string{servertest.Password}},
		TlsConfig:     tlsConf,
	})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	go h.ReadLoop()
	defer h.NetConn().Close()
	first := <-rec.frames
	if !strings.Contains(string(first), `"op":"HELLO"`) {
		t.Fatalf("first wss frame %s", first)
	}
	secretToken, secretSession := "TOKEN-4f1d9c", "SESSION-9a7e2b"
	send := func(v any) {
		b, _ := json.Marshal(v)
		h.WriteMessage(gws.OpcodeText, b)
	}
	send(map[string]any{"op": "IDENTIFY", "d": map[string]any{"user_id": "1"}})
	send(map[string]any{"op": "DISCORD_EVENT", "d": map[string]any{"t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": "2", "channel_id": "3", "user_id": "1", "session_id": secretSession}}})
	send(map[string]any{"op": "DISCORD_EVENT", "d": map[string]any{"t": "VOICE_SERVER_UPDATE",
		"d": map[string]any{"guild_id": "2", "token": secretToken, "endpoint": "127.0.0.1:1"}}})

	// One more connection from this address fits; the third gets 503.
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: false}, Timeout: 5 * time.Second}
	resp, err := tc.Get(fmt.Sprintf("https://127.0.0.1:%d/", port))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("second connection: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // kept alive: two connections are open now
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(raw)
	raw.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.1 503") {
		t.Fatalf("third connection from one address: %q", b)
	}
	tc.CloseIdleConnections()

	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
	logs := p.logs.String()
	for _, secret := range []string{servertest.Password, secretToken, secretSession} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "shutting down") {
		t.Errorf("no graceful shutdown in the log:\n%s", logs)
	}
}

type recorder struct {
	gws.BuiltinEventHandler
	frames chan []byte
}

func (r *recorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	r.frames <- bytes.Clone(m.Bytes())
	m.Close()
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "discodo test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}
