package voice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/voicetest"
	"github.com/lxzan/gws"
)

// harness runs one Conn against one fake server.
type harness struct {
	t      *testing.T
	srv    *voicetest.Server
	conn   *Conn
	done   chan error
	mu     sync.Mutex
	events []Event
	evCh   chan Event
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("VOICE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func baseConfig(srv *voicetest.Server) Config {
	return Config{
		Endpoint:       srv.Endpoint(),
		GuildID:        111,
		ChannelID:      222,
		UserID:         333,
		SessionID:      "sess",
		Token:          "tok",
		ReconnectDelay: 10 * time.Millisecond,
		DiscoveryWait:  200 * time.Millisecond,
	}
}

// start runs a Conn against srv; mut adjusts the config.
func start(t *testing.T, srv *voicetest.Server, mut func(*Config)) *harness {
	t.Helper()
	return startWith(t, srv, nil, mut)
}

// startWith is start with a hook on the Conn before Run.
func startWith(t *testing.T, srv *voicetest.Server, hook func(*Conn), mut func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, srv: srv, done: make(chan error, 1), evCh: make(chan Event, 64)}
	cfg := baseConfig(srv)
	cfg.Logger = testLogger(t)
	cfg.OnEvent = func(ev Event) {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
		h.evCh <- ev
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.conn = c
	if hook != nil {
		hook(c)
	}
	go func() { h.done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = c.Close()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return h
}

// waitEvent waits for an event of kind k and returns it.
func (h *harness) waitEvent(k EventKind) Event {
	h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-h.evCh:
			if ev.Kind == k {
				return ev
			}
		case <-timeout:
			h.t.Fatalf("no %v event; events so far: %v", k, h.eventKinds())
			return Event{}
		}
	}
}

func (h *harness) eventKinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.events {
		s := ev.Kind.String()
		if ev.Code != 0 {
			s += fmt.Sprint("(", ev.Code, ")")
		}
		out = append(out, s)
	}
	return out
}

// waitRun waits for Run to return.
func (h *harness) waitRun() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

func (h *harness) waitPackets(ss *voicetest.Session, n int) {
	h.t.Helper()
	if !h.srv.Wait(15*time.Second, func() bool { return ss.PacketCount() >= n }) {
		h.t.Fatalf("server got %d packets, want >= %d; client stats %+v", ss.PacketCount(), n, h.conn.Stats())
	}
}

func (h *harness) noViolations() {
	h.t.Helper()
	for _, v := range h.srv.Violations() {
		h.t.Errorf("fake server: %s", v)
	}
}

