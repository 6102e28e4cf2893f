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
