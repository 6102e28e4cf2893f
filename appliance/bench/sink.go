package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/appliance/voice/dave/davetest"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// SinkReport is what the fake Discord voice server received.
type SinkReport struct {
	Sessions   int      `json:"sessions"`
	Packets    uint64   `json:"packets"` // RTP packets decrypted and checked, silence included
	Silence    uint64   `json:"silence"`
	Violations int      `json:"violations"`
	Examples   []string `json:"examples,omitempty"` // the first violations
	// DAVE: frames carrying the DAVE marker, and of those checked by a
	// member of the call (one in daveCheckEvery), how many decrypted.
	DAVEFrames    uint64 `json:"dave_frames"`
	DAVEChecked   uint64 `json:"dave_checked"`
	DAVEDecrypted uint64 `json:"dave_decrypted"`
	Members       int    `json:"members"` // DAVE members that joined
	// CPU is the sink's own CPU time so far.
	CPU time.Duration `json:"cpu"`
}

// daveCheckEvery: one DAVE frame in this many is decrypted by the
// member, which proves the frames are end-to-end encrypted for it
// without making the sink the bottleneck.
const daveCheckEvery = 50

// Identities in the fake call: the node's user, and the member that
// joins each DAVE call so that the node has someone to encrypt for.
const (
	nodeUser   = 4242
	memberUser = 5353
)

// sink is the fake Discord voice server of a run: voicetest.Server in its
// load-test setting (packets decrypted, checked and counted, not kept or
// decoded) and, with DAVE, the voice gateway's DAVE role (one
// davetest.Gateway per call) and one member per call that joins once the
// node sends audio, so that the node commits it into the group and
// encrypts every frame from the executed transition on.
//
// Its goroutines (the server's, the member's, and the joiner) are stopped
// and waited for by close.
type sink struct {
	srv  *voicetest.Server
	dave bool

	mu       sync.Mutex
	signer   *davetest.GoSigner
	calls    map[*voicetest.Session]*call
	joinErrs []string

	daveFrames, checked, decrypted atomic.Uint64
	checkBuf                       []byte // the UDP goroutine's

	stop chan struct{}
	wg   sync.WaitGroup
}

// call is one DAVE call: the gateway role and, once joined, a member.
type call struct {
	gw     *davetest.Gateway
	member atomic.Pointer[davetest.Member]
}

func startSink(withDAVE bool) (*sink, error) {
	s := &sink{dave: withDAVE, calls: map[*voicetest.Session]*call{}, stop: make(chan struct{}), checkBuf: make([]byte, 0, 4096)}
	opts := voicetest.Options{
		SkipDecode: true, DiscardPCM: true, DiscardPackets: true,
		ReadBuffer: 4 << 20,
		PollUDP:    time.Millisecond, // see "Why does the sink poll?"

		HeartbeatInterval: 13750 * time.Millisecond, // what Discord sends
		OnPayload:         s.payload,
	}
	if withDAVE {
		signer, err := davetest.NewGoSigner()
		if err != nil {
			return nil, err
		}
		s.signer = signer
		opts.DAVEVersion, opts.RequireDAVE = 1, true
		opts.OnClientOp = s.clientOp
	}
	srv, err := voicetest.Start(opts)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	if withDAVE {
		s.wg.Go(s.joiner)
	}
	return s, nil
}

// clientOp plays the gateway's DAVE role for each session.
func (s *sink) clientOp(ss *voicetest.Session, op int, payload []byte, _ bool) {
	s.mu.Lock()
	c := s.calls[ss]
	if c == nil {
		// The bench puts each guild in its own channel with the same id.
		ch, _ := strconv.ParseUint(ss.ServerID(), 10, 64)
		c = &call{gw: davetest.NewGateway(davetest.GatewayConfig{ChannelID: ch, Signer: s.signer})}
		s.calls[ss] = c
		s.mu.Unlock()
		if err := c.gw.Connect(nodeUser, ss); err != nil {
			s.joinError(err)
		}
	} else {
		s.mu.Unlock()
	}
	switch op {
	case dave.OpTransitionReady, dave.OpMLSKeyPackage, dave.OpMLSCommitWelcome, dave.OpMLSInvalidCommitWelcome:
		if err := c.gw.ClientOp(nodeUser, op, payload); err != nil {
			s.joinError(err)
		}
	}
}

func (s *sink) joinError(err error) {
	s.mu.Lock()
	if len(s.joinErrs) < 5 {
		s.joinErrs = append(s.joinErrs, err.Error())
	}
	s.mu.Unlock()
}

// joiner adds a member to every call whose node sends audio.
func (s *sink) joiner() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		var ready []*call
		for ss, c := range s.calls {
			if c.member.Load() == nil && ss.PacketCount() > 0 {
				ready = append(ready, c)
			}
		}
		s.mu.Unlock()
		for _, c := range ready {
			m, err := davetest.NewMember(c.gw, memberUser)
			if err != nil {
				s.joinError(err)
				continue
			}
			c.member.Store(m)
		}
	}
}

