package wasm

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// eqModule drives the hand-written equalizer module (builtin/equalizer)
// directly through wazero, without the host, so that the tests can pass
// what the node never does: mono, other rates, odd frame counts.
type eqModule struct {
	t          testing.TB
	mod        api.Module
	buf, names uint32
}

func newEQModule(t testing.TB) *eqModule {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Instantiate(ctx, equalizerWasm)
	if err != nil {
		t.Fatal(err)
	}
	e := &eqModule{t: t, mod: mod}
	e.buf = uint32(e.call("alloc", dsp.MaxFrames*2*4))
	e.names = uint32(e.call("alloc", MaxParamName))
	if e.buf == 0 || e.names == 0 {
		t.Fatal("alloc failed")
	}
	if r := e.selectFilter("equalizer"); r != 0 {
		t.Fatalf("builtin_select(equalizer) = %d", r)
	}
	return e
}

func (e *eqModule) call(fn string, args ...uint64) int32 {
	e.t.Helper()
	r, err := e.mod.ExportedFunction(fn).Call(context.Background(), args...)
	if err != nil {
		e.t.Fatalf("%s: %v", fn, err)
	}
	if len(r) == 0 {
		return 0
	}
	return int32(uint32(r[0]))
}

func (e *eqModule) selectFilter(name string) int32 {
	e.mod.Memory().Write(e.names, []byte(name))
	return e.call("builtin_select", uint64(e.names), uint64(len(name)))
}

func (e *eqModule) set(name string, v float64) int32 {
	e.mod.Memory().Write(e.names, []byte(name))
	return e.call("set_param", uint64(e.names), uint64(len(name)), math.Float64bits(v))
}

