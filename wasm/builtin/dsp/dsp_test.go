package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// paramNames lists every parameter of every filter.
var paramNames = map[string][]string{
	"volume":     {"volume"},
	"equalizer":  {"gains.0", "gains.1", "gains.5", "gains.9", "gains.14"},
	"karaoke":    {"level", "monoLevel", "filterBand", "filterWidth"},
	"timescale":  {"speed", "pitch", "rate"},
	"tremolo":    {"frequency", "depth"},
	"vibrato":    {"frequency", "depth"},
	"rotation":   {"rotationHz"},
	"distortion": {"sinOffset", "sinScale", "cosOffset", "cosScale", "tanOffset", "tanScale", "offset", "scale"},
	"channelMix": {"leftToLeft", "leftToRight", "rightToLeft", "rightToRight"},
	"lowPass":    {"smoothing"},
}

func noise(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.Float64()*2 - 1)
	}
	return out
}

func TestNamesAndParams(t *testing.T) {
	for _, name := range Names {
		f := New(name)
		if f == nil {
			t.Fatalf("New(%q) = nil", name)
		}
		for _, p := range paramNames[name] {
			if r := f.SetParam(p, math.NaN()); r != OutOfRange {
				t.Errorf("%s.%s = NaN: %d, want OutOfRange", name, p, r)
			}
			if r := f.SetParam(p, math.Inf(1)); r != OutOfRange {
				t.Errorf("%s.%s = +Inf: %d, want OutOfRange", name, p, r)
			}
		}
		for _, p := range []string{"", "nope", "gains.15", "gains.01", "Volume"} {
			if r := f.SetParam(p, 0.5); r != Unknown {
				t.Errorf("%s.%q: %d, want Unknown", name, p, r)
			}
		}
		buf := make([]float32, MaxFrames*2)
		if n := f.Process(buf, MaxFrames+1, 2, 48000, MaxFrames); n != -1 {
			t.Errorf("%s: frames over cap gave %d, want -1", name, n)
		}
		if n := f.Process(buf, 10, 9, 48000, MaxFrames); n != -1 {
			t.Errorf("%s: 9 channels gave %d, want -1", name, n)
		}
	}
	if New("Volume") != nil || New("") != nil {
		t.Error("New accepts names that are not built-ins")
	}
}

// TestNoAllocations checks that Process allocates nothing, whatever the
// parameters.
func TestNoAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := noise(rng, 960*2)
	for _, name := range Names {
		f := New(name)
		for _, p := range paramNames[name] {
			f.SetParam(p, 0.7) // in range for every filter but lowPass (disabled) and timescale (slow)
		}
		buf := make([]float32, MaxFrames*2)
		allocs := testing.AllocsPerRun(50, func() {
			copy(buf, in)
			f.Process(buf, 960, 2, 48000, MaxFrames)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Process", name, allocs)
		}
	}
}

// FuzzFilters drives every filter with arbitrary parameter values, frame
// lengths and resets: Process never fails on a valid format, returns at most
// cap frames, and finite input gives finite output.
func FuzzFilters(f *testing.F) {
	f.Add(uint8(3), 1.25, 0.8, 2.0, uint64(1)) // timescale
	f.Add(uint8(3), 100.0, 0.01, 1e-9, uint64(2))
	f.Add(uint8(1), 1.0, -0.25, 0.5, uint64(3)) // equalizer
	f.Add(uint8(7), 1.57, 3.0, -2.0, uint64(4)) // distortion
	f.Add(uint8(2), 24000.0, 1e-6, 1.0, uint64(5))
	f.Fuzz(func(t *testing.T, which uint8, a, b, c float64, seed uint64) {
		name := Names[int(which)%len(Names)]
		filter := New(name)
		values := []float64{a, b, c}
		for i, p := range paramNames[name] {
			r := filter.SetParam(p, values[i%3])
			if r != OK && r != OutOfRange {
				t.Fatalf("%s.%s = %v: %d", name, p, values[i%3], r)
			}
		}
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		buf := make([]float32, MaxFrames*2)
		for range 12 {
			frames := rng.IntN(961)
			if rng.IntN(8) == 0 {
				frames = MaxFrames
			}
			in := noise(rng, frames*2)
			copy(buf, in)
			n := filter.Process(buf, frames, 2, 48000, MaxFrames)
			if n < 0 || n > MaxFrames {
				t.Fatalf("%s(%v, %v, %v): Process(%d frames) = %d", name, a, b, c, frames, n)
			}
			for i, v := range buf[:n*2] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s(%v, %v, %v): sample %d = %v", name, a, b, c, i, v)
				}
			}
			if rng.IntN(10) == 0 {
				filter.Reset()
			}
		}
	})
}