// leakedGoroutines lists goroutines of this package, and client read
// loops (gws.ReadLoop not started by the fake server), still alive after
// waiting up to 2 s for them to end.
func leakedGoroutines() []string {
	var leaked []string
	for range 100 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			ours := strings.Contains(g, "appliance/voice.") && !strings.Contains(g, "appliance/voice.Test") &&
				!strings.Contains(g, "appliance/voice.Benchmark") && !strings.Contains(g, "appliance/voice.start.func")
			clientReader := strings.Contains(g, "lxzan/gws.(*Conn).ReadLoop") && !strings.Contains(g, "voicetest")
			if ours || clientReader {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return leaked
}

// checkNoLeaks fails when a goroutine of this package outlives its Conn.
// Only for tests that run alone; TestMain checks the whole package.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	if leaked := leakedGoroutines(); len(leaked) > 0 {
		t.Errorf("leaked goroutines:\n%s", strings.Join(leaked, "\n\n"))
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leaked goroutines after all tests:\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func newTone(t *testing.T, frames int) *voicetest.Tone {
	t.Helper()
	tone, err := voicetest.NewTone(440, 0.5, frames, true)
	if err != nil {
		t.Fatal(err)
	}
	return tone
}

// TestStreamsTone: the node joins the fake server and streams evenly paced,
// correctly encrypted Opus that decodes to the tone that was sent, in both
// transport modes.
func TestStreamsTone(t *testing.T) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const frames = 50
			srv := voicetest.New(t, voicetest.Options{Modes: []string{mode, "xsalsa20_poly1305"}})
			tone := newTone(t, frames)
			h := start(t, srv, func(c *Config) { c.Source = tone })
			ev := h.waitEvent(EventReady)
			if ev.Mode != mode {
				t.Fatalf("ready in mode %q, want %q", ev.Mode, mode)
			}
			ss := srv.Session()
			h.waitPackets(ss, frames+silenceFrames)
			time.Sleep(3 * FrameInterval) // nothing may follow the silence
			pkts := ss.Packets()
			if len(pkts) != frames+silenceFrames {
				t.Fatalf("%d packets, want %d", len(pkts), frames+silenceFrames)
			}
			sent := tone.Frames()
			for i, p := range pkts[:frames] {
				if !bytes.Equal(p.Payload, sent[i]) {
					t.Fatalf("packet %d payload differs from frame %d", i, i)
				}
			}
			for _, p := range pkts[frames:] {
				if !p.Silence {
					t.Fatalf("tail packet % x is not F8 FF FE", p.Payload)
				}
			}
			// What was heard is the tone: 440 Hz dominates.
			pcm := ss.PCM()
			if len(pcm) != frames*960*2 {
				t.Fatalf("decoded %d samples, want %d", len(pcm), frames*960*2)
			}
			at, off1, off2 := voicetest.Level(pcm[9600:], 440), voicetest.Level(pcm[9600:], 1000), voicetest.Level(pcm[9600:], 220)
			if at < 0.3 || off1 > at/50 || off2 > at/50 {
				t.Errorf("level at 440 Hz %.3f, 1000 Hz %.4f, 220 Hz %.4f", at, off1, off2)
			}
			sp := ss.Speaking()
			if len(sp) != 2 || !sp[0].On || sp[1].On {
				t.Errorf("speaking %+v, want on then off", sp)
			}
			st := h.conn.Stats()
			if st.Frames != frames || st.SilenceFrames != silenceFrames || st.Mode != mode || st.SSRC != ss.SSRC() {
				t.Errorf("stats %+v", st)
			}
			p50, p99, worst := pacing(pkts)
			t.Logf("pacing on loopback (%s): deviation from the 20 ms grid p50 %v, p99 %v, max %v; skipped %d", mode, p50, p99, worst, st.Skipped)
			h.noViolations()
		})
	}
}

// pacing measures how far arrivals are from the 20 ms grid set by the
// first packet. Skipped slots do not count as deviation: each arrival is
// compared with its nearest grid point.
func pacing(pkts []voicetest.Packet) (p50, p99, worst time.Duration) {
	if len(pkts) < 2 {
		return
	}
	t0 := pkts[0].Arrival
	dev := make([]time.Duration, len(pkts))
	for i, p := range pkts {
		d := (p.Arrival.Sub(t0) + FrameInterval/2) % FrameInterval
		dev[i] = (d - FrameInterval/2).Abs()
	}
	slices.Sort(dev)
	return dev[len(dev)/2], dev[len(dev)*99/100], dev[len(dev)-1]
}

// recE2EE records what the connection hands a DAVE session.
type recE2EE struct {
	mu      sync.Mutex
	userID  uint64
	channel uint64
	send    func(int, []byte, bool) error
	started []int
	handled []string
}

func (r *recE2EE) Start(v int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, v)
	return nil
}

func (r *recE2EE) Handle(op int, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handled = append(r.handled, fmt.Sprintf("%d:%s", op, payload))
	return nil
}

// EncryptOpus wraps the frame as xor 0x5A plus FA FA, undone by the server's DecryptFrame.
func (r *recE2EE) EncryptOpus(dst, opus []byte) ([]byte, error) {
	for _, b := range opus {
		dst = append(dst, b^0x5A)
	}
	return append(dst, 0xFA, 0xFA), nil
}

func (r *recE2EE) snapshot() ([]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.started), slices.Clone(r.handled)
}

func unwrapE2EE(_ *voicetest.Session, p []byte) ([]byte, error) {
	if len(p) < 2 || p[len(p)-1] != 0xFA || p[len(p)-2] != 0xFA {
		return nil, errors.New("no FA FA trailer")
	}
	out := make([]byte, len(p)-2)
	for i := range out {
		out[i] = p[i] ^ 0x5A
	}
	return out, nil
}