// process runs samples (frames × channels) through the module in place.
func (e *eqModule) process(samples []float32, channels, rate int) int32 {
	raw := make([]byte, 4*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	e.mod.Memory().Write(e.buf, raw)
	n := e.call("process", uint64(e.buf), uint64(len(samples)/channels), uint64(channels), uint64(rate), dsp.MaxFrames)
	out, _ := e.mod.Memory().Read(e.buf, uint32(len(raw)))
	for i := range samples {
		samples[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return n
}

// music is n frames of a music-like signal: tones across the bands and
// some noise, peaking near 0.6.
func music(r *rand.Rand, frames, channels int) []float32 {
	out := make([]float32, frames*channels)
	for i := range frames {
		t := float64(i) / Rate
		for c := range channels {
			v := 0.0
			for k, f := range dsp.Centres {
				v += 0.03 * math.Sin(2*math.Pi*f*t*(1+0.01*float64(c))+float64(k))
			}
			out[i*channels+c] = float32(v + 0.05*(r.Float64()*2-1))
		}
	}
	return out
}

// TestEqualizerModuleMatchesDSP: the SIMD module gives what dsp.Equalizer
// (float64, the reference) gives, to within 2^-13 of full scale (the module
// runs its recursions in float32, in a form that keeps the poles near z = 1
// precise; the largest difference seen is about 2^-15, −90 dBFS), through gain changes on and off, a reset,
// mono, other rates and frame counts from 1 to the ABI's cap; and both
// accept and refuse the same parameters.
func TestEqualizerModuleMatchesDSP(t *testing.T) {
	const tol = 1.0 / (1 << 13)
	r := rand.New(rand.NewPCG(5, 6))
	type step struct {
		gains  map[int]float64 // set before the step
		reset  bool
		frames []int
	}
	random := func(n int) map[int]float64 {
		g := map[int]float64{}
		for range n {
			g[r.IntN(15)] = math.Round((r.Float64()*1.25-0.25)*100) / 100
		}
		return g
	}
	all := map[int]float64{}
	for b := range 15 {
		all[b] = 0.2 - 0.03*float64(b%5)
	}
	for _, tc := range []struct {
		name     string
		channels int
		rate     int
		steps    []step
	}{
		{"stereo", 2, 48000, []step{
			{gains: all, frames: []int{960, 960, 960, 1, 959, 3840}},
			{gains: map[int]float64{0: 1, 3: 0, 7: -0.25, 14: 0.5}, frames: []int{960, 960}}, // on → other gain, on → off
			{gains: map[int]float64{3: 0.4}, frames: []int{960, 960}},                        // off → on: starts from silence
			{reset: true, frames: []int{960}},
			{gains: random(6), frames: []int{480, 480, 960}},
		}},
		{"mono", 1, 48000, []step{{gains: random(8), frames: []int{960, 960, 7, 960}}}},
		{"44.1 kHz", 2, 44100, []step{{gains: all, frames: []int{882, 882, 882}}}},
		{"8 kHz: the top bands are off", 2, 8000, []step{{gains: all, frames: []int{160, 160, 160}}}},
		{"one band", 2, 48000, []step{{gains: map[int]float64{5: 0.8}, frames: []int{960, 960}}}},
		// A band turned on starts from the signal's input history, also
		// when it shares a pair with a band that ran all along (dsp's pairs
		// used to take the new band's stale history for both: a click).
		{"a band turned on beside a running one", 2, 48000, []step{
			{frames: []int{960}},
			{gains: map[int]float64{3: 0.5, 14: -0.25}, frames: []int{960}},
			{gains: map[int]float64{0: 0.05}, frames: []int{960, 960}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod, ref := newEQModule(t), dsp.NewEqualizer()
			worst := 0.0
			for si, st := range tc.steps {
				for b, g := range st.gains {
					name := "gains." + strconv.Itoa(b)
					if got, want := mod.set(name, g), ref.SetParam(name, g); got != want {
						t.Fatalf("step %d: set_param(%s, %v) = %d, dsp says %d", si, name, g, got, want)
					}
				}
				if st.reset {
					mod.call("reset")
					ref.Reset()
				}
				for _, n := range st.frames {
					in := music(r, n, tc.channels)
					want := make([]float32, dsp.MaxFrames*tc.channels)
					copy(want, in)
					if got := ref.Process(want, n, tc.channels, tc.rate, dsp.MaxFrames); got != int(n) {
						t.Fatalf("dsp processed %d of %d", got, n)
					}
					got := append([]float32(nil), in...)
					if k := mod.process(got, tc.channels, tc.rate); k != int32(n) {
						t.Fatalf("step %d: process(%d frames) = %d", si, n, k)
					}
					for i := range got {
						d := math.Abs(float64(got[i] - want[i]))
						if !(d <= tol) {
							t.Fatalf("step %d, %d frames: sample %d is %v, dsp gives %v (input %v)", si, n, i, got[i], want[i], in[i])
						}
						worst = max(worst, d)
					}
				}
			}
			t.Logf("largest difference from dsp: %.2g (%.0f dBFS)", worst, 20*math.Log10(worst))
		})
	}
}

// TestEqualizerModuleRefuses: parameters dsp refuses, formats it cannot
// handle and regions outside memory are refused, never trapped on.
func TestEqualizerModuleRefuses(t *testing.T) {
	mod, ref := newEQModule(t), dsp.NewEqualizer()
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"gains.0", 0.5}, {"gains.14", 1}, {"gains.14", -0.25}, {"gains.15", 0.1}, {"gains.01", 0.1},
		{"gains.-1", 0.1}, {"gains.", 0.1}, {"gains.1000", 0.1}, {"gain.1", 0.1}, {"Gains.1", 0.1},
		{"gains.1", 1.01}, {"gains.1", -0.26}, {"gains.1", math.NaN()}, {"gains.1", math.Inf(1)}, {"volume", 1},
	} {
		if got, want := mod.set(p.name, p.v), ref.SetParam(p.name, p.v); got != want {
			t.Errorf("set_param(%q, %v) = %d, dsp says %d", p.name, p.v, got, want)
		}
	}
	if r := mod.call("set_param", 1<<31, 7, math.Float64bits(0.1)); r != 1 {
		t.Errorf("set_param with a name outside memory = %d, want 1", r)
	}
	for _, name := range []string{"volume", "equalize", "equalizers", ""} {
		if r := mod.selectFilter(name); r != 1 {
			t.Errorf("builtin_select(%q) = %d, want 1", name, r)
		}
	}
	for _, args := range [][5]uint64{
		{uint64(mod.buf), 960, 3, 48000, dsp.MaxFrames}, // three channels
		{uint64(mod.buf), 960, 0, 48000, dsp.MaxFrames},
		{uint64(mod.buf), 960, 2, 7999, dsp.MaxFrames},
		{uint64(mod.buf), 960, 2, 384001, dsp.MaxFrames},
		{uint64(mod.buf), 961, 2, 48000, 960},     // more frames than cap
		{1 << 31, 960, 2, 48000, dsp.MaxFrames},   // outside memory
		{uint64(mod.buf), 960, 2, 48000, 1 << 30}, // a cap that runs past memory
	} {
		if r := mod.call("process", args[:]...); r != -1 {
			t.Errorf("process%v = %d, want -1", args, r)
		}
	}
	if r := mod.call("alloc", 0); r != 0 {
		t.Errorf("alloc(0) = %d, want 0", r)
	}
	if r := mod.call("alloc", 1<<30); r != 0 {
		t.Errorf("alloc(1 GiB) = %d, want 0", r)
	}
}

// FuzzEqualizerModuleParams: the module accepts and refuses exactly the
// parameters dsp.Equalizer does, and a frame after any of them stays
// finite and within the reference's tolerance.
func FuzzEqualizerModuleParams(f *testing.F) {
	f.Add("gains.3", 0.5)
	f.Add("gains.14", -0.25)
	f.Add("gains.07", 0.1)
	f.Add("gainz.1", 0.1)
	f.Add("gains.9", math.NaN())
	mod, ref := newEQModule(f), dsp.NewEqualizer()
	r := rand.New(rand.NewPCG(7, 8))
	f.Fuzz(func(t *testing.T, name string, v float64) {
		if len(name) > MaxParamName {
			return
		}
		mod.t = t
		if got, want := mod.set(name, v), ref.SetParam(name, v); got != want {
			t.Fatalf("set_param(%q, %v) = %d, dsp says %d", name, v, got, want)
		}
		in := music(r, 960, 2)
		want := make([]float32, dsp.MaxFrames*2)
		copy(want, in)
		ref.Process(want, 960, 2, 48000, dsp.MaxFrames)
		got := append([]float32(nil), in...)
		mod.process(got, 2, 48000)
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); !(d <= 1.0/(1<<13)) {
				t.Fatalf("after %s = %v: sample %d is %v, dsp gives %v", name, v, i, got[i], want[i])
			}
		}
	})
}
