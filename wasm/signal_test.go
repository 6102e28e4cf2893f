package wasm

import (
	"context"
	"math"
	"math/cmplx"
	"testing"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// Signals and measurements for the built-in filters' tests.

const frame = 960 // frames per 20 ms

// stereo interleaves two channels.
func stereo(l, r []float64) []float32 {
	out := make([]float32, 2*len(l))
	for i := range l {
		out[2*i], out[2*i+1] = float32(l[i]), float32(r[i])
	}
	return out
}

// channel extracts channel c of an interleaved stereo signal.
func channel(pcm []float32, c int) []float64 {
	out := make([]float64, len(pcm)/2)
	for i := range out {
		out[i] = float64(pcm[2*i+c])
	}
	return out
}

// tones returns n samples of a sum of sines, amplitude amp each.
func tones(n int, amp float64, freqs ...float64) []float64 {
	out := make([]float64, n)
	for _, f := range freqs {
		w := 2 * math.Pi * f / Rate
		for i := range out {
			out[i] += amp * math.Sin(w*float64(i))
		}
	}
	return out
}

// fftSize is the analysis length: 1.37 s at 48 kHz, 0.73 Hz per bin.
const fftSize = 1 << 16

// binFreq returns the frequency of the FFT bin nearest to f, so that a tone
// at it is periodic in the analysis window and its bin gives its exact
// amplitude.
func binFreq(f float64) float64 { return math.Round(f*fftSize/Rate) * Rate / fftSize }

// fft returns the discrete Fourier transform of x (len a power of two).
func fft(x []complex128) []complex128 {
	n := len(x)
	out := make([]complex128, n)
	copy(out, x)
	for i, j := 1, 0; i < n; i++ { // bit reversal
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			out[i], out[j] = out[j], out[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				a, b := out[start+k], out[start+k+size/2]*wk
				out[start+k], out[start+k+size/2] = a+b, a-b
				wk *= w
			}
		}
	}
	return out
}

// spectrum returns the amplitude spectrum of the last fftSize samples of x
// (rectangular window: exact for bin-centred tones).
func spectrum(t *testing.T, x []float64) []float64 {
	t.Helper()
	if len(x) < fftSize {
		t.Fatalf("%d samples, need %d for the analysis", len(x), fftSize)
	}
	x = x[len(x)-fftSize:]
	in := make([]complex128, fftSize)
	for i, v := range x {
		in[i] = complex(v, 0)
	}
	X := fft(in)
	amp := make([]float64, fftSize/2)
	for k := range amp {
		amp[k] = 2 * cmplx.Abs(X[k]) / fftSize
	}
	return amp
}

// amplitudeAt returns the amplitude of the bin-centred tone at f.
func amplitudeAt(spec []float64, f float64) float64 {
	return spec[int(math.Round(f*fftSize/Rate))]
}

// peakFrequency returns the strongest frequency of the last fftSize samples,
// Hann-windowed and interpolated between bins.
func peakFrequency(t *testing.T, x []float64) float64 {
	t.Helper()
	if len(x) < fftSize {
		t.Fatalf("%d samples, need %d for the analysis", len(x), fftSize)
	}
	x = x[len(x)-fftSize:]
	in := make([]complex128, fftSize)
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/fftSize)
		in[i] = complex(v*w, 0)
	}
	X := fft(in)
	best := 1
	for k := 1; k < fftSize/2-1; k++ {
		if cmplx.Abs(X[k]) > cmplx.Abs(X[best]) {
			best = k
		}
	}
	a, b, c := math.Log(cmplx.Abs(X[best-1])), math.Log(cmplx.Abs(X[best])), math.Log(cmplx.Abs(X[best+1]))
	return (float64(best) + 0.5*(a-c)/(a-2*b+c)) * Rate / fftSize
}

// envelope returns the peak absolute value of each block of n samples.
func envelope(x []float64, n int) []float64 {
	out := make([]float64, 0, len(x)/n)
	for i := 0; i+n <= len(x); i += n {
		m := 0.0
		for _, v := range x[i : i+n] {
			m = math.Max(m, math.Abs(v))
		}
		out = append(out, m)
	}
	return out
}

func db(ratio float64) float64 { return 20 * math.Log10(ratio) }

// processor runs a filter with parameters over a whole signal, 20 ms at a
// time, and returns what came out (the WASM chain or the same DSP code
// compiled natively).
type processor func(t *testing.T, filter, params string, pcm []float32) []float32

// wasmProcessor runs the filter as the node does: a chain of the built-in
// module on h.
func wasmProcessor(h *Host) processor {
	return func(t *testing.T, filter, params string, pcm []float32) []float32 {
		t.Helper()
		c := newChain(t, h, `{"`+filter+`": `+params+`}`, func(f string, err error) {
			t.Errorf("filter %s failed: %v", f, err)
		})
		defer c.Close(context.Background())
		var out []float32
		for i := 0; i < len(pcm); i += frame * 2 {
			out = append(out, c.Process(pcm[i:min(len(pcm), i+frame*2)])...)
		}
		return out
	}
}

// nativeProcessor runs the same DSP code compiled for the host.
func nativeProcessor(t *testing.T, filter, params string, pcm []float32) []float32 {
	t.Helper()
	spec, err := ParseChain([]byte(`{"` + filter + `": ` + params + `}`))
	if err != nil {
		t.Fatal(err)
	}
	f := dsp.New(filter)
	for _, p := range spec.Filters[0].Params {
		if r := f.SetParam(p.Name, p.Value); r != dsp.OK {
			t.Fatalf("%s: SetParam(%s, %v) = %d", filter, p.Name, p.Value, r)
		}
	}
	buf := make([]float32, Cap*2)
	var out []float32
	for i := 0; i < len(pcm); i += frame * 2 {
		in := pcm[i:min(len(pcm), i+frame*2)]
		copy(buf, in)
		n := f.Process(buf, len(in)/2, 2, Rate, Cap)
		if n < 0 {
			t.Fatalf("%s: Process returned %d", filter, n)
		}
		out = append(out, buf[:n*2]...)
	}
	return out
}
