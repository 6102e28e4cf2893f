package dsp

import "math"

// Distortion is a waveshaper with Lavalink's eight parameters. Each of the
// three trigonometric terms is active only when its offset or scale differs
// from the default (0 and 1), and multiplies the sample:
//
//	w  = x · S · C · T        S = sinOffset + sin(sinScale·x)   (if active, else 1)
//	                          C = cosOffset + cos(cosScale·x)   (if active, else 1)
//	                          T = tanOffset + tan(tanScale·x)   (if active, else 1)
//	x' = clamp(offset + scale·w, −1, 1)
//
// With every parameter at its default the filter is the identity. All
// parameters take any finite value. The output is clamped (a waveshaper
// with tan can produce anything) and NaN becomes 0.
type Distortion struct {
	sinOffset, sinScale float64
	cosOffset, cosScale float64
	tanOffset, tanScale float64
	offset, scale       float64
	w                   []float64 // the samples as the terms multiply them
}

// NewDistortion returns the identity distortion.
func NewDistortion() *Distortion {
	return &Distortion{sinScale: 1, cosScale: 1, tanScale: 1, scale: 1}
}

func (d *Distortion) SetParam(name string, value float64) int32 {
	var p *float64
	switch name {
	case "sinOffset":
		p = &d.sinOffset
	case "sinScale":
		p = &d.sinScale
	case "cosOffset":
		p = &d.cosOffset
	case "cosScale":
		p = &d.cosScale
	case "tanOffset":
		p = &d.tanOffset
	case "tanScale":
		p = &d.tanScale
	case "offset":
		p = &d.offset
	case "scale":
		p = &d.scale
	default:
		return Unknown
	}
	if !finite(value) {
		return OutOfRange
	}
	*p = value
	return OK
}

func (d *Distortion) Reset() {}

func (d *Distortion) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	useSin := d.sinOffset != 0 || d.sinScale != 1
	useCos := d.cosOffset != 0 || d.cosScale != 1
	useTan := d.tanOffset != 0 || d.tanScale != 1
	if !useSin && !useCos && !useTan && d.offset == 0 && d.scale == 1 {
		return frames
	}
	d.distort(buf[:frames*channels], useSin, useCos, useTan)
	return frames
}

// distort has two paths. Without tan, and with every sin and cos argument
// within ±π/2 (samples within ±1 at scales up to π/2: the usual settings),
// one pass does everything (directShape). Otherwise the terms are applied
// one pass each over a float64 copy of the samples, then the offset, scale
// and clamp; each pass is a loop with the polynomials written out in it
// (sincos does not inline, and a call per sample is dear under wazero),
// with sincos's reduction and only the polynomial each sample's quadrant
// needs. With sin and cos on, under wazero: 144 µs a frame calling
// sincos, ≈ 90 with the reduction inline, 55–57 with a pass per term,
// 36–38 in one pass. Both paths form the products in the same order.
func (d *Distortion) distort(s []float32, useSin, useCos, useTan bool) {
	if !useTan && directOK(s, useSin, d.sinScale, useCos, d.cosScale) {
		// The usual settings: one pass does everything. An inactive term
		// becomes a factor of exactly 1 (sin 0 = 0 plus offset 1; cos 0 = 1
		// plus offset 0), so the products stay those of the passes below.
		ss, so, cs, co := d.sinScale, d.sinOffset, d.cosScale, d.cosOffset
		if !useSin {
			ss, so = 0, 1
		}
		if !useCos {
			cs, co = 0, 0
		}
		directShape(s, ss, so, cs, co, d.offset, d.scale)
		return
	}
	if cap(d.w) < len(s) {
		d.w = make([]float64, len(s))
	}
	w := d.w[:len(s)]
	for i, v := range s {
		w[i] = float64(v)
	}
	if useSin {
		trigTerm(w, s, d.sinScale, d.sinOffset, termSin)
	}
	if useCos {
		trigTerm(w, s, d.cosScale, d.cosOffset, termCos)
	}
	if useTan {
		trigTerm(w, s, d.tanScale, d.tanOffset, termTan)
	}
	shape(s, w, d.offset, d.scale)
}

const (
	termSin = iota
	termCos
	termTan
)