type e2eeFactory struct {
	mu   sync.Mutex
	made []*recE2EE
}

func (f *e2eeFactory) new(userID, channelID uint64, send func(int, []byte, bool) error) (E2EE, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &recE2EE{userID: userID, channel: channelID, send: send}
	f.made = append(f.made, e)
	return e, nil
}

func (f *e2eeFactory) last() *recE2EE {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.made) == 0 {
		return nil
	}
	return f.made[len(f.made)-1]
}

func (f *e2eeFactory) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.made)
}

// TestE2EESeam: Identify offers DAVE 1, Start gets op 4's version, DAVE ops
// (JSON and binary) reach Handle, the send function reaches the server in
// both framings, audio goes through EncryptOpus, unknown ops are ignored.
func TestE2EESeam(t *testing.T) {
	var clientOps sync.Map
	srv := voicetest.New(t, voicetest.Options{
		DAVEVersion: 1, RequireDAVE: true, DecryptFrame: unwrapE2EE,
		OnClientOp: func(_ *voicetest.Session, op int, payload []byte, binary bool) {
			clientOps.Store(fmt.Sprint(op, binary), string(payload))
		},
	})
	f := &e2eeFactory{}
	tone := newTone(t, -1)
	h := start(t, srv, func(c *Config) { c.NewE2EE = f.new; c.Source = tone })
	ev := h.waitEvent(EventReady)
	if ev.DAVEVersion != 1 {
		t.Errorf("ready with DAVE version %d", ev.DAVEVersion)
	}
	ss := srv.Session()
	if ss.MaxDAVE() != 1 || ss.UserID() != "333" || ss.ServerID() != "111" || ss.SessionID() != "sess" {
		t.Errorf("identify: max_dave %d user %s server %s session %s", ss.MaxDAVE(), ss.UserID(), ss.ServerID(), ss.SessionID())
	}
	e := f.last()
	if e.userID != 333 || e.channel != 222 {
		t.Errorf("NewE2EE(%d, %d), want (333, 222)", e.userID, e.channel)
	}
	// Undocumented and unknown ops first: they must change nothing.
	for _, op := range []int{12, 14, 15, 16, 18, 20, 99} {
		if err := ss.SendJSON(op, map[string]any{"x": op}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.SendBinary(99, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := ss.SendJSON(11, map[string]any{"user_ids": []string{"1", "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := ss.SendBinary(25, []byte("external-sender")); err != nil {
		t.Fatal(err)
	}
	if err := ss.SendJSON(21, map[string]any{"transition_id": 3, "protocol_version": 1}); err != nil {
		t.Fatal(err)
	}
	want := []string{`11:{"user_ids":["1","2"]}`, "25:external-sender", `21:{"protocol_version":1,"transition_id":3}`}
	if !srv.Wait(5*time.Second, func() bool { _, got := e.snapshot(); return len(got) >= len(want) }) {
		t.Fatal("DAVE ops did not reach Handle")
	}
	started, handled := e.snapshot()
	if !slices.Equal(started, []int{1}) || !slices.Equal(handled, want) {
		t.Errorf("started %v handled %q, want [1] %q", started, handled, want)
	}
	if err := e.send(23, []byte(`{"transition_id":3}`), false); err != nil {
		t.Fatal(err)
	}
	if err := e.send(26, []byte{0, 1, 0, 2}, true); err != nil {
		t.Fatal(err)
	}
	if !srv.Wait(5*time.Second, func() bool {
		a, ok1 := clientOps.Load("23 false")
		b, ok2 := clientOps.Load("26 true")
		return ok1 && ok2 && a == `{"transition_id":3}` && b == "\x00\x01\x00\x02"
	}) {
		t.Error("E2EE sends did not reach the server")
	}
	h.waitPackets(ss, 20)
	if ss.Decoded() < 15 {
		t.Errorf("decoded %d E2EE-wrapped frames", ss.Decoded())
	}
	if !ss.Connected() || srv.Identifies() != 1 {
		t.Error("unknown ops disturbed the connection")
	}
	h.noViolations()
}

// TestCloseCodes follows discord-voice.md §1.9 for every code.
func TestCloseCodes(t *testing.T) {
	cases := []struct {
		code  int // 0: drop the TCP connection
		act   action
		over  bool
		recon bool
	}{
		{0, actResume, false, false},
		{1000, actResume, false, false},
		{1001, actResume, false, false},
		{4015, actResume, false, false},
		{4006, actIdentify, false, false},
		{4009, actIdentify, false, false},
		{4004, actStop, false, true},
		{4011, actStop, false, true},
		{4014, actStop, true, false},
		{4021, actStop, false, false},
		{4022, actStop, true, false},
		{4017, actStop, false, false},
		{4001, actStop, false, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			srv := voicetest.New(t, voicetest.Options{DecryptFrame: unwrapE2EE})
			f := &e2eeFactory{}
			h := start(t, srv, func(c *Config) { c.Source = newTone(t, -1); c.NewE2EE = f.new })
			h.waitEvent(EventReady)
			ss := srv.Session()
			h.waitPackets(ss, 5)
			if tc.code == 0 {
				ss.Drop()
			} else {
				ss.CloseWith(tc.code, "test")
			}
			switch tc.act {
			case actResume:
				ev := h.waitEvent(EventReconnecting)
				if !ev.Resume {
					t.Errorf("reconnecting %+v, want resume", ev)
				}
				h.waitEvent(EventResumed)
				n := ss.PacketCount()
				h.waitPackets(ss, n+5)
				if srv.Identifies() != 1 || ss.Resumes() != 1 || f.count() != 1 {
					t.Errorf("identifies %d resumes %d e2ee %d, want 1 1 1", srv.Identifies(), ss.Resumes(), f.count())
				}
				h.noViolations() // seq, timestamp and nonce continue across the resume
			case actIdentify:
				ev := h.waitEvent(EventReconnecting)
				if ev.Resume || ev.Code != tc.code {
					t.Errorf("reconnecting %+v, want identify after %d", ev, tc.code)
				}
				h.waitEvent(EventReady)
				ss2 := srv.Session()
				if ss2 == ss || srv.Identifies() != 2 || f.count() != 2 {
					t.Fatalf("identifies %d e2ee %d, want a second session", srv.Identifies(), f.count())
				}
				h.waitPackets(ss2, 5)
				h.noViolations()
			case actStop:
				err := h.waitRun()
				ce, ok := errors.AsType[*CloseError](err)
				if !ok || ce.Code != tc.code {
					t.Fatalf("Run returned %v, want *CloseError %d", err, tc.code)
				}
				if ce.SessionOver() != tc.over || ce.Reconnectable() != tc.recon || ce.Reason != "test" {
					t.Errorf("%v: SessionOver %v Reconnectable %v", ce, ce.SessionOver(), ce.Reconnectable())
				}
				if ev := h.waitEvent(EventClosed); ev.Code != tc.code {
					t.Errorf("closed event %+v", ev)
				}
				if srv.Identifies() != 1 || ss.Resumes() != 0 {
					t.Errorf("reconnected after %d", tc.code)
				}
			}
			if tc.act != actStop {
				code := tc.code
				if code == 0 {
					code = 1006
				}
				if got := h.conn.Stats().Reconnects; got[code] != 1 {
					t.Errorf("stats reconnects %v", got)
				}
			}
		})
	}
}

// TestResumeReplay: messages the server numbered while the client was
// away are replayed after op 9 and reach the E2EE once each, in order.
func TestResumeReplay(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{SeqStart: 65530, DecryptFrame: unwrapE2EE}) // numbers wrap through 0
	f := &e2eeFactory{}
	h := start(t, srv, func(c *Config) { c.NewE2EE = f.new; c.Source = newTone(t, -1) })
	h.waitEvent(EventReady)
	ss := srv.Session()
	for i := range 3 {
		_ = ss.SendJSON(11, map[string]any{"user_ids": []string{fmt.Sprint(i)}})
	}
	e := f.last()
	if !srv.Wait(5*time.Second, func() bool { _, h := e.snapshot(); return len(h) == 3 }) {
		t.Fatal("first messages not handled")
	}
	ss.Drop()
	// While the client is away: numbered JSON and binary messages.
	_ = ss.SendBinary(25, []byte("x0"))
	_ = ss.SendJSON(13, map[string]any{"user_id": "1"})
	_ = ss.SendBinary(27, []byte("x1"))
	h.waitEvent(EventResumed)
	if !srv.Wait(5*time.Second, func() bool { _, h := e.snapshot(); return len(h) >= 6 }) {
		t.Fatal("replayed messages not handled")
	}
	time.Sleep(50 * time.Millisecond)
	_, handled := e.snapshot()
	want := []string{`11:{"user_ids":["0"]}`, `11:{"user_ids":["1"]}`, `11:{"user_ids":["2"]}`, "25:x0", `13:{"user_id":"1"}`, "27:x1"}
	if !slices.Equal(handled, want) {
		t.Errorf("handled\n %q\nwant\n %q", handled, want)
	}
	if ss.Replayed() < 3 {
		t.Errorf("server replayed %d messages, want >= 3", ss.Replayed())
	}
	// The client acknowledges the wrapped numbering.
	if !srv.Wait(5*time.Second, func() bool { return ss.SeqAck() == ss.LastSeq() && ss.Heartbeats() > 0 }) {
		t.Errorf("seq_ack %d, last seq %d", ss.SeqAck(), ss.LastSeq())
	}
	if f.count() != 1 {
		t.Errorf("resume rebuilt the E2EE")
	}
	h.noViolations()
}

// TestResumeBufferLost: a resume the server cannot replay is closed with
// 4006 and the client identifies afresh.
func TestResumeBufferLost(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	h := start(t, srv, func(c *Config) { c.Source = newTone(t, -1) })
	h.waitEvent(EventReady)
	ss := srv.Session()
	h.waitPackets(ss, 5)
	ss.LoseReplayBuffer()
	ss.CloseWith(4015, "crash")
	if ev := h.waitEvent(EventReconnecting); !ev.Resume || ev.Code != 4015 {
		t.Errorf("first reconnect %+v", ev)
	}
	if ev := h.waitEvent(EventReconnecting); ev.Resume || ev.Code != 4006 {
		t.Errorf("second reconnect %+v", ev)
	}
	h.waitEvent(EventReady)
	h.waitPackets(srv.Session(), 5)
	if srv.Identifies() != 2 {
		t.Errorf("identifies %d", srv.Identifies())
	}
	h.noViolations()
}

// TestIdentify4006Twice: a fresh Identify answered with 4006 again gives up.
func TestIdentify4006Twice(t *testing.T) {
	var srv *voicetest.Server
	var identifies atomic.Int32
	srv = voicetest.New(t, voicetest.Options{OnClientOp: func(ss *voicetest.Session, op int, _ []byte, _ bool) {
		if op == 0 && identifies.Add(1) == 2 {
			ss.CloseWith(4006, "still gone")
		}
	}})
	h := start(t, srv, nil)
	h.waitEvent(EventReady)
	srv.Session().CloseWith(4006, "gone")
	err := h.waitRun()
	if ce, ok := errors.AsType[*CloseError](err); !ok || ce.Code != 4006 || !ce.Reconnectable() {
		t.Fatalf("Run returned %v, want *CloseError 4006", err)
	}
	if srv.Identifies() != 2 {
		t.Errorf("identifies %d, want 2", srv.Identifies())
	}
}

// TestHeartbeatLoss: missing ACKs close the socket and resume.
func TestHeartbeatLoss(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{HeartbeatInterval: 30 * time.Millisecond})
	h := start(t, srv, func(c *Config) { c.Source = newTone(t, -1) })
	h.waitEvent(EventReady)
	ss := srv.Session()
	if !srv.Wait(5*time.Second, func() bool { return ss.Heartbeats() >= 2 }) {
		t.Fatal("no heartbeats")
	}
	if h.conn.Stats().Ping <= 0 {
		t.Error("no ping measured")
	}
	ss.DropHeartbeatACKs(true)
	ev := h.waitEvent(EventReconnecting)
	if !ev.Resume || !errors.Is(ev.Err, ErrHeartbeatLost) {
		t.Errorf("reconnect %+v", ev)
	}
	ss.DropHeartbeatACKs(false)
	h.waitEvent(EventResumed)
	if got := h.conn.Stats().Reconnects[0]; got != 1 {
		t.Errorf("reconnects for local reasons %d", got)
	}
	h.noViolations()
}

// TestSetChannel: a channel move identifies afresh with the new DAVE group.
func TestSetChannel(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	f := &e2eeFactory{}
	h := start(t, srv, func(c *Config) { c.NewE2EE = f.new })
	h.waitEvent(EventReady)
	if err := h.conn.SetChannel(0); !errors.Is(err, ErrNoChannel) {
		t.Errorf("SetChannel(0) = %v", err)
	}
	if err := h.conn.SetChannel(222); err != nil || f.count() != 1 {
		t.Errorf("same channel: %v, e2ee %d", err, f.count())
	}
	if err := h.conn.SetChannel(999); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(EventReady)
	if f.count() != 2 || f.last().channel != 999 || srv.Identifies() != 2 {
		t.Errorf("after move: e2ee %d channel %d identifies %d", f.count(), f.last().channel, srv.Identifies())
	}
	_ = h.conn.Close()
	h.waitRun()
	checkNoLeaks(t)
}

// TestTLS dials wss:// with the fake's self-signed certificate.
func TestTLS(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{TLS: true})
	if !strings.HasPrefix(srv.Endpoint(), "wss://") {
		t.Fatal(srv.Endpoint())
	}
	h := start(t, srv, func(c *Config) { c.TLSConfig = srv.ClientTLSConfig(); c.Source = newTone(t, 10) })
	h.waitEvent(EventReady)
	h.waitPackets(srv.Session(), 15)
	h.noViolations()
}

// TestTLSUntrusted: without the certificate the dial fails, retries, gives up.
func TestTLSUntrusted(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{TLS: true})
	h := start(t, srv, func(c *Config) { c.MaxAttempts = 2 })
	err := h.waitRun()
	if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Run returned %v", err)
	}
}