func TestSincos(t *testing.T) {
	worst := 0.0
	for i := -200000; i <= 200000; i++ {
		x := float64(i) * 1e-3 * 1.37
		s, c := sincos(x)
		worst = math.Max(worst, math.Max(math.Abs(s-math.Sin(x)), math.Abs(c-math.Cos(x))))
	}
	for _, x := range []float64{1e6, -1e6, 123456.789, math.Pi / 4, -math.Pi / 4, 3 * math.Pi / 4} {
		s, c := sincos(x)
		worst = math.Max(worst, math.Max(math.Abs(s-math.Sin(x)), math.Abs(c-math.Cos(x))))
	}
	if worst > 1e-9 {
		t.Errorf("sincos is %.3g off math.Sin/Cos", worst)
	}
	if s, c := sincos(math.NaN()); !math.IsNaN(s) || !math.IsNaN(c) {
		t.Error("sincos(NaN) is a number")
	}
	if s, _ := sincos(1e300); s != math.Sin(1e300) {
		t.Error("sincos does not fall back to math beyond 1e6")
	}
}

// TestEqualizerMatchesBandByBand: the equalizer, whichever way it groups
// its active bands (pairs of stereo bands, an odd one alone, mono band by
// band), gives x + Σ 4·g_N·bandpass_N(x) computed one band and one sample
// at a time, over frames of even and odd length, across calls.
func TestEqualizerMatchesBandByBand(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, channels := range []int{1, 2} {
		for _, active := range []int{1, 2, 3, 14, 15} {
			e := NewEqualizer()
			var gains [bands]float64
			for _, n := range r.Perm(bands)[:active] {
				gains[n] = -0.25 + 1.25*r.Float64()
				if e.SetParam("gains."+itoa(n), gains[n]) != OK {
					t.Fatalf("gains.%d refused", n)
				}
			}
			var bp [bands]bandpass
			for n := range bp {
				bp[n].design(Centres[n], eqQ, 48000)
			}
			var st [bands][2]bpState
			for call, frames := range []int{960, 481, 960, 7} {
				buf := make([]float32, MaxFrames*channels)
				for i := range frames * channels {
					buf[i] = float32(0.5 * (r.Float64()*2 - 1))
				}
				want := make([]float64, frames*channels)
				for i := range want {
					x := float64(buf[i])
					y := x
					for n := range bp {
						if g := 4 * gains[n]; g != 0 {
							y += g * bp[n].next(&st[n][i%channels], x)
						}
					}
					want[i] = y
				}
				if got := e.Process(buf, frames, channels, 48000, MaxFrames); got != frames {
					t.Fatalf("Process returned %d", got)
				}
				for i, w := range want {
					if d := math.Abs(float64(buf[i]) - w); d > 1e-5 {
						t.Fatalf("%d channels, %d bands, call %d, sample %d: %v, want %v", channels, active, call, i, buf[i], w)
					}
				}
				for n := range st { // the equalizer flushes denormals the same way
					st[n][0].flush()
					st[n][1].flush()
				}
			}
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// TestDistortionMatchesMath: the distortion, with its trigonometry inline,
// gives what the formula gives with the math package, for each term alone
// and all together, for ordinary samples and for arguments past the
// reduction's range (scale 1e7) where it falls back to math.Sincos.
func TestDistortionMatchesMath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type params struct{ so, ss, co, cs, to, ts, off, sc float64 }
	for _, p := range []params{
		{0.1, 1.3, 0, 1, 0, 1, 0, 1},
		{0, 1.2, 0.1, 1, 0, 1, 0, 1},        // sin and cos in one pass (the benchmark's setting)
		{0, 1, 0.3, 1.5, 0, 1, 0.05, 2},     // cos alone in one pass, clamped
		{0, 1, 0, 1, 0, 1, 0.2, 3},          // offset and scale alone
		{0.2, -1.5, -0.1, -1.5, 0, 1, 0, 1}, // negative scales
		{0, 1, 0.2, 2.5, 0, 1, 0, 1},
		{0, 1, 0, 1, 0.1, 0.6, 0, 1},
		{0.3, 5, -0.2, 3, 0.05, 1.1, 0.01, 0.9},
		{0, 1e7, 0.5, 1e7, 0, 1, 0, 1},
	} {
		d := NewDistortion()
		for name, v := range map[string]float64{"sinOffset": p.so, "sinScale": p.ss, "cosOffset": p.co, "cosScale": p.cs,
			"tanOffset": p.to, "tanScale": p.ts, "offset": p.off, "scale": p.sc} {
			if d.SetParam(name, v) != OK {
				t.Fatalf("%s = %v refused", name, v)
			}
		}
		buf := make([]float32, 2*MaxFrames)
		for i := range 2 * 960 {
			buf[i] = float32(r.Float64()*2 - 1)
		}
		want := make([]float64, 2*960)
		for i, v := range buf[:len(want)] {
			x := float64(v)
			w := x
			if p.so != 0 || p.ss != 1 {
				w *= p.so + math.Sin(p.ss*x)
			}
			if p.co != 0 || p.cs != 1 {
				w *= p.co + math.Cos(p.cs*x)
			}
			if p.to != 0 || p.ts != 1 {
				w *= p.to + math.Tan(p.ts*x)
			}
			want[i] = max(-1, min(1, p.off+p.sc*w))
		}
		if n := d.Process(buf, 960, 2, 48000, MaxFrames); n != 960 {
			t.Fatalf("Process returned %d", n)
		}
		for i, w := range want {
			if diff := math.Abs(float64(buf[i]) - w); diff > 1e-6 {
				t.Fatalf("%+v: sample %d is %v, want %v", p, i, buf[i], w)
			}
		}
	}
}
