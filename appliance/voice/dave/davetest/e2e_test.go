package davetest_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/appliance/voice/dave/davetest"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

const (
	nodeUser  = 333
	channelID = 222
)

// listener decrypts, with davey, what the node sends, and counts.
type listener struct {
	mu        sync.Mutex
	d         *davetest.DaveyMember
	encrypted bool // a DAVE frame was seen
	ok, plain int
	plainLate int // plain frames after the first DAVE frame
	// A listener that just joined cannot decrypt what the node sealed
	// before the transition executed (op 22), and nobody listens between
	// a sole-member reset and the next join: such frames are counted
	// apart. Every other failure is a failure.
	heardOnce  bool
	unheard    int
	downgraded bool
	failures   []string
}

func (l *listener) decrypt(_ *voicetest.Session, payload []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(payload) < 2 || payload[len(payload)-1] != 0xFA || payload[len(payload)-2] != 0xFA {
		l.plain++
		if l.encrypted && !l.downgraded {
			l.plainLate++
		}
		return payload, nil
	}
	l.encrypted = true
	if l.d == nil {
		l.unheard++
		return []byte{0xF8, 0xFF, 0xFE}, nil
	}
	opus, err := l.d.Decrypt(nodeUser, payload)
	if err != nil {
		if !l.heardOnce {
			l.unheard++
		} else {
			l.failures = append(l.failures, err.Error())
		}
		return []byte{0xF8, 0xFF, 0xFE}, nil
	}
	l.ok++
	l.heardOnce = true
	return opus, nil
}

func (l *listener) set(d *davetest.DaveyMember) {
	l.mu.Lock()
	if d != l.d {
		l.heardOnce = false
	}
	l.d = d
	l.mu.Unlock()
}

func (l *listener) counts() (ok, fails int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, len(l.failures)
}