// trigTerm multiplies w[i] by offset + f(scale·s[i]), f being sin, cos or
// tan as term says: sincos's reduction and polynomials, inline, and for
// sin and cos only the polynomial the quadrant needs. (See "Why hot loops
// live in small functions" in package wasm.)
//
//go:noinline
func trigTerm(w []float64, s []float32, scale, offset float64, term int) {
	s = s[:len(w)]
	if term != termTan && withinHalfPi(s, scale) {
		// Samples within ±1 and a scale up to π/2, the usual case: no
		// reduction, one polynomial, no branch.
		directTerm(w, s, scale, offset, term == termCos)
		return
	}
	// cos x = sin(x + π/2): one quadrant on.
	shift := int64(0)
	if term == termCos {
		shift = 1
	}
	for i, v := range s {
		x := scale * float64(v)
		if !(x >= -1e6 && x <= 1e6) { // also NaN
			sin, cos := math.Sincos(x)
			f := sin
			switch term {
			case termCos:
				f = cos
			case termTan:
				f = sin / cos
			}
			w[i] *= offset + f
			continue
		}
		k, r := reduce(x)
		r2 := r * r
		q := (k + shift) & 3
		var f float64
		switch {
		case term == termTan: // period π: quadrants 0, 2 and 1, 3 agree
			if q&1 == 0 {
				f = sinPoly(r, r2) / cosPoly(r2)
			} else {
				f = -cosPoly(r2) / sinPoly(r, r2)
			}
		case q&1 == 0:
			f = sinPoly(r, r2)
		default:
			f = cosPoly(r2)
		}
		if term != termTan && q&2 != 0 {
			f = -f
		}
		w[i] *= offset + f
	}
}

// withinHalfPi reports whether every |scale·s[i]| is at most π/2 (false
// for NaN).
//
//go:noinline
func withinHalfPi(s []float32, scale float64) bool {
	limit := float32(math.Pi / 2 / math.Abs(scale))
	for _, v := range s {
		if !(v <= limit && v >= -limit) {
			return false
		}
	}
	return true
}

// directTerm is trigTerm for arguments within ±π/2: sin or cos as Taylor
// polynomials to x¹³ and x¹⁴ (errors below 1e-9 there).
//
//go:noinline
func directTerm(w []float64, s []float32, scale, offset float64, cosine bool) {
	s = s[:len(w)]
	if cosine {
		for i, v := range s {
			x := scale * float64(v)
			x2 := x * x
			w[i] *= offset + cosTaylor(x2)
		}
		return
	}
	for i, v := range s {
		x := scale * float64(v)
		x2 := x * x
		w[i] *= offset + sinTaylor(x, x2)
	}
}

// directOK reports whether every active term's argument is within ±π/2:
// one pass over the samples for the largest magnitude, as bits (for
// floats of one sign the integer order is the float order, and a NaN's
// bits exceed every number's, so a NaN fails the test).
func directOK(s []float32, useSin bool, sinScale float64, useCos bool, cosScale float64) bool {
	scale := 0.0
	if useSin {
		scale = math.Abs(sinScale)
	}
	if useCos {
		scale = max(scale, math.Abs(cosScale))
	}
	if scale == 0 {
		return true
	}
	return peakBits(s) <= math.Float32bits(float32(math.Pi/2/scale))
}

// peakBits returns the largest |s[i]| as float32 bits.
//
//go:noinline
func peakBits(s []float32) uint32 {
	var m uint32
	for _, v := range s {
		m = max(m, math.Float32bits(v)&0x7fffffff)
	}
	return m
}

// directShape is distort in one pass for sin and cos arguments within
// ±π/2 and no tan: x·(so + sin(ss·x))·(co + cos(cs·x)), then offset, scale
// and the clamp. One loop instead of four (convert, sin, cos, shape) and
// one check of the arguments (directOK) instead of one per term.
//
//go:noinline
func directShape(s []float32, ss, so, cs, co, offset, scale float64) {
	for i, v := range s {
		x := float64(v)
		a := ss * x
		a2 := a * a
		b := cs * x
		b2 := b * b
		w := x * (so + sinTaylor(a, a2))
		w *= co + cosTaylor(b2)
		s[i] = clampSample(offset + scale*w)
	}
}

// sinTaylor and cosTaylor are sin x and cos x for |x| ≤ π/2, x2 = x²
// (Taylor to x¹³ and x¹⁴; errors below 1e-9 there). They inline.
func sinTaylor(x, x2 float64) float64 {
	return x * (1 + x2*(-1.0/6+x2*(1.0/120+x2*(-1.0/5040+x2*(1.0/362880+x2*(-1.0/39916800+x2*(1.0/6227020800)))))))
}

func cosTaylor(x2 float64) float64 {
	return 1 + x2*(-1.0/2+x2*(1.0/24+x2*(-1.0/720+x2*(1.0/40320+x2*(-1.0/3628800+x2*(1.0/479001600+x2*(-1.0/87178291200)))))))
}

// shape writes clamp(offset + scale·w, −1, 1) to s, NaN as 0.
//
//go:noinline
func shape(s []float32, w []float64, offset, scale float64) {
	w = w[:len(s)]
	for i, v := range w {
		s[i] = clampSample(offset + scale*v)
	}
}

// clampSample is y limited to [−1, 1], NaN as 0. (A switch: Go's builtin
// min and max compile their NaN and signed-zero rules into branches.) It
// inlines.
func clampSample(y float64) float32 {
	switch {
	case y > 1:
		y = 1
	case y < -1:
		y = -1
	case y != y: // NaN
		y = 0
	}
	return float32(y)
}
