package audio

import (
	"math"
	"testing"
)

// resampleAll runs x (stereo, interleaved) through a resampler from rate in
// uneven chunks, as the converter does.
func resampleAll(rate int, x []float32) []float32 {
	r := NewResampler(rate)
	var out []float32
	buf := make([]float32, 2*777)
	for len(x) > 0 {
		n := r.Push(x[:min(len(x), 2*333)])
		x = x[n:]
		for {
			k := r.Pull(buf)
			out = append(out, buf[:k]...)
			if k == 0 {
				break
			}
		}
	}
	r.End()
	for {
		k := r.Pull(buf)
		if k == 0 {
			break
		}
		out = append(out, buf[:k]...)
	}
	return out
}

func stereoSine(rate int, freq, amp float64, secs float64) []float32 {
	n := int(float64(rate) * secs)
	x := make([]float32, 2*n)
	for i := range n {
		v := float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		x[2*i], x[2*i+1] = v, v
	}
	return x
}

// thdN fits a sine of frequency f to x (least squares over sin and cos)
// and returns the residual's level relative to the sine, in dB: THD+N.
func thdN(x []float64, f float64, rate int) float64 {
	var ss, sc, cc, xs, xc float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * f * float64(i) / float64(rate))
		ss += s * s
		sc += s * c
		cc += c * c
		xs += v * s
		xc += v * c
	}
	det := ss*cc - sc*sc
	a := (xs*cc - xc*sc) / det
	b := (xc*ss - xs*sc) / det
	var sig, res float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * f * float64(i) / float64(rate))
		fit := a*s + b*c
		sig += fit * fit
		res += (v - fit) * (v - fit)
	}
	return 10 * math.Log10(res/sig)
}

// TestResamplerQuality measures the resampler on sines: THD+N for tones in
// the passband, and the level of what a tone above the output's Nyquist
// frequency aliases to. Figures are logged for the package comment.
func TestResamplerQuality(t *testing.T) {
	for _, tc := range []struct {
		rate    int
		freq    float64
		maxTHDN float64 // dB
	}{
		{44100, 1000, -90},
		{44100, 10000, -90},
		{44100, 19000, -85},
		{22050, 1000, -90},
		{32000, 5000, -90},
		{8000, 440, -90},
		{96000, 1000, -90},
		{96000, 15000, -90},
		{44056, 1000, -90}, // odd rate: approximated ratio
	} {
		x := stereoSine(tc.rate, tc.freq, 0.5, 1)
		y := resampleAll(tc.rate, x)
		wantLen := int(math.Ceil(float64(len(x)/2) * SampleRate / float64(tc.rate)))
		if d := len(y)/2 - wantLen; d < -1 || d > 1 {
			t.Errorf("%d Hz: %d output frames, want %d", tc.rate, len(y)/2, wantLen)
		}
		// Skip the filter's edges.
		mid := channel(y, 0)[4800 : len(y)/2-4800]
		got := thdN(mid, tc.freq, SampleRate)
		lin := thdN(channel(linearResample(tc.rate, x), 0)[4800:len(y)/2-4800], tc.freq, SampleRate)
		t.Logf("%6d Hz → 48 kHz, %5.0f Hz sine: THD+N %.1f dB (linear interpolation: %.1f dB), %d taps",
			tc.rate, tc.freq, got, lin, NewResampler(tc.rate).Taps())
		if got > tc.maxTHDN {
			t.Errorf("%d Hz, %.0f Hz sine: THD+N %.1f dB, want ≤ %.0f dB", tc.rate, tc.freq, got, tc.maxTHDN)
		}
		// The channels are processed alike.
		if r := channel(y, 1)[4800 : len(y)/2-4800]; math.Abs(rmsDB(r)-rmsDB(mid)) > 1e-6 {
			t.Errorf("channels differ")
		}
	}
	// Aliasing: a tone above 24 kHz at 96 kHz must vanish, not fold to
	// 48 kHz − f.
	for _, f := range []float64{26000, 30000, 40000} {
		x := stereoSine(96000, f, 0.5, 1)
		y := channel(resampleAll(96000, x), 0)[4800 : 48000-4800]
		level := rmsDB(y) - 20*math.Log10(0.5/math.Sqrt2)
		lin := rmsDB(channel(linearResample(96000, x), 0)[4800:48000-4800]) - 20*math.Log10(0.5/math.Sqrt2)
		t.Logf("96 kHz → 48 kHz, %5.0f Hz sine: alias at %.1f dB (linear interpolation: %.1f dB)", f, level, lin)
		if level > -90 {
			t.Errorf("%.0f Hz at 96 kHz aliases at %.1f dB, want ≤ -90 dB", f, level)
		}
	}
}

// linearResample is the naive interpolation the package does not use, as a
// reference figure.
func linearResample(rate int, x []float32) []float32 {
	n := len(x) / 2
	m := int(float64(n) * SampleRate / float64(rate))
	y := make([]float32, 2*m)
	for k := range m {
		p := float64(k) * float64(rate) / SampleRate
		i := int(p)
		f := float32(p - float64(i))
		for c := range 2 {
			a := x[2*min(i, n-1)+c]
			b := x[2*min(i+1, n-1)+c]
			y[2*k+c] = a + (b-a)*f
		}
	}
	return y
}

func TestResamplerReset(t *testing.T) {
	x := stereoSine(44100, 1000, 0.5, 0.2)
	a := resampleAll(44100, x)
	r := NewResampler(44100)
	buf := make([]float32, 4096)
	r.Push(x[:2000])
	r.Pull(buf)
	r.Reset()
	// After Reset the output is as from a fresh resampler.
	var b []float32
	for len(x) > 0 {
		n := r.Push(x)
		x = x[n:]
		for k := r.Pull(buf); k > 0; k = r.Pull(buf) {
			b = append(b, buf[:k]...)
		}
	}
	r.End()
	for k := r.Pull(buf); k > 0; k = r.Pull(buf) {
		b = append(b, buf[:k]...)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d samples", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("sample %d: %v vs %v", i, a[i], b[i])
		}
	}
}