// TestRequireDAVE: without DAVE the server answers 4017, Run stops.
func TestRequireDAVE(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{RequireDAVE: true})
	h := start(t, srv, nil)
	err := h.waitRun()
	if ce, ok := errors.AsType[*CloseError](err); !ok || ce.Code != 4017 || !ce.OurBug() {
		t.Errorf("Run returned %v", err)
	}
}

// TestNoMode: a server offering only discontinued modes is fatal.
func TestNoMode(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{Modes: []string{"xsalsa20_poly1305_lite", "aead_aes256_gcm"}})
	h := start(t, srv, nil)
	if err := h.waitRun(); !errors.Is(err, ErrNoMode) {
		t.Errorf("Run returned %v", err)
	}
}

// TestLifecycle: Close before Run, Run twice, Close idempotent.
func TestLifecycle(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	c, err := New(baseConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = c.Close()
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v", err)
	}
	h := start(t, srv, nil)
	h.waitEvent(EventReady)
	if err := h.conn.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v", err)
	}
	_ = h.conn.Close()
	if err := h.waitRun(); err != nil {
		t.Errorf("Run after Close returned %v", err)
	}
	if !srv.Wait(2*time.Second, func() bool { return !srv.Session().Connected() }) {
		t.Error("socket still open after Close")
	}
	checkNoLeaks(t)

	// ctx cancellation returns ctx.Err().
	c2, _ := New(baseConfig(srv))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c2.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v", err)
	}
}

