package audio

import (
	"math"
)

// Resampler converts interleaved stereo float32 from one rate to 48 kHz with
// a polyphase windowed-sinc (Kaiser) filter: band-limited, not linear
// interpolation.
//
// Design: the output sample k sits at input time k·M/L, where L/M is the
// rate ratio out/in reduced by their greatest common divisor. For each of
// the L phases a set of 2·H taps is precomputed from
//
//	g(u) = 2·fc·sinc(2·fc·u)·kaiser(u/H),  fc = cutoff / inRate
//
// (for odd rates whose L exceeds maxPhases, maxPhases+1 evenly spaced
// phases are tabulated and the taps interpolated linearly between the two
// nearest, so the ratio stays exact) so that an output is a dot product of 2·H taps with the input around it;
// the filter is centred (zero group delay), so output time 0 is input time
// 0. The passband ends at passEdge·min(in, out) (20 kHz for 44.1 kHz), the
// stopband starts at the lower Nyquist frequency and is attenuated by
// stopbandDB; the Kaiser formula gives the length. TestResamplerQuality
// measures THD+N and aliasing.
//
// A Resampler is not safe for concurrent use. Steady state allocates
// nothing.
type Resampler struct {
	l, m  int       // output/input ratio L/M
	h     int       // half length in input samples: taps per phase = 2h
	rows  int       // tabulated phases: l, or maxPhases+1 when interpolating
	taps  []float32 // rows × 2h taps
	mixed []float32 // interpolated taps of the current output (odd rates)
	buf   []float32 // stereo input frames
	n     int       // frames held in buf
	end   int       // buffer index one past the last real input frame
	i     int       // buffer index of the next output's input position
	p     int       // phase of the next output, 0 ≤ p < l
	ended bool
}

const (
	passEdge   = 0.4535 // passband edge as a fraction of the lower rate (20 kHz at 44.1 kHz)
	stopbandDB = 100.0  // stopband attenuation
	maxPhases  = 1024   // largest L tabulated; beyond, taps are interpolated between phases
	rsChunk    = 1024   // input frames the buffer holds beyond the filter's span
)

// NewResampler returns a resampler from inRate to SampleRate.
func NewResampler(inRate int) *Resampler {
	g := gcd(SampleRate, inRate)
	l, m := SampleRate/g, inRate/g
	lower := math.Min(float64(inRate), SampleRate)
	pass := passEdge * lower
	stop := 0.5 * lower
	fc := (pass + stop) / 2 / float64(inRate) // cutoff, cycles per input sample
	df := (stop - pass) / float64(inRate)     // transition width, cycles per input sample
	beta := 0.1102 * (stopbandDB - 8.7)
	n := (stopbandDB - 7.95) / (2.285 * 2 * math.Pi * df)
	h := int(math.Ceil(n / 2))
	rows, step := l, 1/float64(l)
	if l > maxPhases {
		rows, step = maxPhases+1, 1/float64(maxPhases)
	}
	r := &Resampler{l: l, m: m, h: h, rows: rows, taps: make([]float32, rows*2*h)}
	if rows != l {
		r.mixed = make([]float32, 2*h)
	}
	i0 := bessel0(beta)
	vals := make([]float64, 2*h)
	for p := range rows {
		frac := float64(p) * step
		var sum float64
		for j := range 2 * h {
			vals[j] = 0
			u := frac - float64(j-h+1) // distance from the output to input tap j
			w := u / float64(h)
			if w <= -1 || w >= 1 {
				continue
			}
			x := 2 * fc * u
			s := 1.0
			if x != 0 {
				s = math.Sin(math.Pi*x) / (math.Pi * x)
			}
			v := s * bessel0(beta*math.Sqrt(1-w*w)) / i0
			vals[j] = v
			sum += v
		}
		row := r.taps[p*2*h : (p+1)*2*h]
		for j, v := range vals {
			row[j] = float32(v / sum) // unity gain at DC for every phase
		}
	}
	r.buf = make([]float32, 2*(2*h+rsChunk))
	r.Reset()
	return r
}

