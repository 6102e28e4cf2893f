package player

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// TestSkipCrossfadeZero: with crossfade 0 a skip is a 20 ms
// equal-power crossfade into the next source.
func TestSkipCrossfadeZero(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 3}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 1}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(20)
		if err := p.Skip(); err != nil {
			t.Fatal(err)
		}
		mark := len(d.frames)
		d.pull(3)
		ia := int(samplesOf(d, mark)) // a's samples played before the skip
		f := d.frames[mark]
		checkSamples(t, "skip fade", f, func(i int) float64 {
			x := float64(i) / 960
			return sine(440, 0.5, ia+i)*math.Cos(x*math.Pi/2) + sine(660, 0.5, i)*math.Sin(x*math.Pi/2)
		}, 2e-4)
		checkSamples(t, "after", d.frames[mark+1], func(i int) float64 { return sine(660, 0.5, 960+i) }, 2e-4)
		wantKinds(t, h, "start a", "start b", "stop a skipped", "require b")
	})
}

// samplesOf counts the PCM samples of the frames before index i.
func samplesOf(d *driver, i int) int64 {
	var n int64
	for _, f := range d.frames[:i] {
		n += int64(len(f) / 2)
	}
	return n
}

// TestSkipCrossfade: a skip mid-source crossfades over the crossfade
// length; a skip with an empty queue fades out over 20 ms and stops.
func TestSkipCrossfade(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 3}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 3}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Crossfade = 300 * time.Millisecond })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(10)
		p.Skip()
		mark := len(d.frames)
		d.pull(20)
		ia := int(samplesOf(d, mark))
		got := d.pcm(mark)[:2*14400+2*960]
		checkSamples(t, "skip crossfade", got, func(i int) float64 {
			x := math.Min(float64(i)/14400, 1)
			return sine(440, 0.5, ia+i)*math.Cos(x*math.Pi/2) + sine(660, 0.5, i)*math.Sin(x*math.Pi/2)
		}, 2e-4)
		wantKinds(t, h, "start a", "start b", "require b", "stop a skipped")
		// Nothing queued: the skip fades out in one frame and stops.
		p.Skip()
		mark = len(d.frames)
		d.pull(5)
		fo := d.frames[mark]
		if fo == nil || math.Abs(float64(fo[len(fo)-2])) > 1e-6 || d.sizes[mark+1] != 0 {
			t.Fatalf("no 20 ms fade-out then silence: %v", d.sizes[mark:])
		}
		wantKinds(t, h, "start a", "start b", "require b", "stop a skipped", "stop b skipped")
		if err := p.Skip(); !errors.Is(err, ErrNotPlaying) {
			t.Errorf("Skip with nothing playing: %v", err)
		}
		if err := p.Seek(0); !errors.Is(err, ErrNotPlaying) {
			t.Errorf("Seek with nothing playing: %v", err)
		}
	})
}

// TestSkipWhilePaused: the skip happens at once; the next source starts on
// Resume.
func TestSkipWhilePaused(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 3}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 1}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(10)
		p.Pause()
		d.pull(3)
		p.Skip()
		d.pull(5)
		wantKinds(t, h, "start a", "stop a skipped")
		p.Resume()
		d.pull(3)
		wantKinds(t, h, "start a", "stop a skipped", "start b", "require b")
	})
}

// TestQueueChangeReplacesPrepared: the prepared source is dropped when it
// left the head of the queue before it started.
func TestQueueChangeReplacesPrepared(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.6}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 0.6}.path(t)
	c := fixture{format: "wavf32", signal: tone(880, 0.5), secs: 0.6}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(10) // b is prepared by now
		p.mu.Lock()
		prepared := p.next != nil && p.next.it.Tag == "b"
		p.mu.Unlock()
		if !prepared {
			t.Fatal("b not prepared")
		}
		h.mu.Lock()
		h.queue = []Item{item("c", c)} // b deleted, c added
		h.mu.Unlock()
		p.QueueChanged()
		d.pull(60)
		wantKinds(t, h, "start a", "stop a ended", "start c", "require c", "stop c ended")
	})
}