// TestGiveUp: an endpoint nobody listens on fails MaxAttempts times.
func TestGiveUp(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	ep := srv.Endpoint()
	srv.Close()
	h := start(t, srv, func(c *Config) { c.Endpoint = ep; c.MaxAttempts = 3 })
	err := h.waitRun()
	if !errors.Is(err, ErrGaveUp) {
		t.Errorf("Run returned %v", err)
	}
	if kinds := h.eventKinds(); len(kinds) != 3 || kinds[2] != "closed" {
		t.Errorf("events %v, want 2 reconnecting then closed", kinds)
	}
}

// TestNew validates the config.
func TestNew(t *testing.T) {
	ok := Config{Endpoint: "x.discord.media", GuildID: 1, ChannelID: 2, UserID: 3, SessionID: "s", Token: "t"}
	for _, tc := range []struct {
		mut  func(*Config)
		want error
	}{
		{func(c *Config) {}, nil},
		{func(c *Config) { c.ChannelID = 0 }, ErrNoChannel},
		{func(c *Config) { c.Endpoint = "" }, ErrNoEndpoint},
		{func(c *Config) { c.Endpoint = "http://x" }, ErrBadEndpoint},
		{func(c *Config) { c.Token = "" }, ErrMissingField},
		{func(c *Config) { c.SessionID = "" }, ErrMissingField},
		{func(c *Config) { c.GuildID = 0 }, ErrMissingField},
		{func(c *Config) { c.UserID = 0 }, ErrMissingField},
	} {
		cfg := ok
		tc.mut(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("New(%+v) = %v, want %v", cfg, err, tc.want)
		}
	}
}