// TestNodeInDAVECall is the end-to-end check of issue 6: the node (a real
// voice.Conn with a dave.Session) in the fake Discord voice server, whose
// gateway side is davetest.Gateway with ts-mls signing the external
// proposals, and a davey member listening. The listener must decrypt the
// node's audio across joins and leaves, a revoke, an invalid commit and a
// sole-member reset; what it decrypts must decode as Opus.
func TestNodeInDAVECall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call: skipped in -short")
	}
	davetest.NoLeaks(t)
	sc := davetest.NeedSidecar(t)
	signer, err := davetest.NewTSSigner(sc)
	if err != nil {
		t.Fatal(err)
	}
	gw := davetest.NewGateway(davetest.GatewayConfig{ChannelID: channelID, Signer: signer, Logf: t.Logf})
	var l listener
	var connected sync.Once
	srv := voicetest.New(t, voicetest.Options{
		DAVEVersion: 1, RequireDAVE: true,
		DecryptFrame: l.decrypt,
		OnClientOp: func(ss *voicetest.Session, op int, payload []byte, binary bool) {
			connected.Do(func() {
				if err := gw.Connect(nodeUser, ss); err != nil {
					t.Error(err)
				}
			})
			switch op {
			case dave.OpTransitionReady, dave.OpMLSKeyPackage, dave.OpMLSCommitWelcome, dave.OpMLSInvalidCommitWelcome:
				if err := gw.ClientOp(nodeUser, op, payload); err != nil {
					t.Error(err)
				}
			}
		},
	})
	tone, err := voicetest.NewTone(440, 0.3, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	var sessions []*dave.Session
	var smu sync.Mutex
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := voice.New(voice.Config{
		Endpoint: srv.Endpoint(), GuildID: 111, ChannelID: channelID, UserID: nodeUser,
		SessionID: "sess", Token: "tok", Source: tone, Logger: logger,
		NewE2EE: func(user, channel uint64, send func(int, []byte, bool) error) (voice.E2EE, error) {
			s, err := dave.New(dave.Config{UserID: user, ChannelID: channel, Send: send, Logger: logger})
			smu.Lock()
			sessions = append(sessions, s)
			smu.Unlock()
			return s, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- conn.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = conn.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("voice connection did not stop")
		}
	})
	node := func() *dave.Session {
		smu.Lock()
		defer smu.Unlock()
		if len(sessions) == 0 {
			return nil
		}
		return sessions[len(sessions)-1]
	}

	// Members other than the node, and how to wait for quiet.
	var davey []*davetest.DaveyMember
	var goMembers []*davetest.Member
	t.Cleanup(func() {
		for _, d := range davey {
			d.Close()
		}
		for _, m := range goMembers {
			m.Close()
		}
	})
	settle := func() {
		t.Helper()
		idle := func() bool {
			for _, d := range davey {
				if !d.Idle() {
					return false
				}
			}
			for _, m := range goMembers {
				if !m.Idle() {
					return false
				}
			}
			return true
		}
		for range 3 {
			if !gw.Wait(20*time.Second, idle) {
				t.Fatal("members never settled")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// heard waits until the listener decrypted n more of the node's frames.
	heard := func(stage string, n int) {
		t.Helper()
		ok0, _ := l.counts()
		if !gw.Wait(20*time.Second, func() bool { ok, _ := l.counts(); return ok >= ok0+n }) {
			ok, fails := l.counts()
			t.Fatalf("%s: listener decrypted %d frames (%d before), %d failures: %v", stage, ok, ok0, fails, l.failures)
		}
		t.Logf("%s: listener decrypts the node (%d frames so far)", stage, ok0+n)
	}
	removeDavey := func(d *davetest.DaveyMember) {
		t.Helper()
		if err := gw.Disconnect(d.UserID); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		if l.d == d {
			l.d = nil
		}
		l.mu.Unlock()
		d.Close()
		for i, x := range davey {
			if x == d {
				davey = append(davey[:i], davey[i+1:]...)
			}
		}
	}

	if !srv.Wait(10*time.Second, func() bool { return node() != nil && srv.Session() != nil && srv.Session().PacketCount() > 10 }) {
		t.Fatal("the node never sent audio")
	}
	if st := node().Status(); st.Encrypting {
		t.Fatalf("encrypting alone before any transition: %+v", st)
	}

	// 1. The listener joins: the node commits it in.
	d1, err := davetest.NewDaveyMember(sc, gw, 444)
	if err != nil {
		t.Fatal(err)
	}
	davey = append(davey, d1)
	l.set(d1)
	settle()
	heard("listener joined", 50)

	// 2. A Go member joins and leaves.
	m, err := davetest.NewMember(gw, 555)
	if err != nil {
		t.Fatal(err)
	}
	goMembers = append(goMembers, m)
	settle()
	heard("go member joined", 25)
	if err := gw.Disconnect(555); err != nil {
		t.Fatal(err)
	}
	settle()
	heard("go member left", 25)

	// 3. A revoke: a member leaves before its add is committed.
	gw.Hold()
	d2, err := davetest.NewDaveyMember(sc, gw, 666)
	if err != nil {
		t.Fatal(err)
	}
	davey = append(davey, d2)
	if !gw.Wait(20*time.Second, func() bool { return len(gw.Held()) >= 2 }) {
		t.Fatalf("commits held: %v", gw.Held())
	}
	epoch := gw.Epoch()
	removeDavey(d2)
	gw.Release()
	settle()
	if gw.Epoch() != epoch || gw.Pending() != 0 {
		t.Fatalf("after revoke: epoch %d (was %d), %d pending", gw.Epoch(), epoch, gw.Pending())
	}
	heard("after a revoke", 25)

	// 4. An invalid commit: the node asks to be re-added and rejoins from
	// the listener's Welcome.
	accepted, epoch := gw.Accepted(), gw.Epoch()
	if err := gw.SendInvalidCommit(nodeUser, gw.ForgeCommit(gw.Leaves()[444])); err != nil {
		t.Fatal(err)
	}
	if !gw.Wait(20*time.Second, func() bool {
		st := node().Status()
		return gw.Epoch() > epoch && st.Established && st.Epoch == gw.Epoch()
	}) {
		t.Fatalf("node not re-added: %d commits, leaves %v, refused %q", gw.Accepted()-accepted, gw.Leaves(), gw.Rejected())
	}
	settle()
	if st := node().Status(); !st.Established {
		t.Fatalf("node after re-add: %+v", st)
	}
	heard("after an invalid commit", 50)

	// 5. Sole-member reset: the listener leaves; the node keeps encrypting
	// alone; a new listener joins the node's new group.
	removeDavey(d1)
	if !gw.Wait(10*time.Second, func() bool { st := node().Status(); return !st.Established && st.Encrypting }) {
		t.Fatalf("no sole-member reset: %+v", node().Status())
	}
	d3, err := davetest.NewDaveyMember(sc, gw, 777)
	if err != nil {
		t.Fatal(err)
	}
	davey = append(davey, d3)
	l.set(d3)
	settle()
	heard("after a sole-member reset", 50)

	// 6. Downgrade: the node goes back to plain Opus.
	l.mu.Lock()
	l.downgraded = true
	plain0 := l.plain
	l.mu.Unlock()
	if err := gw.Downgrade(); err != nil {
		t.Fatal(err)
	}
	settle()
	if !gw.Wait(10*time.Second, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.plain >= plain0+25 }) {
		t.Fatalf("no plain audio after the downgrade: %+v", node().Status())
	}
	if st := node().Status(); st.Encrypting || st.ProtocolVersion != 0 {
		t.Fatalf("after downgrade: %+v", st)
	}
	t.Log("downgrade: the node sends plain Opus")

	ss := srv.Session()
	ok, fails := l.counts()
	t.Logf("listener: %d frames decrypted, %d plain (before DAVE, after the downgrade), %d unheard while joining or absent, %d failures %q; server decoded %d Opus frames",
		ok, l.plain, l.unheard, fails, l.failures, ss.Decoded())
	if l.plainLate > 0 {
		t.Errorf("%d plain frames after DAVE started", l.plainLate)
	}
	if fails > 0 {
		t.Errorf("listener failed %d frames: %q", fails, l.failures)
	}
	if ss.Decoded() < ok {
		t.Errorf("server decoded %d frames, listener decrypted %d", ss.Decoded(), ok)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("violations: %q", v)
	}
	pcm := ss.PCM()
	var energy float64
	for _, s := range pcm[len(pcm)/2:] {
		energy += float64(s) * float64(s)
	}
	if len(pcm) == 0 || energy/float64(len(pcm)/2) < 1e5 {
		t.Errorf("decoded audio is silent: %d samples, mean energy %.0f", len(pcm), energy/float64(len(pcm)/2+1))
	}
	_ = bytes.Equal
}