// TestNotConnected: without NextFrame calls the player neither looks at
// the queue nor opens anything; once pulled it plays.
func TestNotConnected(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.5}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 0.5}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		time.Sleep(time.Second)
		if h.peeks != 0 {
			t.Fatalf("%d peeks before the first frame was pulled", h.peeks)
		}
		d.pull(40)
		wantKinds(t, h, "start a", "require a", "stop a ended")
		// Disconnected (no pulls for a while): a new entry is not touched.
		time.Sleep(time.Second)
		peeks := h.peeks
		h.add(item("b", b))
		time.Sleep(time.Second)
		if h.peeks != peeks || len(h.queue) != 1 {
			t.Fatalf("the queue was looked at while disconnected")
		}
		d.pull(40)
		wantKinds(t, h, "start a", "require a", "stop a ended", "start b", "require b", "stop b ended")
	})
}

// TestResumeItem: Config.Resume plays first from its position, then the
// queue.
func TestResumeItem(t *testing.T) {
	a := rampFixture(t, 3)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 0.3}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		r := item("r", a)
		r.StartPosition = 2500 * time.Millisecond
		p := newPlayer(t, h, func(c *Config) { c.Resume = &r })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("b", b))
		d.until(10, func() bool { _, ok := p.Current(); return ok })
		pl, _ := p.Current()
		if math.Abs(pl.Position.Seconds()-2.52) > 0.001 || pl.Item.Tag != "r" {
			t.Fatalf("playing %+v", pl)
		}
		f := d.frames[len(d.frames)-1]
		if pos := rampPos(f[0], f[1]); math.Abs(pos-2.5) > 1e-4 {
			t.Fatalf("first sample at %.5f s", pos)
		}
		d.pull(50)
		wantKinds(t, h, "start r", "stop r ended", "start b", "require b", "stop b ended")
	})
}

// TestAutoplay: RequireNextSource comes once per source with the autoplay
// flag; what the bot adds then plays next, gapless.
func TestAutoplay(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.5}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		n := 0
		h.onRequire = func(h *fakeHost) {
			if n++; n <= 2 {
				h.add(item(fmt.Sprint("auto", n), a))
			}
		}
		p := newPlayer(t, h, func(c *Config) { c.Autoplay = true })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(90)
		wantKinds(t, h, "start a", "require a", "stop a ended", "start auto1", "require auto1", "stop auto1 ended",
			"start auto2", "require auto2", "stop auto2 ended")
		ev, _ := h.find("require", "a")
		if ev.reason != "true" {
			t.Errorf("autoplay flag %q", ev.reason)
		}
		if got := len(d.pcm(0)) / 2; got != 3*24000 {
			t.Errorf("%d samples for three 0.5 s sources", got)
		}
		if st := p.Stats(); st.Nulled != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// speedFilter drops every other sample pair (a timescale at speed 2); it
// may be told to panic.
type speedFilter struct {
	out    []float32
	resets int
	boom   bool
}

func (f *speedFilter) Process(pcm []float32) []float32 {
	if f.boom {
		panic("boom")
	}
	f.out = f.out[:0]
	for i := 0; i+1 < len(pcm); i += 4 {
		f.out = append(f.out, pcm[i], pcm[i+1])
	}
	return f.out
}

func (f *speedFilter) Reset()         { f.resets++ }
func (f *speedFilter) String() string { return "speed" }

// TestFilterReframed: a filter that halves the length is re-framed into
// full 20 ms frames; the position follows the input; a panic bypasses it.
func TestFilterReframed(t *testing.T) {
	a := rampFixture(t, 4)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(10)
		before, _ := p.Current()
		f := &speedFilter{}
		p.SetFilter(f)
		mark := len(d.frames)
		d.pull(20)
		got := d.pcm(mark)
		if len(got) != 20*frameLen {
			t.Fatalf("%d samples in 20 frames", len(got)/2)
		}
		start := rampPos(got[0], got[1])
		for i := 0; i < len(got)/2; i += 97 {
			if pos := rampPos(got[2*i], got[2*i+1]); math.Abs(pos-start-float64(2*i)/48000) > 1e-4 {
				t.Fatalf("sample %d at %.5f s, want %.5f", i, pos, start+float64(2*i)/48000)
			}
		}
		if pl, _ := p.Current(); pl.Position-before.Position != 800*time.Millisecond {
			t.Errorf("position %v after %v + 20 frames at speed 2", pl.Position, before.Position)
		}
		f.boom = true
		d.pull(5)
		if ev, ok := h.find("filter", "speed"); !ok || !errors.Is(ev.err, ErrPanic) {
			t.Fatalf("no FilterError: %v", h.log())
		}
		for _, n := range d.sizes[len(d.sizes)-4:] {
			if n == 0 {
				t.Fatalf("audio stopped after the filter panicked: %v", d.sizes)
			}
		}
	})
}

