package appliance_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sub is a Subscriber that records frames.
type sub struct {
	mu     sync.Mutex
	frames []protocol.Frame
}

func (s *sub) Send(b []byte) {
	f, err := protocol.DecodeFrame(b)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.frames = append(s.frames, f)
	s.mu.Unlock()
}

func (s *sub) ops() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ops []string
	for _, f := range s.frames {
		ops = append(ops, f.Op)
	}
	return ops
}

func (s *sub) last(op string) protocol.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.frames) - 1; i >= 0; i-- {
		if s.frames[i].Op == op {
			return s.frames[i]
		}
	}
	return protocol.Frame{}
}

// running is a node running in the test's bubble.
type running struct {
	*appliance.Node
	db   *store.DB
	stop func()
}

func run(t *testing.T, path string, cfg appliance.Config) *running {
	t.Helper()
	db, _, err := store.Open(path, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := appliance.New(cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	r := &running{Node: n, db: db}
	r.stop = func() { cancel(); <-done; db.Close() }
	return r
}

func dispatch(t *testing.T, m *appliance.Manager, ev string, d map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"op": 0, "t": ev, "d": d})
	if err := m.DiscordEvent(b); err != nil {
		t.Fatalf("%s: %v", ev, err)
	}
}

func TestVCTimeoutIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		n := run(t, path, appliance.Config{VCTimeout: 300 * time.Second})
		defer n.stop()
		s := &sub{}
		m, err := n.Identify("1", "", s)
		if err != nil {
			t.Fatal(err)
		}
		m.Leave(s)
		time.Sleep(300*time.Second - time.Millisecond)
		synctest.Wait()
		if _, err := n.FindManager("1", ""); err != nil {
			t.Fatalf("destroyed 1 ms early: %v", err)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, err := n.FindManager("1", ""); err == nil {
			t.Fatal("still alive at VC_TIMEOUT")
		}
		st, _ := n.db.Load()
		if len(st.Sessions) != 0 {
			t.Fatalf("store still holds %+v", st.Sessions)
		}
		// A later IDENTIFY is a fresh session: no RESUMED.
		s2 := &sub{}
		if _, err := n.Identify("1", "", s2); err != nil {
			t.Fatal(err)
		}
		if ops := s2.ops(); strings.Join(ops, ",") != "IDENTIFIED" {
			t.Fatalf("after cleanup: %v", ops)
		}
	})
}

func TestIdentifyBeforeTimeoutResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := run(t, filepath.Join(t.TempDir(), "s.db"), appliance.Config{VCTimeout: 10 * time.Second})
		defer n.stop()
		s := &sub{}
		m, _ := n.Identify("1", "2", s)
		dispatch(t, m, "VOICE_STATE_UPDATE", map[string]any{"guild_id": "5", "channel_id": "6", "user_id": "1", "session_id": "x"})
		m.Leave(s)
		time.Sleep(9 * time.Second)
		s2 := &sub{}
		if _, err := n.Identify("1", "2", s2); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour) // the countdown stopped
		synctest.Wait()
		if got := strings.Join(s2.ops(), ","); got != "IDENTIFIED,RESUMED" {
			t.Fatalf("ops %v", got)
		}
		if d := string(s2.last("RESUMED").D); d != `{"voice_clients":[["5","6"]]}` {
			t.Fatalf("RESUMED %s", d)
		}
	})
}

func TestRestartKeepsStateAndDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		cfg := appliance.Config{VCTimeout: 100 * time.Second}
		n := run(t, path, cfg)
		open, counting, stale := &sub{}, &sub{}, &sub{}
		mOpen, _ := n.Identify("1", "", open)
		dispatch(t, mOpen, "VOICE_STATE_UPDATE", map[string]any{"guild_id": "5", "channel_id": "6", "user_id": "1", "session_id": "x"})
		vc, err := mOpen.VoiceClient("5")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vc.PutSource([]protocol.AudioData{{URL: protocol.T("http://a"), Tag: "a"}, {ID: protocol.LooseText{Text: protocol.T("b")}, Tag: "b"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := vc.SetOptions(context.Background(), []byte(`{"volume":0.25}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := vc.SetContext([]byte(`{"who":"me"}`)); err != nil {
			t.Fatal(err)
		}
		vcID := vc.ID()
		mCounting, _ := n.Identify("2", "", counting)
		mCounting.Leave(counting) // deadline T0+100
		time.Sleep(50 * time.Second)
		mStale, _ := n.Identify("3", "", stale)
		mStale.Leave(stale) // deadline T0+150
		n.stop()            // the node dies with socket 1 open

		time.Sleep(120 * time.Second) // down for 2 minutes: now T0+170
		n = run(t, path, cfg)
		defer n.stop()
		if _, err := n.FindManager("2", ""); err == nil {
			t.Error("tag 2's deadline passed while the node was down, but it was restored")
		}
		if _, err := n.FindManager("3", ""); err == nil {
			t.Error("tag 3's deadline passed while the node was down, but it was restored")
		}
		// Tag 1 had its socket open: it gets start-up + VC_TIMEOUT.
		time.Sleep(99 * time.Second)
		synctest.Wait()
		s := &sub{}
		m, err := n.Identify("1", "", s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.ops(), ","); got != "IDENTIFIED,RESUMED" {
			t.Fatalf("ops %v", got)
		}
		vc, err = m.VoiceClient("5")
		if err != nil || vc.ID() != vcID {
			t.Fatalf("voice client after restart: %v (id %q, was %q)", err, vc.ID(), vcID)
		}
		entries, _ := vc.Entries()
		if len(entries) != 2 || !strings.Contains(string(entries[0]), `"tag":"a"`) || !strings.Contains(string(entries[1]), `"tag":"b"`) {
			t.Fatalf("queue after restart: %s", entries)
		}
		o, _ := vc.Options()
		c, _ := vc.Context()
		if o.Volume != 0.25 || string(c) != `{"who":"me"}` {
			t.Fatalf("options %+v context %s", o, c)
		}
	})
}

func TestRestartGivesOpenTagsAFreshTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		cfg := appliance.Config{VCTimeout: 100 * time.Second}
		n := run(t, path, cfg)
		n.Identify("1", "", &sub{})
		n.stop()
		time.Sleep(time.Hour)
		n = run(t, path, cfg)
		defer n.stop()
		time.Sleep(100*time.Second - time.Millisecond)
		synctest.Wait()
		if _, err := n.FindManager("1", ""); err != nil {
			t.Fatal("destroyed before start-up + VC_TIMEOUT")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, err := n.FindManager("1", ""); err == nil {
			t.Fatal("alive after start-up + VC_TIMEOUT")
		}
	})
}

func TestShardFallbackAndSessionLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := run(t, filepath.Join(t.TempDir(), "s.db"), appliance.Config{MaxSessions: 2})
		defer n.stop()
		n.Identify("1", "0", &sub{})
		if m, err := n.FindManager("1", ""); err != nil || m.Tag() != "1-0" {
			t.Fatalf("the only sharded session: %v %v", m, err)
		}
		n.Identify("1", "1", &sub{})
		if _, err := n.FindManager("1", ""); err == nil {
			t.Fatal("ambiguous without Shard-ID")
		}
		if _, err := n.Identify("9", "", &sub{}); err == nil || !strings.Contains(err.Error(), "too many sessions") {
			t.Fatalf("third session: %v", err)
		}
	})
}

func TestHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := run(t, filepath.Join(t.TempDir(), "s.db"), appliance.Config{})
		n.Identify("1", "", &sub{})
		if err := n.Healthy(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := n.Healthy(ctx); err == nil {
			t.Fatal("healthy after Run returned")
		}
	})
}
