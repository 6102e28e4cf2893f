package player

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// sine is the fixture signal amp·sin(2π·freq·t) at sample i.
func sine(freq, amp float64, i int) float64 {
	return amp * math.Sin(2*math.Pi*freq*float64(i)/48000)
}

// checkSamples compares the left channel of got with want(i) from i0.
func checkSamples(t *testing.T, what string, got []float32, want func(i int) float64, tol float64) {
	t.Helper()
	for i := range len(got) / 2 {
		if w := want(i); math.Abs(float64(got[2*i])-w) > tol {
			t.Fatalf("%s: sample %d is %.5f, want %.5f", what, i, got[2*i], w)
		}
	}
}

func wantKinds(t *testing.T, h *fakeHost, want ...string) {
	t.Helper()
	if got := h.kinds(); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

// TestPlayPCMExact plays a float WAV and finds every sample of the file
// in the frames handed to the encoder, then the source's start and stop.
func TestPlayPCMExact(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 1}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(60)
		got := d.pcm(0)
		if len(got) != 48000*2 {
			t.Fatalf("got %d samples, want %d", len(got)/2, 48000)
		}
		checkSamples(t, "a", got, func(i int) float64 { return sine(440, 0.5, i) }, 1e-4)
		wantKinds(t, h, "start a", "require a", "stop a ended")
		st := p.Stats()
		if st.Nulled != 0 || st.Passed != 0 || st.Sent != 50 || st.Encoded != 50 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestGapless joins two sources whose lengths are not whole frames: the
// first sample of the second follows the last of the first in the same
// frame, with nothing in between.
func TestGapless(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 0.51}.path(t)
	b := fixture{format: "flac", signal: tone(660, 0.4), secs: 0.73}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(80)
		got := d.pcm(0)
		na, nb := int(0.51*48000), int(0.73*48000)
		if len(got)/2 != ((na+nb+959)/960)*960 {
			t.Fatalf("got %d samples, want %d padded to a frame", len(got)/2, na+nb)
		}
		checkSamples(t, "joined", got[:2*(na+nb)], func(i int) float64 {
			if i < na {
				return sine(440, 0.5, i)
			}
			return sine(660, 0.4, i-na)
		}, 2e-4)
		wantKinds(t, h, "start a", "stop a ended", "start b", "require b", "stop b ended")
		if st := p.Stats(); st.Nulled != 0 {
			t.Errorf("underruns: %+v", st)
		}
	})
}

// TestCrossfadeShape crossfades 440 Hz into 660 Hz over 0.5 s and checks
// every sample against cos/sin gains (equal power), and the events' order.
func TestCrossfadeShape(t *testing.T) {
	a := fixture{format: "wavf32", signal: tone(440, 0.5), secs: 1.5}.path(t)
	b := fixture{format: "wavf32", signal: tone(660, 0.5), secs: 1.5}.path(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, func(c *Config) { c.Crossfade = 500 * time.Millisecond })
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a), item("b", b))
		d.pull(140)
		got := d.pcm(0)
		const start, l = 48000, 24000 // a's last 0.5 s
		if want := 72000 + 72000 - l; len(got)/2 != want {
			t.Fatalf("got %d samples, want %d", len(got)/2, want)
		}
		checkSamples(t, "crossfade", got, func(i int) float64 {
			switch {
			case i < start:
				return sine(440, 0.5, i)
			case i < start+l:
				x := float64(i-start) / l
				return sine(440, 0.5, i)*math.Cos(x*math.Pi/2) + sine(660, 0.5, i-start)*math.Sin(x*math.Pi/2)
			default:
				return sine(660, 0.5, i-start)
			}
		}, 2e-4)
		wantKinds(t, h, "start a", "start b", "require b", "stop a ended", "stop b ended")
	})
}

// ramp is a float WAV whose left channel is t/100 and right 0.5: the
// ratio tells the position whatever the gain.
func rampFixture(t *testing.T, secs float64) string {
	return fixture{format: "wavf32", signal: "t/100|0.5", secs: secs}.path(t)
}

func rampPos(l, r float32) float64 { return float64(l) / float64(r) * 50 }

