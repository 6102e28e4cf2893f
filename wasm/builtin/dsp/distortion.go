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

// distort applies the terms one pass each over a float64 copy of the
// samples, then the offset, scale and clamp. Each pass is a loop with the
// polynomials written out in it (sincos does not inline, and a call per
// sample is dear under wazero): when every argument is within ±π/2
// (samples within ±1 at scales up to π/2) one polynomial and no reduction,
// else sincos's reduction and only the polynomial each sample's quadrant
// needs. With two terms under wazero: 144 µs a frame calling sincos, ≈ 90
// with the reduction inline, ≈ 60–70 direct (1.3× in an A/B on a busy
// machine). The products are formed in the same order as a single pass
// would form them.
func (d *Distortion) distort(s []float32, useSin, useCos, useTan bool) {
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
			w[i] *= offset + (1 + x2*(-1.0/2+x2*(1.0/24+x2*(-1.0/720+x2*(1.0/40320+x2*(-1.0/3628800+x2*(1.0/479001600+x2*(-1.0/87178291200))))))))
		}
		return
	}
	for i, v := range s {
		x := scale * float64(v)
		x2 := x * x
		w[i] *= offset + x*(1+x2*(-1.0/6+x2*(1.0/120+x2*(-1.0/5040+x2*(1.0/362880+x2*(-1.0/39916800+x2*(1.0/6227020800)))))))
	}
}

// shape writes clamp(offset + scale·w, −1, 1) to s, NaN as 0.
//
//go:noinline
func shape(s []float32, w []float64, offset, scale float64) {
	w = w[:len(s)]
	for i, v := range w {
		y := offset + scale*v
		switch {
		case y > 1:
			y = 1
		case y < -1:
			y = -1
		case y != y: // NaN
			y = 0
		}
		s[i] = float32(y)
	}
}
