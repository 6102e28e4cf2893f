package dsp

import "math"

// Timescale changes speed, pitch and rate independently, with Lavalink's
// meaning:
//
//   - speed stretches time and keeps the pitch,
//   - pitch shifts the pitch and keeps the duration,
//   - rate does both, like playing a record faster.
//
// All three are > 0, default 1. The output lasts 1/(speed·rate) times the
// input and sounds pitch·rate times higher. It is computed in two stages:
//
//	input ─▶ resampler, step r = pitch·rate ─▶ WSOLA time stretch, tempo τ = speed/pitch ─▶ output
//
// The resampler reads the input at r frames per output frame with 4-point
// (Catmull-Rom) interpolation. The stretch is a waveform-similarity
// overlap-add (WSOLA): it cuts the signal into 50 ms segments that overlap
// by 10 ms, advances the input by τ·40 ms per 40 ms of output, and places
// each segment where, within a 15 ms window, it best continues the previous
// one (normalised cross-correlation, searched coarse-to-fine).
//
// # Limits
//
// One process call may return at most cap frames (four 20 ms frames in ABI
// v1), so the length ratio 1/(speed·rate) is clamped to 1/8…4 and the pitch
// ratio pitch·rate to 1/4…4. The output starts about 60 ms late (the stretch
// needs a segment and a search window of input) and arrives in bursts of
// 40 ms; the node re-frames it. A speed or rate whose product is 1, with
// pitch·rate 1, is the identity and costs nothing.
type Timescale struct {
	speed, pitch, rate float64

	srate    int // the sample rate the sizes are for
	channels int // the channel count the state is for

	// The resampler: rsIn holds pending input frames, the first one being
	// the history frame left of rsPos.
	step  float64 // r
	rsIn  []float32
	rsLen int
	rsPos float64
	rsOut []float32

	// The stretch.
	tempo              float64 // τ
	seq, overlap, seek int     // in frames
	in                 []float32
	inLen              int
	skip               int     // input frames still to discard
	advance            float64 // fractional part of the input advance
	tail               []float32
	tailSum, inSum     []float32 // stereo: each frame's two samples summed, for the search
	started            bool
	out                []float32
	outLen             int
}

// NewTimescale returns the identity timescale, with buffers for 48 kHz.
func NewTimescale() *Timescale {
	t := &Timescale{speed: 1, pitch: 1, rate: 1}
	t.configure(48000, 2)
	return t
}

func (t *Timescale) SetParam(name string, value float64) int32 {
	var p *float64
	switch name {
	case "speed":
		p = &t.speed
	case "pitch":
		p = &t.pitch
	case "rate":
		p = &t.rate
	default:
		return Unknown
	}
	if !finite(value) || value <= 0 {
		return OutOfRange
	}
	*p = value
	return OK
}

// clamp returns v limited to [lo, hi].
func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// ratios returns the resampler step r and the tempo τ for the parameters.
func (t *Timescale) ratios() (r, tau float64) {
	r = clamp(t.pitch*t.rate, 0.25, 4)
	q := clamp(t.speed*t.rate, 0.25, 8)
	return r, q / r
}

// configure sizes the buffers for a sample rate and forgets the signal.
func (t *Timescale) configure(rate, channels int) {
	if rate != t.srate {
		t.srate = rate
		t.seq = int(0.050 * float64(rate))
		t.overlap = int(0.010 * float64(rate))
		t.seek = int(0.015 * float64(rate))
		rsFrames := 3 + MaxFrames
		t.rsIn = make([]float32, rsFrames*2)
		t.rsOut = make([]float32, (rsFrames*4+4)*2)
		t.in = make([]float32, (t.seek+t.seq+rsFrames*4+4)*2)
		t.tail = make([]float32, t.overlap*2)
		t.tailSum = make([]float32, t.overlap)
		t.inSum = make([]float32, t.seek+t.overlap)
		t.out = make([]float32, (4*MaxFrames+t.seq)*2)
	}
	t.channels = channels
	t.Reset()
}

func (t *Timescale) Reset() {
	t.rsLen, t.rsPos = 1, 1
	clear(t.rsIn[:2])
	t.inLen, t.skip, t.advance, t.started = 0, 0, 0, false
	t.outLen = 0
}