func TestGatewayURL(t *testing.T) {
	for in, want := range map[string]string{
		"c-fra01.discord.media":      "wss://c-fra01.discord.media/?v=8",
		"c-fra01.discord.media:443":  "wss://c-fra01.discord.media:443/?v=8",
		"c-fra01.discord.media:80":   "wss://c-fra01.discord.media/?v=8",
		"c-fra01.discord.media:2053": "wss://c-fra01.discord.media:2053/?v=8",
		"127.0.0.1:9000":             "wss://127.0.0.1:9000/?v=8",
		"[::1]:9000":                 "wss://[::1]:9000/?v=8",
		"ws://127.0.0.1:9000":        "ws://127.0.0.1:9000/?v=8",
		"wss://voice.example/gw?x=1": "wss://voice.example/gw?v=8&x=1",
		"wss://voice.example/?v=4":   "wss://voice.example/?v=4",
		" c-fra01.discord.media ":    "wss://c-fra01.discord.media/?v=8",
	} {
		got, err := gatewayURL(in)
		if err != nil || got != want {
			t.Errorf("gatewayURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "http://x", "x/y", "a b", "x:99999", "user@x", "ws://", "x:abc"} {
		if got, err := gatewayURL(in); err == nil {
			t.Errorf("gatewayURL(%q) = %q, want an error", in, got)
		}
	}
}

var _ = json.Marshal

// TestDropBeforeReady: a socket that drops before Session Description has
// nothing to resume; the client identifies afresh.
func TestDropBeforeReady(t *testing.T) {
	var n atomic.Int32
	srv := voicetest.New(t, voicetest.Options{OnClientOp: func(ss *voicetest.Session, op int, _ []byte, _ bool) {
		if op == 0 && n.Add(1) == 1 {
			ss.Drop()
		}
	}})
	h := start(t, srv, func(c *Config) { c.Source = newTone(t, 5) })
	ev := h.waitEvent(EventReconnecting)
	if ev.Resume || ev.Code != 1006 {
		t.Errorf("reconnecting %+v, want identify after 1006", ev)
	}
	h.waitEvent(EventReady)
	h.waitPackets(srv.Session(), 10)
	if srv.Identifies() != 2 || srv.Resumes() != 0 {
		t.Errorf("identifies %d resumes %d", srv.Identifies(), srv.Resumes())
	}
	h.noViolations()
}

// TestHandshakeTimeout: a server that upgrades and then says nothing.
func TestHandshakeTimeout(t *testing.T) {
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, nil)
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err == nil {
			c.ReadLoop()
		}
	}))
	defer mute.Close()
	srv := voicetest.New(t, voicetest.Options{})
	h := start(t, srv, func(c *Config) {
		c.Endpoint = "ws://" + mute.Listener.Addr().String()
		c.HandshakeTimeout = 100 * time.Millisecond
		c.MaxAttempts = 2
	})
	if err := h.waitRun(); !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrHandshakeTimeout) {
		t.Errorf("Run returned %v", err)
	}
	if st := h.conn.Stats(); st.Identifies != 2 {
		t.Errorf("identifies %d, want 2", st.Identifies)
	}
}