// TestSeekExact seeks in a ramp: the first sample after the seek is the
// target's, faded in over 20 ms; the last frame before it faded out.
func TestSeekExact(t *testing.T) {
	a := rampFixture(t, 6)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(25) // 0.5 s
		if err := p.Seek(3217 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if pl, _ := p.Current(); pl.Position != 3217*time.Millisecond {
			t.Errorf("position right after Seek: %v", pl.Position)
		}
		mark := len(d.frames)
		d.pull(10)
		// The frame after Seek fades the old audio out.
		fo := d.frames[mark]
		if fo == nil || math.Abs(float64(fo[len(fo)-1])) > 1e-6 || rampPos(fo[0], fo[1]) > 0.5 {
			t.Fatalf("fade-out frame %v…", fo[:4])
		}
		var first []float32
		for _, f := range d.frames[mark+1:] {
			if f != nil {
				first = f
				break
			}
		}
		if first == nil {
			t.Fatal("nothing after the seek")
		}
		if pos := rampPos(first[2], first[3]); math.Abs(pos-3.217-1.0/48000) > 1e-4 {
			t.Errorf("first sample after seek at %.5f s, want 3.217", pos)
		}
		if first[1] > 0.01 || math.Abs(float64(first[len(first)-1])-0.5) > 1e-3 {
			t.Errorf("not a 20 ms fade-in: right channel %v … %v", first[1], first[len(first)-1])
		}
		pl, ok := p.Current()
		if !ok || math.Abs((pl.Position-3217*time.Millisecond-9*20*time.Millisecond).Seconds()) > 0.021 {
			t.Errorf("position %v after 9 frames from 3.217 s", pl.Position)
		}
		if !pl.HasDuration || pl.Duration != 6*time.Second || !pl.Seekable {
			t.Errorf("playing %+v", pl)
		}
		// Past the end: the source ends.
		if err := p.Seek(time.Minute); err != nil {
			t.Fatal(err)
		}
		d.pull(5)
		wantKinds(t, h, "start a", "require a", "stop a ended")
	})
}

// TestPauseResume: a 20 ms fade-out, nothing while paused (the position
// stays), a 20 ms fade-in on resume.
func TestPauseResume(t *testing.T) {
	a := rampFixture(t, 3)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(20)
		p.Pause()
		mark := len(d.frames)
		d.pull(30)
		fo := d.frames[mark]
		if fo == nil || math.Abs(float64(fo[len(fo)-1])) > 1e-6 || math.Abs(float64(fo[1])-0.5) > 0.01 {
			t.Fatalf("no fade-out frame")
		}
		for i, n := range d.sizes[mark+1:] {
			if n != 0 {
				t.Fatalf("frame %d while paused: %d bytes", i, n)
			}
		}
		before, _ := p.Current()
		p.Resume()
		mark = len(d.frames)
		d.pull(5)
		fi := d.frames[mark]
		if fi == nil || fi[1] > 0.01 || math.Abs(float64(fi[len(fi)-1])-0.5) > 1e-3 {
			t.Fatalf("no fade-in frame")
		}
		if pos := rampPos(fi[len(fi)-2], fi[len(fi)-1]); math.Abs(pos-before.Position.Seconds()-0.02) > 1e-3 {
			t.Errorf("resumed at %.4f s, paused at %v", pos, before.Position)
		}
		if st := p.Stats(); st.Nulled != 0 {
			t.Errorf("pause counted as underrun: %+v", st)
		}
	})
}

// TestVolumeRamp: a volume change ramps linearly over the next frame.
func TestVolumeRamp(t *testing.T) {
	a := rampFixture(t, 2)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(10)
		p.SetVolume(0.25)
		mark := len(d.frames)
		d.pull(3)
		f := d.frames[mark]
		for i := range 960 {
			want := 0.5 * (1 - 0.75*float64(i+1)/960)
			if math.Abs(float64(f[2*i+1])-want) > 1e-5 {
				t.Fatalf("ramp sample %d: %v, want %v", i, f[2*i+1], want)
			}
		}
		if g := d.frames[mark+1][1]; math.Abs(float64(g)-0.125) > 1e-6 {
			t.Errorf("after the ramp: %v, want 0.125", g)
		}
		// Clipping at volume 5: 0.5·5 → 1.
		p.SetVolume(5)
		d.pull(3)
		if g := d.frames[len(d.frames)-1][1]; g != 1 {
			t.Errorf("at volume 5: %v, want clipped to 1", g)
		}
	})
}