// TestFailures: a missing file, a malformed file and an Opener that
// panics each give SOURCE_TRACEBACK and the next entry plays.
func TestFailures(t *testing.T) {
	good := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.3}.path(t)
	bad := filepath.Join(fixtureDir, "malformed.wav")
	if err := os.WriteFile(bad, append([]byte("RIFF\x00\x00\x00\x00WAVEfmt "), make([]byte, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Opener = panicky{c.Opener} })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("missing", "nothing-here.wav"), item("bad", "malformed.wav"), item("panic", "panic.wav"), item("good", good))
		d.pull(40)
		wantKinds(t, h, "traceback missing", "traceback bad", "player", "traceback panic", "start good", "require good", "stop good ended")
		for _, want := range []struct {
			tag string
			err error
		}{{"missing", audio.ErrNotFound}, {"bad", audio.ErrMalformed}, {"panic", ErrPanic}} {
			if ev, _ := h.find("traceback", want.tag); !errors.Is(ev.err, want.err) || !errors.Is(ev.err, ErrOpen) && want.err != ErrPanic {
				t.Errorf("%s: %v, want %v", want.tag, ev.err, want.err)
			}
		}
		if len(h.queue) != 0 {
			t.Errorf("queue left: %v", h.queue)
		}
	})
}

type panicky struct{ Opener }

func (o panicky) Open(ctx context.Context, md audio.Metadata) (audio.Stream, error) {
	if strings.HasPrefix(md.URL, "panic") {
		panic("opener exploded")
	}
	return o.Opener.Open(ctx, md)
}

// TestDecodeErrorMidStream: a FLAC file damaged in its middle plays up to
// the damage, then SOURCE_TRACEBACK, SOURCE_STOP failed, and the next one.
func TestDecodeErrorMidStream(t *testing.T) {
	src := fixture{format: "flac", signal: tone(440, 0.5), secs: 2}.path(t)
	good := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 0.3}.path(t)
	data, err := os.ReadFile(filepath.Join(fixtureDir, src))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 2; i < len(data)/2+4000; i++ {
		data[i] = 0xFF
	}
	if err := os.WriteFile(filepath.Join(fixtureDir, "damaged.flac"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("damaged", "damaged.flac"), item("good", good))
		d.pull(120)
		wantKinds(t, h, "start damaged", "traceback damaged", "stop damaged failed", "start good", "require good", "stop good ended")
		if ev, _ := h.find("traceback", "damaged"); !errors.Is(ev.err, ErrDecode) {
			t.Errorf("traceback %v, want ErrDecode", ev.err)
		}
	})
}

// TestSeekDuringCrossfade: the outgoing source ends at once, the incoming
// one seeks.
func TestSeekDuringCrossfade(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 1}.path(t)
	b := rampFixture(t, 3)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Crossfade = 500 * time.Millisecond })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.until(60, func() bool { _, ok := h.find("start", "b"); return ok })
		d.pull(5)
		if err := p.Seek(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		mark := len(d.frames)
		d.pull(5)
		wantKinds(t, h, "start a", "start b", "require b", "stop a ended")
		f := d.frames[mark+2]
		if pos := rampPos(f[0], f[1]); math.Abs(pos-2.02) > 1e-3 {
			t.Errorf("after the seek: %.4f s, want 2.02", pos)
		}
		if p.fade.on {
			t.Error("still crossfading")
		}
	})
}

