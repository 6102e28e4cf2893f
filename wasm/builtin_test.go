package wasm

import (
	"fmt"
	"math"
	"testing"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// TestBuiltins measures each built-in filter on signals, through the
// shipped WebAssembly module and through the same code compiled natively.
func TestBuiltins(t *testing.T) {
	h := testHost(t, Config{})
	for _, impl := range []struct {
		name string
		run  processor
	}{{"wasm", wasmProcessor(h)}, {"native", nativeProcessor}} {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				test func(*testing.T, processor)
			}{
				{"volume", testVolume},
				{"equalizer", testEqualizer},
				{"karaoke", testKaraoke},
				{"timescale", testTimescale},
				{"tremolo", testTremolo},
				{"vibrato", testVibrato},
				{"rotation", testRotation},
				{"distortion", testDistortion},
				{"channelMix", testChannelMix},
				{"lowPass", testLowPass},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.test(t, impl.run) })
			}
		})
	}
}

// within fails the test unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %.4f", what, got, want, tol)
	}
}

func testVolume(t *testing.T, run processor) {
	x := tones(frame*10, 0.3, 1000)
	in := stereo(x, x)
	for _, v := range []float64{0, 0.5, 2.5, 5} {
		out := run(t, "volume", fmt.Sprintf(`{"volume": %v}`, v), in)
		if len(out) != len(in) {
			t.Fatalf("volume %v: %d samples out of %d", v, len(out), len(in))
		}
		// The first frame ramps from unity; from the second on the gain is v.
		for i := frame * 2; i < len(in); i++ {
			if d := math.Abs(float64(out[i]) - v*float64(in[i])); d > 1e-6 {
				t.Fatalf("volume %v: sample %d = %v, want %v", v, i, out[i], v*float64(in[i]))
			}
		}
		// The ramp: at the end of the first frame the gain is v, halfway
		// it is between 1 and v.
		mid := frame // frame 480, left
		g := float64(out[mid]) / float64(in[mid])
		if lo, hi := math.Min(1, v), math.Max(1, v); in[mid] != 0 && (g < lo-1e-6 || g > hi+1e-6) {
			t.Errorf("volume %v: gain %v halfway through the ramp", v, g)
		}
	}
}

func testEqualizer(t *testing.T, run processor) {
	n := fftSize + Rate/2 // half a second to settle
	var centres []float64
	for _, f := range dsp.Centres {
		centres = append(centres, binFreq(f))
	}
	x := tones(n, 0.02, centres...)
	in := stereo(x, x)

	flat := run(t, "equalizer", `{"gains": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`, in)
	for i := range in {
		if flat[i] != in[i] {
			t.Fatalf("a flat equalizer changed sample %d: %v -> %v", i, in[i], flat[i])
		}
	}
	for band, f := range centres {
		for _, g := range []float64{0.5, -0.25} {
			out := run(t, "equalizer", fmt.Sprintf(`{"gains": {"%d": %v}}`, band, g), in)
			for c := 0; c < 2; c++ {
				spec := spectrum(t, channel(out, c))
				got := amplitudeAt(spec, f) / 0.02
				if g > 0 {
					// 1 + 4g at the centre: +9.5 dB for 0.5.
					within(t, fmt.Sprintf("band %d (%v Hz) at gain %v: dB", band, f, g), db(got), db(1+4*g), 0.5)
				} else if db(got) > -25 {
					t.Errorf("band %d (%v Hz) at gain -0.25: %.1f dB, want the band removed (< -25 dB)", band, f, db(got))
				}
				// Bands two octaves (three bands) or more away are
				// nearly untouched: a second-order band-pass still
				// passes 12 % there, at almost 90° of phase.
				for other, fo := range centres {
					if other-band >= 3 || band-other >= 3 {
						within(t, fmt.Sprintf("band %d at gain %v, band %d: dB", band, g, other), db(amplitudeAt(spec, fo)/0.02), 0, 0.75)
					}
				}
			}
		}
	}
}