// opusPackets reads the file's packets as the passthrough reader yields
// them (from d on).
func opusPackets(t *testing.T, name string, from time.Duration) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := audio.OpenOggOpus(f)
	if err != nil {
		t.Fatal(err)
	}
	if from > 0 {
		if err := r.Seek(from); err != nil {
			t.Fatal(err)
		}
	}
	var out [][]byte
	buf := make([]byte, audio.MaxOpusFrame)
	for {
		n, err := r.ReadPacket(buf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(buf[:n]))
	}
}

// TestPassthroughPackets: an Ogg Opus source at volume 1 without filter
// goes out as the file's own packets, with no encoder call.
func TestPassthroughPackets(t *testing.T) {
	a := fixture{format: "opus", signal: tone(440, 0.5), secs: 1}.path(t)
	want := opusPackets(t, a, 0)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(len(want) + 10)
		var got [][]byte
		for _, pk := range d.pkts {
			if pk != nil {
				got = append(got, pk)
			}
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("got %d packets, want the file's %d byte for byte", len(got), len(want))
		}
		st := p.Stats()
		if st.Encoded != 0 || st.Passed != uint64(len(want)) {
			t.Errorf("stats %+v: want no encoder call and %d passed", st, len(want))
		}
		wantKinds(t, h, "start a", "require a", "stop a ended")
	})
}

// TestPassthroughSwitch: lowering the volume mid-stream switches to
// decoding and encoding without a missing slot; the PCM encoded is the
// file's audio at the packet grid shifted by the encoder's look-ahead;
// back at 1.0 the file's packets go out again.
func TestPassthroughSwitch(t *testing.T) {
	a := fixture{format: "opus", signal: tone(440, 0.5), secs: 2}.path(t)
	want := opusPackets(t, a, 0)
	synctest.Test(t, func(t *testing.T) {
		h := newHost()
		p := newPlayer(t, h, nil)
		d := newDriver(p, 20*time.Millisecond)
		h.add(item("a", a))
		d.pull(20)
		p.SetVolume(0.5)
		d.pull(20)
		p.SetVolume(1)
		d.pull(70)
		n := 0
		var switched, back int
		for i, k := range d.sizes {
			if k == 0 {
				if n > 0 && n < len(want) {
					t.Fatalf("slot %d empty in the middle of the source", i)
				}
				continue
			}
			if d.frames[i] != nil && switched == 0 {
				switched = n
			}
			if switched > 0 && back == 0 && d.frames[i] == nil {
				back = n
			}
			if d.frames[i] == nil && !bytes.Equal(d.pkts[i], want[n]) {
				t.Fatalf("packet %d differs from the file's", n)
			}
			n++
		}
		if n != len(want) {
			t.Errorf("%d frames for %d packets", n, len(want))
		}
		fs := firstSlot(d)
		if switched < 20-fs || switched > 22-fs || back < 40-fs || back > 42-fs {
			t.Errorf("encoded from frame %d to %d, want about %d to %d", switched, back, 20-fs, 40-fs)
		}
		// The encoded frames carry the decoded file from the packet's
		// position + 312 samples, at the ramped volume.
		ref := decodeAll(t, a)
		for i := switched + 1; i < back-1; i++ {
			f := d.frames[fs+i]
			off := (i*960 - 312 + 312) * 2 // packet i starts at i·960 − pre-skip; plus the look-ahead
			for j := 0; j < len(f); j += 2 {
				if w := 0.5 * ref[off+j]; math.Abs(float64(f[j]-w)) > 1e-5 {
					t.Fatalf("encoded frame %d sample %d: %v, want %v", i, j/2, f[j], w)
				}
			}
		}
		if st := p.Stats(); st.Encoded == 0 || st.Encoded > 26 || st.Passed+st.Encoded < uint64(len(want)) {
			t.Errorf("stats %+v", st)
		}
	})
}

func firstSlot(d *driver) int {
	for i, k := range d.sizes {
		if k > 0 {
			return i
		}
	}
	return 0
}

// decodeAll decodes a fixture with the audio package.
func decodeAll(t *testing.T, name string) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := audio.Open(t.Context(), f, audio.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var all []float32
	buf := make([]float32, audio.FrameLen)
	for {
		n, err := dec.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			return all
		}
	}
}