// payload counts DAVE frames and has the member decrypt a sample of
// them. It runs on the server's UDP goroutine.
func (s *sink) payload(ss *voicetest.Session, p voicetest.Packet) {
	if !s.dave || p.Silence {
		return
	}
	b := p.Payload
	if len(b) < 2 || b[len(b)-1] != 0xFA || b[len(b)-2] != 0xFA {
		return
	}
	if s.daveFrames.Add(1)%daveCheckEvery != 0 {
		return
	}
	s.mu.Lock()
	c := s.calls[ss]
	s.mu.Unlock()
	if c == nil {
		return
	}
	m := c.member.Load()
	if m == nil {
		return
	}
	s.checked.Add(1)
	if out, err := m.Session.Decrypt(nodeUser, s.checkBuf[:0], b); err == nil && len(out) > 0 {
		s.decrypted.Add(1)
	}
}

func (s *sink) Endpoint() string { return s.srv.Endpoint() }

func (s *sink) report() SinkReport {
	r := SinkReport{DAVEFrames: s.daveFrames.Load(), DAVEChecked: s.checked.Load(), DAVEDecrypted: s.decrypted.Load(), CPU: cpuTime()}
	for _, ss := range s.srv.Sessions() {
		r.Sessions++
		r.Packets += uint64(ss.PacketCount())
		r.Silence += uint64(ss.SilenceFrames())
	}
	v := s.srv.Violations()
	r.Violations = len(v)
	r.Examples = v[:min(len(v), 5)]
	s.mu.Lock()
	for _, c := range s.calls {
		if c.member.Load() != nil {
			r.Members++
		}
	}
	r.Examples = append(r.Examples, s.joinErrs...)
	s.mu.Unlock()
	return r
}

func (s *sink) close() {
	close(s.stop)
	s.wg.Wait()
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if m := c.member.Load(); m != nil {
			m.Close()
		}
	}
}

// Sink is how a run reaches its fake voice server: in this process, or
// in a child process so that the node's CPU time and memory are measured
// without it (the default; see "Why a sink in its own process").
type Sink interface {
	Endpoint() string
	Report() (SinkReport, error)
	// PID is the sink's process, 0 when it runs in this one.
	PID() int
	Close() error
}

type inprocSink struct{ s *sink }

func (i inprocSink) Endpoint() string            { return i.s.Endpoint() }
func (i inprocSink) Report() (SinkReport, error) { return i.s.report(), nil }
func (i inprocSink) PID() int                    { return 0 }
func (i inprocSink) Close() error                { i.s.close(); return nil }

// StartSink starts a sink in this process.
func StartSink(withDAVE bool) (Sink, error) {
	s, err := startSink(withDAVE)
	if err != nil {
		return nil, err
	}
	return inprocSink{s}, nil
}

// ServeSink is the child side: it starts a sink, writes its endpoint as
// one JSON line to out, answers every "report" line from in with a JSON
// report line, and stops at EOF.
func ServeSink(withDAVE bool, in io.Reader, out io.Writer) error {
	renice(sinkNice)
	s, err := startSink(withDAVE)
	if err != nil {
		return err
	}
	defer s.close()
	enc := json.NewEncoder(out)
	if err := enc.Encode(map[string]string{"endpoint": s.Endpoint()}); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "report" {
			if err := enc.Encode(s.report()); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// processSink is a sink in a child process (ServeSink behind cmd).
type processSink struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	endpoint string
	mu       sync.Mutex
	closed   bool
}

// sinkNice is the sink process's nice value: it yields to the node. Its
// work is not what is measured, and a sink that takes a core at the
// wrong moment delays the node's send loops (the deviation measured).
const sinkNice = 10

// renice puts every thread of this process in the normal scheduling
// class (a node run under chrt must not hand its real-time priority to
// the sink) at the given nice value. On Linux both are a thread's own;
// threads started later inherit their creator's.
func renice(nice int) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			var param [1]int32 // sched_priority 0
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedOther, uintptr(unsafe.Pointer(&param[0])))
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice)
		}
	}
}

// schedOther is SCHED_OTHER, Linux's normal scheduling class.
const schedOther = 0

// sinkStartTimeout bounds the child's start.
const sinkStartTimeout = 20 * time.Second

// StartSinkProcess runs cmd, which must call ServeSink (the binary's
// "bench sink" mode), and reads its endpoint.
func StartSinkProcess(ctx context.Context, cmd *exec.Cmd) (Sink, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSink, err)
	}
	p := &processSink{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	type hello struct {
		Endpoint string `json:"endpoint"`
	}
	got := make(chan error, 1)
	var h hello
	go func() { got <- p.readLine(&h) }()
	select {
	case err = <-got:
	case <-time.After(sinkStartTimeout):
		err = fmt.Errorf("no endpoint after %v", sinkStartTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil || h.Endpoint == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w: starting %s: %v", ErrSink, cmd.Path, err)
	}
	p.endpoint = h.Endpoint
	return p, nil
}

func (p *processSink) readLine(v any) error {
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

func (p *processSink) Endpoint() string { return p.endpoint }
func (p *processSink) PID() int         { return p.cmd.Process.Pid }

func (p *processSink) Report() (SinkReport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var r SinkReport
	if _, err := io.WriteString(p.in, "report\n"); err != nil {
		return r, fmt.Errorf("%w: %w", ErrSink, err)
	}
	if err := p.readLine(&r); err != nil {
		return r, fmt.Errorf("%w: report: %w", ErrSink, err)
	}
	return r, nil
}

// Close ends the child (EOF on its stdin) and waits for it.
func (p *processSink) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	_ = p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		return <-done
	}
}