func testKaraoke(t *testing.T, run processor) {
	n := fftSize + Rate/2
	fCentre, fLeft, fBass := binFreq(1000), binFreq(1500), binFreq(220)
	centre := tones(n, 0.2, fCentre)
	left := tones(n, 0.2, fLeft)
	bass := tones(n, 0.2, fBass)

	// level 1, monoLevel 0: the centre is gone, the side stays.
	l := make([]float64, n)
	for i := range l {
		l[i] = centre[i] + left[i]
	}
	out := run(t, "karaoke", `{"level": 1, "monoLevel": 0}`, stereo(l, centre))
	sl, sr := spectrum(t, channel(out, 0)), spectrum(t, channel(out, 1))
	if a := amplitudeAt(sl, fCentre); db(a/0.2) > -60 {
		t.Errorf("centred tone on the left: %.1f dB, want removed", db(a/0.2))
	}
	if a := amplitudeAt(sr, fCentre); db(a/0.2) > -60 {
		t.Errorf("centred tone on the right: %.1f dB, want removed", db(a/0.2))
	}
	within(t, "left-only tone on the left", amplitudeAt(sl, fLeft), 0.2, 0.002)

	// Defaults (monoLevel 1, band 220 Hz): a centred bass at 220 Hz stays,
	// a centred 1 kHz tone mostly goes.
	c := make([]float64, n)
	for i := range c {
		c[i] = centre[i] + bass[i]
	}
	out = run(t, "karaoke", `{}`, stereo(c, c))
	sl = spectrum(t, channel(out, 0))
	within(t, "centred 220 Hz bass, dB", db(amplitudeAt(sl, fBass)/0.2), 0, 0.5)
	if a := db(amplitudeAt(sl, fCentre) / 0.2); a > -12 {
		t.Errorf("centred 1 kHz tone with the defaults: %.1f dB, want < -12 dB", a)
	}
	// level 0 is the identity plus nothing.
	out = run(t, "karaoke", `{"level": 0}`, stereo(c, c))
	within(t, "level 0, 1 kHz", amplitudeAt(spectrum(t, channel(out, 0)), fCentre), 0.2, 0.001)
}

func testTimescale(t *testing.T, run processor) {
	const seconds = 8
	x := tones(seconds*Rate, 0.5, 440)
	in := stereo(x, x)
	for _, tc := range []struct {
		params     string
		length, hz float64 // expected output length ratio and pitch
	}{
		{`{"speed": 1.25}`, 1 / 1.25, 440},
		{`{"speed": 0.5}`, 2, 440},
		{`{"pitch": 1.5}`, 1, 660},
		{`{"pitch": 0.8}`, 1, 352},
		{`{"rate": 0.8}`, 1.25, 352},
		{`{"speed": 1.5, "pitch": 1.2, "rate": 1.1}`, 1 / (1.5 * 1.1), 440 * 1.2 * 1.1},
	} {
		out := run(t, "timescale", tc.params, in)
		got := float64(len(out)/2) / float64(len(x))
		// The stretch holds back up to a segment and a search window
		// (65 ms) plus one segment of output: 0.13 s of 8 s.
		within(t, tc.params+" length ratio", got, tc.length, 0.13/seconds*math.Max(1, tc.length)+0.005)
		l := channel(out, 0)
		within(t, tc.params+" pitch (Hz)", peakFrequency(t, l), tc.hz, 0.005*tc.hz)
		// A steady tone keeps its level (WSOLA aligns the segments).
		env := envelope(l[len(l)/2:], 480)
		lo, hi := math.Inf(1), 0.0
		for _, e := range env {
			lo, hi = math.Min(lo, e), math.Max(hi, e)
		}
		if lo < 0.4 || hi > 0.6 {
			t.Errorf("%s: envelope %.3f…%.3f, want about 0.5", tc.params, lo, hi)
		}
	}
	// The identity passes every sample through untouched.
	out := run(t, "timescale", `{"speed": 1, "pitch": 1, "rate": 1}`, in)
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("identity timescale changed sample %d", i)
		}
	}
}

func testTremolo(t *testing.T, run processor) {
	x := tones(2*Rate, 0.5, 1000)
	out := run(t, "tremolo", `{"frequency": 4, "depth": 0.6}`, stereo(x, x))
	env := envelope(channel(out, 0), 48) // 1 ms blocks
	lo, hi := math.Inf(1), 0.0
	minima := 0
	for i, e := range env {
		lo, hi = math.Min(lo, e), math.Max(hi, e)
		if i > 0 && i+1 < len(env) && e < env[i-1] && e <= env[i+1] && e < 0.3 {
			minima++
		}
	}
	within(t, "loudest", hi, 0.5, 0.01)
	within(t, "quietest/loudest (1 - depth)", lo/hi, 0.4, 0.02)
	within(t, "troughs in 2 s at 4 Hz", float64(minima), 8, 1)
}

func testVibrato(t *testing.T, run processor) {
	const f0, fv = 1000.0, 5.0
	x := tones(2*Rate, 0.5, f0)
	out := channel(run(t, "vibrato", fmt.Sprintf(`{"frequency": %v, "depth": 1}`, fv), stereo(x, x)), 0)
	// Instantaneous frequency from the upward zero crossings.
	var crossings []float64
	for i := Rate / 2; i+1 < len(out); i++ {
		if out[i] < 0 && out[i+1] >= 0 {
			crossings = append(crossings, float64(i)+out[i]/(out[i]-out[i+1]))
		}
	}
	lo, hi := math.Inf(1), 0.0
	for i := 1; i < len(crossings); i++ {
		f := Rate / (crossings[i] - crossings[i-1])
		lo, hi = math.Min(lo, f), math.Max(hi, f)
	}
	dev := f0 * 0.002 * math.Pi * fv // depth·W·π·f
	within(t, "highest frequency", hi, f0+dev, 0.2*dev)
	within(t, "lowest frequency", lo, f0-dev, 0.2*dev)
}

