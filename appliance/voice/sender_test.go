package voice

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scriptSource plays a script: per slot, a frame length (0 = nothing) or,
// with stall set for that slot, sleeps first.
type scriptSource struct {
	mu     sync.Mutex
	script []int // frame lengths per call; past the end: 0
	stalls map[int]time.Duration
	calls  int
}

func (s *scriptSource) NextFrame(buf []byte) int {
	s.mu.Lock()
	i := s.calls
	s.calls++
	d := s.stalls[i]
	n := 0
	if i < len(s.script) {
		n = s.script[i]
	}
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	for j := range n {
		buf[j] = byte(i) // frame i is filled with byte i
	}
	return n
}

// steady plays n frames of 100 bytes, then nothing.
func steady(n int) *scriptSource {
	src := &scriptSource{script: make([]int, n)}
	for i := range src.script {
		src.script[i] = 100
	}
	return src
}

// sent is one thing the send loop did, in order.
type sent struct {
	at       time.Time
	speaking int // -1 packet, 0 speaking off, 1 on
	pkt      []byte
}

type recorder struct {
	mu  sync.Mutex
	log []sent
}

func (r *recorder) write(pkt []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, sent{at: time.Now(), speaking: -1, pkt: bytes.Clone(pkt)})
	return nil
}

func (r *recorder) speaking(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := 0
	if on {
		v = 1
	}
	r.log = append(r.log, sent{at: time.Now(), speaking: v})
	return nil
}

func (r *recorder) packets() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sent
	for _, s := range r.log {
		if s.speaking < 0 && len(s.pkt) != 8 {
			out = append(out, s)
		}
	}
	return out
}

// markE2EE "encrypts" by appending 0xEE; it must never see silence.
type markE2EE struct{ calls atomic.Int64 }

func (m *markE2EE) Start(int) error          { return nil }
func (m *markE2EE) Handle(int, []byte) error { return nil }
func (m *markE2EE) EncryptOpus(dst, opus []byte) ([]byte, error) {
	m.calls.Add(1)
	return append(append(dst, opus...), 0xEE), nil
}

var testKey = bytes.Repeat([]byte{7}, 32)

func newTestLoop(t *testing.T, src FrameSource, rec *recorder, e2ee E2EE) (*sendLoop, *counters) {
	t.Helper()
	pk, err := newPacketizer(ModeAES256GCM, testKey, 42, 65533, 1<<32-960*2, 1<<32-2)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[FrameSource]
	p.Store(&src)
	ctrs := &counters{}
	return newSendLoop(&sendLoop{
		source: &p, pk: pk, e2ee: e2ee, write: rec.write, speaking: rec.speaking,
		stats: ctrs, log: slog.New(slog.DiscardHandler),
	}), ctrs
}

// open decrypts a packet made with testKey in AES-GCM mode.
func open(t *testing.T, pkt []byte) (seq uint16, ts, nonce uint32, payload []byte) {
	t.Helper()
	a, err := newAEAD(ModeAES256GCM, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var n [12]byte
	copy(n[:], pkt[len(pkt)-4:])
	payload, err = a.Open(nil, n[:], pkt[12:len(pkt)-4], pkt[:12])
	if err != nil {
		t.Fatalf("packet does not decrypt: %v", err)
	}
	return binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[4:]), binary.BigEndian.Uint32(pkt[len(pkt)-4:]), payload
}

func runLoop(t *testing.T, l *sendLoop, d time.Duration) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.run(ctx) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestSendLoopGrid: every packet leaves exactly on start + n·20 ms.
func TestSendLoopGrid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := steady(50)
		rec := &recorder{}
		l, ctrs := newTestLoop(t, src, rec, nil)
		start := time.Now()
		runLoop(t, l, 1200*time.Millisecond)
		pkts := rec.packets()
		if len(pkts) != 50+silenceFrames {
			t.Fatalf("%d packets, want %d", len(pkts), 50+silenceFrames)
		}
		for i, p := range pkts {
			if want := start.Add(time.Duration(i) * FrameInterval); !p.at.Equal(want) {
				t.Errorf("packet %d at %v, want %v", i, p.at.Sub(start), want.Sub(start))
			}
		}
		if ctrs.frames.Load() != 50 || ctrs.silence.Load() != silenceFrames || ctrs.skipped.Load() != 0 {
			t.Errorf("frames %d silence %d skipped %d", ctrs.frames.Load(), ctrs.silence.Load(), ctrs.skipped.Load())
		}
	})
}

// TestSendLoopLead: with the timer lead the connections use, every packet
// after the first leaves timerLead before its slot (the first at once), the
// deviation observed is |actual − slot|, and no slot is counted late or
// skipped.
func TestSendLoopLead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := steady(20)
		rec := &recorder{}
		l, ctrs := newTestLoop(t, src, rec, nil)
		l.lead = timerLead
		var mu sync.Mutex
		var seen []time.Duration
		l.observe = func(d time.Duration) { mu.Lock(); seen = append(seen, d); mu.Unlock() }
		start := time.Now()
		runLoop(t, l, 500*time.Millisecond)
		pkts := rec.packets()
		if len(pkts) != 20+silenceFrames {
			t.Fatalf("%d packets, want %d", len(pkts), 20+silenceFrames)
		}
		for i, p := range pkts {
			want := start.Add(time.Duration(i)*FrameInterval - timerLead)
			if i == 0 {
				want = start
			}
			if !p.at.Equal(want) {
				t.Errorf("packet %d at %v, want %v", i, p.at.Sub(start), want.Sub(start))
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != len(pkts) || seen[0] != 0 || seen[1] != timerLead {
			t.Errorf("observed %v", seen)
		}
		if ctrs.late.Load() != 0 || ctrs.skipped.Load() != 0 {
			t.Errorf("late %d skipped %d", ctrs.late.Load(), ctrs.skipped.Load())
		}
	})
}