// TestPauseResume: over the real connection, a pause gives five silence
// frames and Speaking off, a resume Speaking on again; SetSource(nil) is a
// pause too.
func TestPauseResume(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	tone := newTone(t, -1)
	h := start(t, srv, func(c *Config) { c.Source = tone })
	h.waitEvent(EventReady)
	ss := srv.Session()
	h.waitPackets(ss, 10)
	tone.Pause(true)
	if !srv.Wait(15*time.Second, func() bool { return ss.SilenceFrames() == silenceFrames && len(ss.Speaking()) == 2 }) {
		t.Fatalf("silence %d speaking %+v", ss.SilenceFrames(), ss.Speaking())
	}
	n := ss.PacketCount()
	time.Sleep(5 * FrameInterval)
	if ss.PacketCount() != n {
		t.Fatalf("packets sent while paused")
	}
	tone.Pause(false)
	h.waitPackets(ss, n+10)
	h.conn.SetSource(nil)
	if !srv.Wait(15*time.Second, func() bool { return ss.SilenceFrames() == 2*silenceFrames && len(ss.Speaking()) == 4 }) {
		t.Fatalf("silence %d speaking %+v", ss.SilenceFrames(), ss.Speaking())
	}
	sp := ss.Speaking()
	for i, want := range []bool{true, false, true, false} {
		if sp[i].On != want {
			t.Errorf("speaking %d: %v, want %v", i, sp[i].On, want)
		}
	}
	h.noViolations() // seq +1 and timestamps +960·k across the pauses
}