func testRotation(t *testing.T, run processor) {
	x := tones(2*Rate, 0.5, 1000)
	out := run(t, "rotation", `{"rotationHz": 2}`, stereo(x, x))
	el, er := envelope(channel(out, 0), 48), envelope(channel(out, 1), 48)
	loL, hiL := math.Inf(1), 0.0
	for i := range el {
		loL, hiL = math.Min(loL, el[i]), math.Max(hiL, el[i])
		// Constant power: l² + r² = 0.25 (within the envelope's 1 ms error).
		within(t, fmt.Sprintf("power at %d ms", i), el[i]*el[i]+er[i]*er[i], 0.25, 0.02)
	}
	within(t, "left loudest", hiL, 0.5, 0.01)
	within(t, "left quietest", loL, 0, 0.05)
	// rotationHz 0 is off.
	out = run(t, "rotation", `{"rotationHz": 0}`, stereo(x, x))
	for i, v := range stereo(x, x) {
		if out[i] != v {
			t.Fatalf("rotationHz 0 changed sample %d", i)
		}
	}
}

func testDistortion(t *testing.T, run processor) {
	n := fftSize + frame
	f := binFreq(440)
	x := tones(n, 0.9, f)
	in := stereo(x, x)
	out := run(t, "distortion", `{}`, in)
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("default distortion changed sample %d", i)
		}
	}
	out = run(t, "distortion", `{"scale": 0.5, "offset": 0.1}`, in)
	for i := range in {
		within(t, "offset + scale·x", float64(out[i]), 0.1+0.5*float64(in[i]), 1e-6)
	}
	out = run(t, "distortion", `{"sinScale": 3}`, in)
	spec := spectrum(t, channel(out, 0))
	if h3 := amplitudeAt(spec, 3*f) / amplitudeAt(spec, f); h3 < 0.05 {
		t.Errorf("sinScale 3: third harmonic at %.3f of the fundamental, want > 0.05", h3)
	}
	out = run(t, "distortion", `{"tanScale": 1.6, "tanOffset": 0.2}`, in)
	for i, v := range out {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("tan distortion gave sample %d = %v outside [-1, 1]", i, v)
		}
	}
}

func testChannelMix(t *testing.T, run processor) {
	n := fftSize + frame
	f1, f2 := binFreq(500), binFreq(2000)
	in := stereo(tones(n, 0.4, f1), tones(n, 0.3, f2))
	out := run(t, "channelMix", `{"leftToLeft": 0.8, "leftToRight": 0.3, "rightToLeft": 0.6, "rightToRight": 0.1}`, in)
	sl, sr := spectrum(t, channel(out, 0)), spectrum(t, channel(out, 1))
	within(t, "left from left", amplitudeAt(sl, f1)/0.4, 0.8, 1e-3)
	within(t, "left from right", amplitudeAt(sl, f2)/0.3, 0.6, 1e-3)
	within(t, "right from left", amplitudeAt(sr, f1)/0.4, 0.3, 1e-3)
	within(t, "right from right", amplitudeAt(sr, f2)/0.3, 0.1, 1e-3)
}

func testLowPass(t *testing.T, run processor) {
	n := fftSize + Rate/2
	freqs := []float64{binFreq(100), binFreq(1000), binFreq(5000), binFreq(15000)}
	x := tones(n, 0.1, freqs...)
	const smoothing = 20.0
	out := run(t, "lowPass", fmt.Sprintf(`{"smoothing": %v}`, smoothing), stereo(x, x))
	spec := spectrum(t, channel(out, 1))
	a := 1 / smoothing
	for _, f := range freqs {
		w := 2 * math.Pi * f / Rate
		// |H| = a / |1 − (1 − a)·e^(−jω)|
		re, im := 1-(1-a)*math.Cos(w), (1-a)*math.Sin(w)
		want := a / math.Hypot(re, im)
		within(t, fmt.Sprintf("%v Hz, dB", f), db(amplitudeAt(spec, f)/0.1), db(want), 0.1)
	}
	// smoothing ≤ 1 disables.
	out = run(t, "lowPass", `{"smoothing": 1}`, stereo(x, x))
	for i, v := range stereo(x, x) {
		if out[i] != v {
			t.Fatalf("smoothing 1 changed sample %d", i)
		}
	}
}