// TestSeekPassthrough: a seek while passing packets through goes on with
// the file's packets from the one containing the target.
func TestSeekPassthrough(t *testing.T) {
	a := fixture{format: "opus", signal: tone(440, 0.5), secs: 3}.path(t)
	want := opusPackets(t, a, 2*time.Second)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(20)
		if err := p.Seek(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		mark := len(d.pkts)
		d.pull(len(want) + 10)
		var got [][]byte
		for _, pk := range d.pkts[mark:] {
			if pk != nil {
				got = append(got, pk)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d packets after the seek, want %d", len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("packet %d after the seek is not the file's", i)
			}
		}
		if st := p.Stats(); st.Encoded != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// hostileFilter returns what a broken WASM module might: odd lengths,
// nothing, far too much, NaN and infinities.
type hostileFilter struct {
	n   int
	out []float32
}

func (f *hostileFilter) Process(pcm []float32) []float32 {
	f.n++
	switch f.n % 5 {
	case 0:
		return pcm[:len(pcm)-1]
	case 1:
		return nil
	case 2:
		f.out = f.out[:0]
		for range 10 {
			f.out = append(f.out, pcm...)
		}
		return f.out
	case 3:
		for i := range pcm {
			pcm[i] = float32(math.NaN())
		}
		pcm[0], pcm[1] = float32(math.Inf(1)), float32(math.Inf(-1))
		return pcm
	}
	for i := range pcm {
		pcm[i] *= 1e6
	}
	return pcm
}

func (f *hostileFilter) Reset() {}

// TestHostileFilter: whatever a filter returns, frames stay full, finite
// and within [-1, 1].
func TestHostileFilter(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 2}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(5)
		p.SetFilter(&hostileFilter{})
		d.pull(40)
		for i, f := range d.frames[5:] {
			if f == nil {
				continue
			}
			if len(f) != frameLen {
				t.Fatalf("frame %d: %d samples", i, len(f))
			}
			for _, v := range f {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("frame %d: sample %v", i, v)
				}
			}
		}
		if ev, ok := h.find("player", ""); ok {
			t.Errorf("traceback: %v", ev.err)
		}
	})
}

// slowOpener delays opening the sources whose URL starts with "slow".
type slowOpener struct {
	Opener
	delay time.Duration
}

func (o slowOpener) Open(ctx context.Context, md audio.Metadata) (audio.Stream, error) {
	if strings.HasPrefix(md.Title, "slow") {
		select {
		case <-time.After(o.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return o.Opener.Open(ctx, md)
}

// TestSkipNextNotReady: mid-source (nothing prepared yet) a skip keeps the
// current source up to 100 ms for the next one, then fades out; the next
// starts when it opened.
func TestSkipNextNotReady(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 30}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 1}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Opener = slowOpener{c.Opener, 500 * time.Millisecond} })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("slowb", b))
		d.pull(10)
		p.Skip()
		mark := len(d.frames)
		d.pull(40)
		// a plays 5 more frames, fades out in the 7th, then silence.
		for i := range 6 {
			if d.frames[mark+i] == nil {
				t.Fatalf("frame %d after the skip is empty", i)
			}
		}
		fo := d.frames[mark+6]
		if fo == nil || math.Abs(float64(fo[len(fo)-2])) > 1e-6 || d.sizes[mark+7] != 0 {
			t.Fatalf("no fade-out after 100 ms: %v", d.sizes[mark:])
		}
		wantKinds(t, h, "start a", "stop a skipped", "start slowb", "require slowb")
		ev, _ := h.find("start", "slowb")
		ea, _ := h.find("stop", "a")
		if d := ev.at.Sub(ea.at); d < 350*time.Millisecond || d > 450*time.Millisecond {
			t.Errorf("slowb started %v after a stopped; it took 500 ms to open from the skip", d)
		}
	})
}

// TestStartPaused: a player restored paused plays nothing (and starts
// nothing) until Resume.
func TestStartPaused(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.5}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Paused = true })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(20)
		for i, n := range d.sizes {
			if n != 0 {
				t.Fatalf("frame %d while paused", i)
			}
		}
		wantKinds(t, h)
		if !p.Paused() {
			t.Fatal("not paused")
		}
		p.Resume()
		d.pull(30)
		wantKinds(t, h, "start a", "require a", "stop a ended")
		if got := len(d.pcm(0)) / 2; got != 24000 {
			t.Errorf("%d samples, want 24000", got)
		}
	})
}