// Taps returns the filter length per output sample (for benchmarks and
// reports).
func (r *Resampler) Taps() int { return 2 * r.h }

// Reset forgets all input, as after a seek: the next output is at the
// next input pushed.
func (r *Resampler) Reset() {
	clear(r.buf)
	// h-1 frames of silence precede the first input frame.
	r.n = r.h - 1
	r.end = r.n
	r.i = r.n
	r.p = 0
	r.ended = false
}

// Free returns how many input frames Push accepts now.
func (r *Resampler) Free() int {
	r.compact()
	return len(r.buf)/2 - r.n
}

// Push appends interleaved stereo input and returns how many samples
// (float32 values, even) it took.
func (r *Resampler) Push(in []float32) int {
	k := min(len(in)/2, r.Free())
	copy(r.buf[2*r.n:], in[:2*k])
	r.n += k
	r.end = r.n
	return 2 * k
}

// End marks the end of the input: Pull then also produces the outputs
// whose filter span reaches past the last input frame.
func (r *Resampler) End() { r.ended = true }

// Pull writes as many output samples as the input allows into out (even
// length) and returns how many it wrote. After End, a Pull that returns 0
// means the resampler is drained.
func (r *Resampler) Pull(out []float32) int {
	w := 0
	for w+2 <= len(out) {
		if r.ended && r.i >= r.end {
			break
		}
		if need := r.i + r.h + 1; need > r.n {
			r.compact()
			need = r.i + r.h + 1
			if !r.ended {
				if need > r.n {
					break // the caller pushes more
				}
			} else {
				// Past the end the filter span reads silence.
				for r.n < need {
					r.buf[2*r.n], r.buf[2*r.n+1] = 0, 0
					r.n++
				}
			}
		}
		start := (r.i - r.h + 1) * 2
		x := r.buf[start : start+4*r.h]
		t := r.phaseTaps()
		out[w], out[w+1] = dot2(t, x)
		w += 2
		r.p += r.m
		r.i += r.p / r.l
		r.p %= r.l
	}
	return w
}

// phaseTaps returns the taps of the current phase.
func (r *Resampler) phaseTaps() []float32 {
	n := 2 * r.h
	if r.mixed == nil {
		return r.taps[r.p*n : (r.p+1)*n]
	}
	pos := float64(r.p) * maxPhases / float64(r.l)
	q := int(pos)
	w := float32(pos - float64(q))
	a, b := r.taps[q*n:(q+1)*n], r.taps[(q+1)*n:(q+2)*n]
	for j := range r.mixed {
		r.mixed[j] = a[j] + w*(b[j]-a[j])
	}
	return r.mixed
}

// compact drops the input frames no later output needs.
func (r *Resampler) compact() {
	drop := min(r.i-r.h+1, r.n)
	if drop <= 0 {
		return
	}
	copy(r.buf, r.buf[2*drop:2*r.n])
	r.n -= drop
	r.end -= drop
	r.i -= drop
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / 2) / float64(k)
		t := term * term
		sum += t
		if t < sum*1e-17 {
			break
		}
	}
	return sum
}

// dot2 returns the dot products of taps t with the left and right samples
// of interleaved x (len(x) == 2·len(t)), four taps per iteration with two
// accumulators per channel.
func dot2(t, x []float32) (float32, float32) {
	x = x[:2*len(t)]
	var l0, r0, l1, r1 float32
	j := 0
	for ; j+4 <= len(t); j += 4 {
		c := t[j : j+4 : j+4]
		v := x[2*j : 2*j+8 : 2*j+8]
		l0 += c[0]*v[0] + c[2]*v[4]
		r0 += c[0]*v[1] + c[2]*v[5]
		l1 += c[1]*v[2] + c[3]*v[6]
		r1 += c[1]*v[3] + c[3]*v[7]
	}
	for ; j < len(t); j++ {
		l0 += t[j] * x[2*j]
		r0 += t[j] * x[2*j+1]
	}
	return l0 + l1, r0 + r1
}
