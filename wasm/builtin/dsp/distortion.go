package dsp

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

// distort is the loop, in a function of its own (see "Why hot loops live in
// small functions" in package wasm).
//
//go:noinline
func (d *Distortion) distort(s []float32, useSin, useCos, useTan bool) {
	for i, v := range s {
		x := float64(v)
		w := x
		if useSin {
			sin, _ := sincos(d.sinScale * x)
			w *= d.sinOffset + sin
		}
		if useCos {
			_, cos := sincos(d.cosScale * x)
			w *= d.cosOffset + cos
		}
		if useTan {
			sin, cos := sincos(d.tanScale * x)
			w *= d.tanOffset + sin/cos
		}
		y := d.offset + d.scale*w
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