// TestSendLoopSkipsAfterStall: a source that stalls 70 ms costs the slots
// that passed; nothing is sent in a burst and the grid stays absolute.
func TestSendLoopSkipsAfterStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scriptSource{stalls: map[int]time.Duration{10: 70 * time.Millisecond}}
		for range 30 {
			src.script = append(src.script, 100)
		}
		rec := &recorder{}
		l, ctrs := newTestLoop(t, src, rec, nil)
		start := time.Now()
		runLoop(t, l, 2*time.Second)
		pkts := rec.packets()
		for i := 1; i < len(pkts); i++ {
			if gap := pkts[i].at.Sub(pkts[i-1].at); gap < FrameInterval/2 {
				t.Errorf("packets %d and %d only %v apart: a burst", i-1, i, gap)
			}
		}
		for i, p := range pkts {
			off := p.at.Sub(start)
			if i == 10 {
				if off != 270*time.Millisecond {
					t.Errorf("stalled packet at %v, want 270ms", off)
				}
				continue
			}
			if off%FrameInterval != 0 {
				t.Errorf("packet %d at %v: off the grid", i, off)
			}
		}
		if pkts[11].at.Sub(start) != 280*time.Millisecond {
			t.Errorf("packet after the stall at %v, want 280ms", pkts[11].at.Sub(start))
		}
		if got := ctrs.skipped.Load(); got != 3 {
			t.Errorf("skipped %d slots, want 3 (220, 240, 260 ms)", got)
		}
		if len(pkts) != 30+silenceFrames {
			t.Errorf("%d packets, want %d: no frame may be lost to the stall", len(pkts), 30+silenceFrames)
		}
	})
}

// TestSendLoopSilenceAndSpeaking: Speaking before the first packet, five
// F8 FF FE after audio stops (not through E2EE), Speaking off, nothing
// while idle, Speaking on again when audio resumes; audio returning
// within the silence tail cancels it without a toggle.
func TestSendLoopSilenceAndSpeaking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// slots: 0-4 audio, 5-6 nothing (2 silence), 7-8 audio, then
		// nothing until 20, 20-22 audio, then nothing.
		script := make([]int, 30)
		for _, i := range []int{0, 1, 2, 3, 4, 7, 8, 20, 21, 22} {
			script[i] = 50 + i
		}
		src := &scriptSource{script: script}
		rec := &recorder{}
		e := &markE2EE{}
		l, _ := newTestLoop(t, src, rec, e)
		runLoop(t, l, 40*FrameInterval)

		var got []string
		var lastSeq uint16
		var lastTS, lastNonce uint32
		for i, s := range rec.log {
			switch s.speaking {
			case 1:
				got = append(got, "on")
			case 0:
				got = append(got, "off")
			default:
				seq, ts, nonce, payload := open(t, s.pkt)
				if i > 1 && (seq != lastSeq+1 || ts != lastTS+960 || nonce != lastNonce+1) {
					t.Errorf("seq/ts/nonce %d/%d/%d after %d/%d/%d", seq, ts, nonce, lastSeq, lastTS, lastNonce)
				}
				lastSeq, lastTS, lastNonce = seq, ts, nonce
				switch {
				case bytes.Equal(payload, silence[:]):
					got = append(got, "S")
				case len(payload) > 0 && payload[len(payload)-1] == 0xEE:
					got = append(got, "A")
				default:
					t.Errorf("payload % x neither silence nor E2EE-wrapped audio", payload[:min(8, len(payload))])
				}
			}
		}
		want := "on A A A A A S S A A S S S S S off on A A A S S S S S off"
		if g := join(got); g != want {
			t.Errorf("sequence\n got %s\nwant %s", g, want)
		}
		if e.calls.Load() != 10 {
			t.Errorf("E2EE saw %d frames, want the 10 audio frames only", e.calls.Load())
		}
	})
}

// TestSendLoopStopsSpeaking: stopping mid-spurt clears Speaking.
func TestSendLoopStopsSpeaking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scriptSource{script: []int{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}}
		rec := &recorder{}
		l, _ := newTestLoop(t, src, rec, nil)
		runLoop(t, l, 5*FrameInterval)
		if last := rec.log[len(rec.log)-1]; last.speaking != 0 {
			t.Errorf("last action %+v, want speaking off", last)
		}
	})
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// TestSendLoopKeepAlive: every 5 s an 8-byte keep-alive with a
// little-endian counter, talking or not.
func TestSendLoopKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		script := make([]int, 300) // audio for 6 s, then silence
		for i := range script {
			script[i] = 10
		}
		rec := &recorder{}
		l, _ := newTestLoop(t, &scriptSource{script: script}, rec, nil)
		start := time.Now()
		runLoop(t, l, 16*time.Second)
		var got []string
		for _, s := range rec.log {
			if s.speaking < 0 && len(s.pkt) == 8 {
				got = append(got, fmt.Sprintf("%v:%x", s.at.Sub(start), s.pkt))
			}
		}
		want := []string{"4.98s:0000000000000000", "9.98s:0100000000000000", "14.98s:0200000000000000"}
		if !slices.Equal(got, want) {
			t.Errorf("keep-alives %q, want %q", got, want)
		}
	})
}
