package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/discodo-go/discodo/appliance/server/servertest"
)

var dist string // build.sh's output directory for this test run

func TestMain(m *testing.M) {
	var err error
	if dist, err = os.MkdirTemp("", "discodo-firmware"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dist)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// required reports whether missing tools must fail the tests (CI).
func required() bool { return os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" }

// needTools skips (or, under DISCODO_REQUIRE_INTEROP=1, fails) when a tool
// is not installed.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed (firmware/deps.sh --test installs it)", tool)
			if required() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// crossCompiler is the C cross compiler of each architecture build.sh knows.
var crossCompiler = map[string]string{"amd64": "gcc", "arm64": "aarch64-linux-gnu-gcc", "armhf": "arm-linux-gnueabihf-gcc"}

// qemu is the qemu-user emulator of each ARM architecture ("" runs natively).
var qemu = map[string]string{"amd64": "", "arm64": "qemu-aarch64", "armhf": "qemu-arm"}

type buildResult struct {
	bin  string
	took time.Duration
	err  error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
)

// nodeBinary builds the node for arch with build.sh, once per test run.
func nodeBinary(t *testing.T, arch string) string {
	t.Helper()
	needTools(t, crossCompiler[arch])
	buildMu.Lock()
	defer buildMu.Unlock()
	b, ok := builds[arch]
	if !ok {
		b = &buildResult{bin: filepath.Join(dist, "discodo-linux-"+arch)}
		start := time.Now()
		cmd := exec.Command("../build.sh", arch)
		cmd.Env = append(os.Environ(), "DIST="+dist)
		out, err := cmd.CombinedOutput()
		b.took = time.Since(start)
		if err != nil {
			b.err = fmt.Errorf("build.sh %s: %v\n%s", arch, err, out)
		}
		builds[arch] = b
		t.Logf("build.sh %s: %s", arch, bytes.TrimSpace(out))
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// proc is a running node.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	port int
	url  string
	logs *lockedBuffer
	done chan struct{} // closed when the process exited
	err  error         // Wait's result, once done
}

// start runs the node for arch (under qemu-user for ARM) with a state dir
// and a port; it does not wait for the port.
func start(t *testing.T, arch, stateDir string, port int, env []string, extra ...string) *proc {
	t.Helper()
	bin := nodeBinary(t, arch)
	args := append([]string{"--state-dir", stateDir, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--password", servertest.Password}, extra...)
	var cmd *exec.Cmd
	if q := qemu[arch]; q != "" {
		needTools(t, q)
		cmd = exec.Command(q, append([]string{bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, cmd, port)
}

// startCmd starts a prepared command of the node listening on port.
func startCmd(t *testing.T, cmd *exec.Cmd, port int) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

// waitListening waits until the port accepts connections.
func (p *proc) waitListening(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("the node exited (%v) before listening; log:\n%s", p.err, p.logs)
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatalf("the node did not listen within %s; log:\n%s", timeout, p.logs)
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to 15 s for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("exit after SIGTERM: %v; log:\n%s", p.err, p.logs)
		}
	case <-time.After(15 * time.Second):
		p.kill()
		p.t.Fatalf("no exit within 15 s of SIGTERM; log:\n%s", p.logs)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rest is a REST client of one node process. Unlike servertest.Node.Do it
// returns transport errors: the node may be killed under it.
type rest struct {
	base     string
	header   map[string]string
	password string
	client   *http.Client
}

func newREST(base string, header map[string]string) *rest {
	return &rest{base: base, header: header, password: servertest.Password, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2},
	}}
}

func (r *rest) do(ctx context.Context, method, path, body string) (int, []byte, error) {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", r.password)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, buf.Bytes(), nil
}

func (r *rest) close() { r.client.CloseIdleConnections() }