// TestSSLCertFile: with no Config.TLSConfig the system trust store is
// used, and SSL_CERT_FILE is honoured. Go reads the store once per
// process, so the dial runs in a child process of the test binary.
func TestSSLCertFile(t *testing.T) {
	if ep := os.Getenv("VOICE_TEST_CHILD_ENDPOINT"); ep != "" {
		cfg := Config{Endpoint: ep, GuildID: 1, ChannelID: 2, UserID: 3, SessionID: "s", Token: "t", MaxAttempts: 1}
		ready := make(chan struct{}, 1)
		cfg.OnEvent = func(ev Event) {
			if ev.Kind == EventReady {
				ready <- struct{}{}
			}
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		select {
		case <-ready:
			_ = c.Close()
			<-done
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
		return
	}
	srv := voicetest.New(t, voicetest.Options{TLS: true})
	pemFile := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(pemFile, srv.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, trust := range []bool{true, false} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSSLCertFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VOICE_TEST_CHILD_ENDPOINT="+srv.Endpoint())
		if trust {
			cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+pemFile)
		} else {
			cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+t.TempDir()+"/none.pem", "SSL_CERT_DIR="+t.TempDir())
		}
		out, err := cmd.CombinedOutput()
		t.Logf("child trusting the certificate: %v: %v\n%s", trust, err, out)
		if trust && err != nil {
			t.Errorf("with SSL_CERT_FILE: %v\n%s", err, out)
		}
		if !trust && (err == nil || !strings.Contains(string(out), "certificate")) {
			t.Errorf("without the certificate the child connected or failed otherwise: %v\n%s", err, out)
		}
	}
}

// TestNonceExhausted: when a key's nonces run out the connection
// identifies afresh for a new key instead of repeating one (the limit is
// lowered from 2^32 to 20 packets here).
func TestNonceExhausted(t *testing.T) {
	srv := voicetest.New(t, voicetest.Options{})
	h := startWith(t, srv, func(c *Conn) { c.nonceLimit = 20 }, func(c *Config) { c.Source = newTone(t, -1) })
	h.waitEvent(EventReady)
	ev := h.waitEvent(EventReconnecting)
	if ev.Resume || !errors.Is(ev.Err, ErrNonceExhausted) {
		t.Errorf("reconnecting %+v", ev)
	}
	h.waitEvent(EventReady)
	sessions := srv.Sessions()
	first := sessions[len(sessions)-2]
	if n := first.PacketCount(); n != 20 {
		t.Errorf("%d packets under the first key, want 20", n)
	}
	h.waitPackets(srv.Session(), 5)
	h.noViolations()
}