func (t *Timescale) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 2) || capFrames > MaxFrames {
		return -1
	}
	if rate != t.srate || channels != t.channels {
		t.configure(rate, channels)
	}
	r, tau := t.ratios()
	t.step, t.tempo = r, tau
	if r == 1 && tau == 1 && t.outLen == 0 && t.inLen == 0 {
		return frames // the identity
	}
	ch := channels
	src := buf[:frames*ch]
	if r != 1 {
		src = t.resample(src)
	}
	if tau != 1 {
		t.stretch(src)
	} else {
		t.emit(src)
	}
	n := min(t.outLen, capFrames)
	copy(buf[:n*ch], t.out[:n*ch])
	copy(t.out, t.out[n*ch:t.outLen*ch])
	t.outLen -= n
	return n
}

// resample appends src to the pending input and returns the frames it can
// interpolate, in t.rsOut.
func (t *Timescale) resample(src []float32) []float32 {
	ch := t.channels
	copy(t.rsIn[t.rsLen*ch:], src)
	t.rsLen += len(src) / ch
	n := 0
	if ch == 2 {
		n, t.rsPos = hermiteStereo(t.rsIn[:t.rsLen*2], t.rsOut, t.rsPos, t.step)
	} else {
		for {
			i := int(t.rsPos)
			if i+2 >= t.rsLen {
				break
			}
			t.rsOut[n] = hermite(t.rsIn[i-1], t.rsIn[i], t.rsIn[i+1], t.rsIn[i+2], float32(t.rsPos-float64(i)))
			n++
			t.rsPos += t.step
		}
	}
	drop := int(t.rsPos) - 1 // keep the history frame left of rsPos
	copy(t.rsIn, t.rsIn[drop*ch:t.rsLen*ch])
	t.rsLen -= drop
	t.rsPos -= float64(drop)
	return t.rsOut[:n*ch]
}

// emit appends frames to the output FIFO. Should a pathological chain feed
// more than the FIFO holds, the oldest frames are dropped.
func (t *Timescale) emit(src []float32) {
	ch := t.channels
	if over := t.outLen*ch + len(src) - len(t.out); over > 0 {
		if over > t.outLen*ch {
			src = src[len(src)-len(t.out):]
			t.outLen = 0
		} else {
			copy(t.out, t.out[over:t.outLen*ch])
			t.outLen -= over / ch
		}
	}
	copy(t.out[t.outLen*ch:], src)
	t.outLen += len(src) / ch
}

// stretch appends src to the stretch's input and runs every segment it can.
func (t *Timescale) stretch(src []float32) {
	ch := t.channels
	if t.skip > 0 {
		s := min(t.skip, len(src)/ch)
		t.skip -= s
		src = src[s*ch:]
	}
	if over := t.inLen*ch + len(src) - len(t.in); over > 0 { // cannot happen with ABI v1 sizes
		src = src[:len(src)-over]
	}
	copy(t.in[t.inLen*ch:], src)
	t.inLen += len(src) / ch
	for t.inLen >= t.seek+t.seq {
		t.segment()
	}
}

// segment outputs one segment of seq−overlap frames.
func (t *Timescale) segment() {
	ch, ov := t.channels, t.overlap
	k := 0
	if t.started {
		k = t.bestOffset()
	}
	seg := t.in[k*ch : (k+t.seq)*ch]
	// The overlap: a linear cross-fade from the previous segment's tail.
	fade := t.out[:0]
	if free := len(t.out) - t.outLen*ch; free >= (t.seq-ov)*ch {
		fade = t.out[t.outLen*ch : t.outLen*ch+ov*ch]
	} else {
		t.outLen = 0 // the FIFO overflowed: drop what it held
		fade = t.out[:ov*ch]
	}
	if t.started {
		for j := 0; j < ov; j++ {
			w := (float32(j) + 0.5) / float32(ov)
			for c := 0; c < ch; c++ {
				a, b := t.tail[j*ch+c], seg[j*ch+c]
				fade[j*ch+c] = a + w*(b-a)
			}
		}
	} else {
		copy(fade, seg[:ov*ch])
	}
	t.outLen += ov
	copy(t.out[t.outLen*ch:], seg[ov*ch:(t.seq-ov)*ch])
	t.outLen += t.seq - 2*ov
	copy(t.tail, seg[(t.seq-ov)*ch:])
	t.started = true

	t.advance += t.tempo * float64(t.seq-ov)
	adv := int(t.advance)
	t.advance -= float64(adv)
	if adv >= t.inLen {
		t.skip += adv - t.inLen
		t.inLen = 0
		return
	}
	copy(t.in, t.in[adv*ch:t.inLen*ch])
	t.inLen -= adv
}

