package player

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// ring is what a test sees of a track's ring.
type ring struct {
	units  int    // ring length (units)
	want   int    // what the producer grows it to
	level  int    // units buffered
	tail   uint64 // units published so far
	pcm    bool   // PCM storage exists
	pkts   int    // bytes of the packet ring
	live   int64  // bytes of packets buffered
	exists bool
}

// ringOf returns the ring of the current (or, with next, the prepared)
// source.
func ringOf(p *Player, next bool) ring {
	p.mu.Lock()
	t := p.cur
	if next {
		t = p.next
	}
	p.mu.Unlock()
	if t == nil {
		return ring{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return ring{units: len(t.units), want: t.want, level: int(t.tail - t.head), tail: t.tail,
		pcm: t.pcm != nil, pkts: len(t.pkts), live: t.pktTail - t.pktHead, exists: true}
}

// TestReaderRefillsAtLowWater: the reader is not woken after every frame
// NextFrame takes: it refills the ring in one go when half of it is
// free, and playback never runs dry.
func TestReaderRefillsAtLowWater(t *testing.T) {
	for _, format := range []string{"wav16", "opus"} {
		t.Run(format, func(t *testing.T) {
			a := fixture{format: format, signal: tone(440, 0.5), secs: 10}.path(t)
			synctest.Test(t, func(t *testing.T) {
				h := newHost()
				p := newPlayer(t, h, nil)
				d := newDriver(p, 20*time.Millisecond)
				h.add(item("a", a))
				d.pull(5)
				r := ringOf(p, false)
				if r.units != aheadUnits || r.level < aheadUnits/2 {
					t.Fatalf("audible ring %+v, want %d units, filled", r, aheadUnits)
				}
				const frames = 150
				refills, lowest := 0, r.level
				for range frames {
					d.pull(1)
					n := ringOf(p, false)
					if n.tail != r.tail {
						refills++
					}
					lowest = min(lowest, n.level)
					r = n
				}
				// Half of the ring: a refill every aheadUnits/2 frames.
				if per := aheadUnits / 2; refills > frames/per+1 || refills < frames/per-1 {
					t.Errorf("%d refills in %d frames, want one per half ring (%d)", refills, frames, frames/per)
				}
				if lowest < aheadUnits/2-1 {
					t.Errorf("the ring went down to %d units", lowest)
				}
				if st := p.Stats(); st.Nulled != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		})
	}
}

func hasEncoder(p *Player) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.ready()
}

// TestRingDepth: a prepared source reads 60 ms ahead, an audible one
// 200 ms; a passthrough source has no PCM storage (and the player no
// encoder) until it needs PCM, and its packets take what their sizes
// need; an idle player drops its encoder.
func TestRingDepth(t *testing.T) {
	a := fixture{format: "opus", signal: tone(440, 0.5), secs: 3}.path(t)
	w := fixture{format: "wav16", signal: tone(440, 0.5), secs: 3}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		// 3 s sources: the next one is prepared at once (PreloadTime 10 s).
		h.add(item("a", a), item("b", a), item("w", w))
		d.pull(10)
		cur, next := ringOf(p, false), ringOf(p, true)
		if cur.units != aheadUnits || cur.pcm || !next.exists || next.units != prepUnits || next.pcm {
			t.Fatalf("current %+v, next %+v: want %d and %d units, no PCM", cur, next, aheadUnits, prepUnits)
		}
		// 128 kb/s: about 320 bytes a packet; the byte ring is sized
		// for what it holds, not for 1,500 bytes a unit.
		if cur.pkts > aheadUnits*packetGuess*2 || cur.live > int64(cur.pkts) || cur.live < int64(cur.level)*100 {
			t.Errorf("packet ring of %d bytes holding %d for %d units", cur.pkts, cur.live, cur.level)
		}
		if hasEncoder(p) {
			t.Error("an encoder while passing packets through")
		}
		// A volume change needs PCM: decoding alongside, an encoder.
		p.SetVolume(0.5)
		d.pull(10)
		cur = ringOf(p, false)
		if enc := hasEncoder(p); !cur.pcm || !enc || p.Stats().Encoded == 0 {
			t.Fatalf("after SetVolume: ring %+v, encoder %v, stats %+v", cur, enc, p.Stats())
		}
		// b, then the WAV: PCM storage for the ring it has.
		d.until(500, func() bool { _, ok := h.find("start", "w"); return ok })
		d.pull(10)
		cur = ringOf(p, false)
		if cur.units != aheadUnits || !cur.pcm || cur.pkts != 0 {
			t.Errorf("WAV ring %+v", cur)
		}
		d.until(500, func() bool { _, ok := h.find("stop", "w"); return ok })
		d.pull(5)
		p.mu.Lock()
		enc, tracks := p.out.ready(), len(p.tracks)
		p.mu.Unlock()
		if enc || tracks != 0 {
			t.Errorf("idle: encoder %v, %d tracks", enc, tracks)
		}
		if st := p.Stats(); st.Nulled != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// gate holds the Reads of the streams it opens while it is shut.
type gate struct {
	Opener
	mu   sync.Mutex
	shut chan struct{} // nil: open
	slow time.Duration // the next Read takes this long, once
}

func (g *gate) close() {
	g.mu.Lock()
	g.shut = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.mu.Unlock()
}

func (g *gate) delayNext(d time.Duration) {
	g.mu.Lock()
	g.slow = d
	g.mu.Unlock()
}

func (g *gate) Open(ctx context.Context, md audio.Metadata) (audio.Stream, error) {
	st, err := g.Opener.Open(ctx, md)
	if err != nil {
		return nil, err
	}
	return &gatedStream{Stream: st, g: g, closed: make(chan struct{})}, nil
}

type gatedStream struct {
	audio.Stream
	g      *gate
	once   sync.Once
	closed chan struct{}
}

var errGateClosed = errors.New("gated stream closed")

func (s *gatedStream) Read(b []byte) (int, error) {
	s.g.mu.Lock()
	shut, slow := s.g.shut, s.g.slow
	s.g.slow = 0
	s.g.mu.Unlock()
	if slow > 0 {
		time.Sleep(slow)
	}
	if shut != nil {
		select {
		case <-shut:
		case <-s.closed:
			return 0, errGateClosed
		}
	}
	return s.Stream.Read(b)
}

func (s *gatedStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.Stream.Close()
}

// gatedPlayer plays the file at path through a gate and pulls 10 frames.
func gatedPlayer(t *testing.T, path string) (*Player, *gate, *driver) {
	t.Helper()
	h := newHost()
	g := &gate{}
	p := newPlayer(t, h, func(c *Config) { g.Opener = c.Opener; c.Opener = g })
	d := newDriver(p, 20*time.Millisecond)
	h.add(item("a", path))
	d.pull(10)
	return p, g, d
}

// TestRingGrows: a source whose Read took 50 ms or more, or whose reader
// let the ring drain below a quarter, gets the whole BufferLimit.
func TestRingGrows(t *testing.T) {
	a := fixture{format: "wav16", signal: tone(440, 0.5), secs: 20}.path(t)
	maxUnits := int(DefaultBufferLimit / audio.FrameDuration)
	t.Run("slow read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, g, d := gatedPlayer(t, a)
			if r := ringOf(p, false); r.units != aheadUnits {
				t.Fatalf("ring %+v", r)
			}
			// The next Read of the source (16 KB of WAV: within 0.1 s)
			// takes 60 ms; the ring, 200 ms deep, does not run dry.
			g.delayNext(60 * time.Millisecond)
			d.pull(40)
			if r := ringOf(p, false); r.units != maxUnits || r.level < maxUnits*3/4 {
				t.Errorf("after a slow read: ring %+v, want %d units, filled", r, maxUnits)
			}
			if st := p.Stats(); st.Nulled != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	})
	t.Run("drained", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, g, d := gatedPlayer(t, a)
			// The source stops delivering: the ring drains.
			g.close()
			d.until(60, func() bool { return ringOf(p, false).level < aheadUnits/4 })
			if r := ringOf(p, false); r.want != maxUnits || r.units != aheadUnits {
				t.Errorf("drained to %d units: want %d (of %d units), want %d", r.level, r.want, r.units, maxUnits)
			}
			g.open()
			d.pull(20)
			if r := ringOf(p, false); r.units != maxUnits {
				t.Errorf("ring %+v, want %d units", r, maxUnits)
			}
			if st := p.Stats(); st.Nulled != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// BenchmarkPlayerMemory reports the Go heap a playing player holds
// (B/player, after a GC): one source audible, or one audible and the
// next prepared (its preload window), passing packets through or
// decoding (WAV) and encoding; and an idle player. The voice connection
// is not included.
func BenchmarkPlayerMemory(b *testing.B) {
	const players = 20
	opus := fixture{format: "opus", signal: benchSignal, secs: 60}.path(b)
	wav := fixture{format: "wav16", signal: benchSignal, secs: 60}.path(b)
	short := map[string]string{
		opus: fixture{format: "opus", signal: benchSignal, secs: 5}.path(b),
		wav:  fixture{format: "wav16", signal: benchSignal, secs: 5}.path(b),
	}
	for _, c := range []struct {
		name string
		file string
		next bool
	}{
		{"idle", "", false},
		{"passthrough", opus, false},
		{"passthrough-preload", opus, true},
		{"encode", wav, false},
		{"encode-preload", wav, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = playerHeap(b, players, c.file, short[c.file], c.next)
			}
			b.ReportMetric(per, "B/player")
		})
	}
}

// playerHeap starts n players playing file (with next prepared, a short
// file whose successor is prepared at once) and returns the heap they
// hold per player.
func playerHeap(b *testing.B, n int, file, shortFile string, next bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ps := make([]*Player, n)
	r := resolver(b, nil)
	for i := range ps {
		h := newHost()
		p, err := New(Config{Host: h, Opener: r})
		if err != nil {
			b.Fatal(err)
		}
		h.p = p
		ps[i] = p
		wg.Go(func() { p.Run(ctx) })
		switch {
		case file == "":
		case next:
			h.add(item(fmt.Sprint(i, "a"), shortFile), item(fmt.Sprint(i, "b"), file))
		default:
			h.add(item(fmt.Sprint(i, "a"), file))
		}
	}
	buf := make([]byte, audio.MaxOpusFrame)
	for range 25 { // 0.5 s: every ring filled
		for _, p := range ps {
			p.NextFrame(buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range ps {
		if file != "" && (ringOf(p, false).level == 0 || next != ringOf(p, true).exists) {
			b.Fatalf("player not in the state measured: %+v, next %+v", ringOf(p, false), ringOf(p, true))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	cancel()
	wg.Wait()
	runtime.KeepAlive(ps)
	held := int64(after.HeapAlloc+after.StackInuse) - int64(before.HeapAlloc+before.StackInuse)
	return float64(held) / float64(n)
}
