package davetest

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// Sidecar is a node.js process running testdata/peer.mjs: ts-mls as the
// external sender and @snazzah/davey as DAVE members, driven with one JSON
// request per line. Calls are serialised.
type Sidecar struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader

	mu     sync.Mutex
	nextID int
}

// TestdataDir is the dave package's testdata directory (where package.json
// and node_modules live).
func TestdataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// NeedSidecar starts the sidecar for a test, or skips the test when node
// or the npm packages are missing, unless DISCODO_REQUIRE_INTEROP is set.
func NeedSidecar(tb testing.TB) *Sidecar {
	tb.Helper()
	missing := func(what string) {
		tb.Helper()
		if os.Getenv("DISCODO_REQUIRE_INTEROP") != "" {
			tb.Fatalf("interop: %s (DISCODO_REQUIRE_INTEROP is set)", what)
		}
		tb.Skipf("interop: %s; run npm ci in %s", what, TestdataDir())
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node is not installed")
	}
	for _, p := range []string{"@snazzah/davey", "ts-mls", "@noble/curves"} {
		if _, err := os.Stat(filepath.Join(TestdataDir(), "node_modules", p)); err != nil {
			missing("npm package " + p + " is not installed")
		}
	}
	s, err := StartSidecar()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// StartSidecar starts node on peer.mjs.
func StartSidecar() (*Sidecar, error) {
	cmd := exec.Command("node", "peer.mjs")
	cmd.Dir = TestdataDir()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("davetest: starting node: %w", err)
	}
	return &Sidecar{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// Call sends one command and decodes the answer into out (may be nil).
func (s *Sidecar) Call(cmd string, args map[string]any, out any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	req := map[string]any{"id": s.nextID, "cmd": cmd}
	for k, v := range args {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := s.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("davetest: sidecar %s: %w", cmd, err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("davetest: sidecar %s: %w", cmd, err)
	}
	var res struct {
		ID    int    `json:"id"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return fmt.Errorf("davetest: sidecar %s: %w: %.200s", cmd, err, line)
	}
	if res.ID != s.nextID {
		return fmt.Errorf("davetest: sidecar answered %d to request %d", res.ID, s.nextID)
	}
	if res.Error != "" {
		return &SidecarError{Cmd: cmd, Msg: res.Error}
	}
	if out != nil {
		return json.Unmarshal(line, out)
	}
	return nil
}

// SidecarError is an exception thrown in the sidecar.
type SidecarError struct{ Cmd, Msg string }

func (e *SidecarError) Error() string { return "davetest: sidecar " + e.Cmd + ": " + e.Msg }

// Close ends the process and waits for it.
func (s *Sidecar) Close() error {
	err := s.in.Close()
	return errors.Join(err, s.cmd.Wait())
}

// Hex is a byte string that travels as hex.
type Hex []byte

func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// TSSigner is the external sender signed by ts-mls in the sidecar.
type TSSigner struct {
	sc  *Sidecar
	ext []byte
}

// NewTSSigner makes the sidecar generate an external sender key.
func NewTSSigner(sc *Sidecar) (*TSSigner, error) {
	var r struct{ ExternalSender Hex }
	if err := sc.Call("signer.init", nil, &r); err != nil {
		return nil, err
	}
	return &TSSigner{sc: sc, ext: r.ExternalSender}, nil
}

// ExternalSender returns op 25's body.
func (s *TSSigner) ExternalSender() []byte { return s.ext }

// Propose has ts-mls sign the proposals and compute their refs.
func (s *TSSigner) Propose(groupID []byte, epoch uint64, specs []ProposalSpec) (msgs, refs [][]byte, err error) {
	var ps []map[string]any
	for _, sp := range specs {
		if sp.KeyPackage != nil {
			ps = append(ps, map[string]any{"keyPackage": hex.EncodeToString(sp.KeyPackage)})
		} else {
			ps = append(ps, map[string]any{"remove": sp.Remove})
		}
	}
	var r struct{ Messages, Refs []Hex }
	if err := s.sc.Call("signer.propose", map[string]any{"groupId": hex.EncodeToString(groupID), "epoch": epoch, "proposals": ps}, &r); err != nil {
		return nil, nil, err
	}
	for i := range r.Messages {
		msgs = append(msgs, r.Messages[i])
		refs = append(refs, r.Refs[i])
	}
	return msgs, refs, nil
}

// DaveyMember is a DAVE member implemented by davey in the sidecar,
// following the gateway like @discordjs/voice's DAVESession does. Its
// goroutine handles the gateway's messages in order.
type DaveyMember struct {
	UserID uint64
	sc     *Sidecar
	gw     *Gateway
	name   string
	known  map[string]bool

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []queued
	busy   bool
	closed bool
	errs   []error
	done   chan struct{}
}

// NewDaveyMember creates a davey session for user and connects it.
func NewDaveyMember(sc *Sidecar, gw *Gateway, user uint64) (*DaveyMember, error) {
	d := &DaveyMember{UserID: user, sc: sc, gw: gw, name: "u" + strconv.FormatUint(user, 10), known: map[string]bool{}, done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	var r struct{ KeyPackage Hex }
	if err := sc.Call("member.new", d.ids(), &r); err != nil {
		return nil, err
	}
	go d.run()
	if err := gw.Connect(user, d); err != nil {
		d.Close()
		return nil, err
	}
	if err := gw.ClientOp(user, 26, r.KeyPackage); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DaveyMember) ids() map[string]any {
	return map[string]any{"name": d.name, "userId": strconv.FormatUint(d.UserID, 10), "channelId": strconv.FormatUint(d.gw.cfg.ChannelID, 10)}
}

func (d *DaveyMember) push(op int, body []byte) {
	d.mu.Lock()
	d.queue = append(d.queue, queued{op, body})
	d.cond.Signal()
	d.mu.Unlock()
}

// SendJSON implements Peer.
func (d *DaveyMember) SendJSON(op int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d.push(op, b)
	return nil
}

// SendBinary implements Peer.
func (d *DaveyMember) SendBinary(op int, body []byte) error {
	d.push(op, append([]byte(nil), body...))
	return nil
}

func (d *DaveyMember) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if d.closed {
			d.mu.Unlock()
			return
		}
		q := d.queue[0]
		d.queue = d.queue[1:]
		d.busy = true
		d.mu.Unlock()
		err := d.handle(q.op, q.body)
		d.mu.Lock()
		if err != nil {
			d.errs = append(d.errs, fmt.Errorf("op %d: %w", q.op, err))
		}
		d.busy = false
		d.mu.Unlock()
		d.gw.mu.Lock()
		d.gw.notify()
		d.gw.mu.Unlock()
	}
}

func (d *DaveyMember) call(cmd string, args map[string]any, out any) error {
	a := map[string]any{"name": d.name}
	for k, v := range args {
		a[k] = v
	}
	return d.sc.Call(cmd, a, out)
}

// recover is what @discordjs/voice does after a failed commit or
// welcome: op 31, then a new key package.
func (d *DaveyMember) recover(tid int) error {
	if err := d.gw.ClientOp(d.UserID, 31, []byte(`{"transition_id":`+strconv.Itoa(tid)+`}`)); err != nil {
		return err
	}
	return d.reinit()
}

func (d *DaveyMember) reinit() error {
	var r struct{ KeyPackage Hex }
	if err := d.sc.Call("member.reinit", d.ids(), &r); err != nil {
		return err
	}
	return d.gw.ClientOp(d.UserID, 26, r.KeyPackage)
}

func (d *DaveyMember) ready(tid int) error {
	if tid == 0 {
		return nil
	}
	return d.gw.ClientOp(d.UserID, 23, []byte(`{"transition_id":`+strconv.Itoa(tid)+`}`))
}

func (d *DaveyMember) handle(op int, body []byte) error {
	switch op {
	case 11:
		var v struct {
			UserIDs []string `json:"user_ids"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		for _, u := range v.UserIDs {
			d.known[u] = true
		}
	case 13:
		var v struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		delete(d.known, v.UserID)
	case 21:
		var v struct {
			TID     int `json:"transition_id"`
			Version int `json:"protocol_version"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		if v.Version == 0 {
			if err := d.call("member.passthrough", map[string]any{"on": true}, nil); err != nil {
				return err
			}
		}
		return d.ready(v.TID)
	case 24:
		return d.reinit()
	case 25:
		return d.call("member.externalSender", map[string]any{"data": hex.EncodeToString(body)}, nil)
	case 27:
		known := []string{strconv.FormatUint(d.UserID, 10)}
		for u := range d.known {
			known = append(known, u)
		}
		var r struct{ Commit, Welcome Hex }
		if err := d.call("member.proposals", map[string]any{"op": int(body[0]), "data": hex.EncodeToString(body[1:]), "recognized": known}, &r); err != nil {
			return err
		}
		if len(r.Commit) > 0 {
			return d.gw.ClientOp(d.UserID, 28, append(r.Commit, r.Welcome...))
		}
	case 29, 30:
		tid := int(body[0])<<8 | int(body[1])
		cmd := "member.commit"
		if op == 30 {
			cmd = "member.welcome"
		}
		if err := d.call(cmd, map[string]any{"data": hex.EncodeToString(body[2:])}, nil); err != nil {
			var se *SidecarError
			if errors.As(err, &se) {
				d.gw.cfg.Logf("davetest: davey %d refused op %d: %v", d.UserID, op, err)
				return d.recover(tid)
			}
			return err
		}
		return d.ready(tid)
	}
	return nil
}

// Decrypt has davey decrypt a frame sent by user.
func (d *DaveyMember) Decrypt(user uint64, frame []byte) ([]byte, error) {
	var r struct{ Opus Hex }
	err := d.call("member.decrypt", map[string]any{"userId": strconv.FormatUint(user, 10), "frame": hex.EncodeToString(frame)}, &r)
	return r.Opus, err
}

// Encrypt has davey encrypt an Opus frame.
func (d *DaveyMember) Encrypt(opus []byte) ([]byte, error) {
	var r struct{ Frame Hex }
	err := d.call("member.encrypt", map[string]any{"opus": hex.EncodeToString(opus)}, &r)
	return r.Frame, err
}

// DaveyStatus is what davey reports about its session.
type DaveyStatus struct {
	Epoch         int64
	Status        int
	Ready         bool
	Leaf          int64
	UserIDs       []string
	Authenticator Hex
}

// Status asks davey for its session state.
func (d *DaveyMember) Status() (DaveyStatus, error) {
	var s DaveyStatus
	err := d.call("member.status", nil, &s)
	return s, err
}

// Idle reports whether every message was handled.
func (d *DaveyMember) Idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue) == 0 && !d.busy
}

// Errors returns what went wrong handling messages.
func (d *DaveyMember) Errors() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}

// Close stops the goroutine and drops the davey session (it does not
// disconnect from the gateway).
func (d *DaveyMember) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
	_ = d.call("member.close", nil, nil)
}