// bestOffset returns the k in [0, seek) where in[k:k+overlap] best continues
// the tail: the maximum of the normalised cross-correlation of the channel
// sums, first every 8th offset over every 4th frame, then ±7 around it over
// every 2nd frame. (Every 4th offset, ±3, cost 1.6× as much under wazero
// and kept steady tones just as level: an 8-frame step is 0.17 ms, and
// the refinement covers the whole gap.)
func (t *Timescale) bestOffset() int {
	if t.channels == 2 {
		// The channel sums, once, rather than in each of the ~190
		// correlations that read them.
		sumPairs(t.tailSum, t.tail[:t.overlap*2])
		sumPairs(t.inSum, t.in[:(t.seek+t.overlap)*2])
	}
	best := t.search(0, t.seek, 8, 4)
	return t.search(max(0, best-7), min(t.seek, best+8), 1, 2)
}

func (t *Timescale) search(from, to, kStep, jStep int) int {
	ch, ov := t.channels, t.overlap
	best, bestScore := from, math.Inf(-1)
	for k := from; k < to; k += kStep {
		var corr, energy float64
		if ch == 2 {
			corr, energy = correlate(t.tailSum, t.inSum[k:k+ov], jStep)
		} else {
			corr, energy = correlate(t.tail[:ov], t.in[k:k+ov], jStep)
		}
		score := corr / math.Sqrt(energy+1e-9)
		if score > bestScore {
			best, bestScore = k, score
		}
	}
	return best
}

// correlate returns the cross-correlation of a and b and the energy of b,
// over every step-th sample. It is a function of its own (see "Why hot
// loops live in small functions" in package wasm).
//
//go:noinline
func correlate(a, b []float32, step int) (corr, energy float64) {
	n := min(len(a), len(b))
	for j := 0; j < n; j += step {
		corr += float64(a[j] * b[j])
		energy += float64(b[j] * b[j])
	}
	return corr, energy
}

// sumPairs sets sum[i] to in[2i] + in[2i+1].
//
//go:noinline
func sumPairs(sum, in []float32) {
	for i := range sum {
		if 2*i+1 >= len(in) {
			return
		}
		sum[i] = in[2*i] + in[2*i+1]
	}
}

// hermite interpolates between x0 and x1 at x in [0, 1) with the 4-point
// Catmull-Rom spline through xm, x0, x1, x2.
func hermite(xm, x0, x1, x2, x float32) float32 {
	c1 := 0.5 * (x1 - xm)
	c2 := xm - 2.5*x0 + 2*x1 - 0.5*x2
	c3 := 0.5*(x2-xm) + 1.5*(x0-x1)
	return ((c3*x+c2)*x+c1)*x + x0
}

// hermiteStereo resamples interleaved stereo in into out, reading at pos
// and advancing by step, while four frames around pos exist. It returns
// the frames written and the new position. It is a function of its own (see
// "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func hermiteStereo(in, out []float32, pos, step float64) (int, float64) {
	frames := len(in) / 2
	n := 0
	for {
		i := int(pos)
		if i+2 >= frames || 2*n+1 >= len(out) {
			return n, pos
		}
		x := float32(pos - float64(i))
		w := in[(i-1)*2 : (i+3)*2 : (i+3)*2]
		o := out[2*n : 2*n+2 : 2*n+2]
		o[0] = hermite(w[0], w[2], w[4], w[6], x)
		o[1] = hermite(w[1], w[3], w[5], w[7], x)
		n++
		pos += step
	}
}
