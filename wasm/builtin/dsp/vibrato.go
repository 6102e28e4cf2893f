package dsp

// Vibrato modulates the pitch by reading the signal through a delay that
// swings between 0 and depth·2 ms at frequency Hz:
//
//	x'(t) = x(t − D(t)),  D(t) = depth·W·(1 − cos φ)/2,  W = 2 ms
//
// The frequency deviation peaks at depth·W·π·frequency (±8.8 % at 14 Hz,
// depth 1). frequency is in (0, 14] (default 2), depth in (0, 1] (default
// 0.5). The delay line is read with linear interpolation.
type Vibrato struct {
	frequency, depth float64
	osc              oscillator
	rate             int // 0 = retune
	line             [8][vibratoLine]float32
	pos              int // write position in line, same for every channel
}

// vibratoWidth is W in seconds; vibratoLine holds W at 384 kHz plus the
// interpolation neighbour, as a power of two.
const (
	vibratoWidth = 0.002
	vibratoLine  = 1024
)

// NewVibrato returns a vibrato at 2 Hz, depth 0.5.
func NewVibrato() *Vibrato {
	v := &Vibrato{frequency: 2, depth: 0.5}
	v.osc.reset()
	return v
}

func (v *Vibrato) SetParam(name string, value float64) int32 {
	switch name {
	case "frequency":
		if !finite(value) || value <= 0 || value > 14 {
			return OutOfRange
		}
		v.frequency = value
		v.rate = 0
	case "depth":
		if !finite(value) || value <= 0 || value > 1 {
			return OutOfRange
		}
		v.depth = value
	default:
		return Unknown
	}
	return OK
}

func (v *Vibrato) Reset() {
	v.osc.reset()
	v.line = [8][vibratoLine]float32{}
	v.pos = 0
}

func (v *Vibrato) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	if v.rate != rate {
		v.osc.setFrequency(v.frequency, rate)
		v.rate = rate
	}
	half := v.depth * vibratoWidth * float64(rate) / 2 // in frames
	const mask = vibratoLine - 1
	if channels == 2 {
		v.pos = vibratoStereo(buf[:frames*2], &v.line[0], &v.line[1], v.pos, &v.osc, half)
		v.osc.normalize()
		return frames
	}
	for f := 0; f < frames; f++ {
		d := half * (1 - v.osc.c)
		di := int(d)
		frac := float32(d - float64(di))
		a, b := (v.pos-di)&mask, (v.pos-di-1)&mask
		fr := buf[f*channels : f*channels+channels]
		for c := range fr {
			line := &v.line[c]
			line[v.pos] = fr[c]
			fr[c] = line[a] + frac*(line[b]-line[a])
		}
		v.pos = (v.pos + 1) & mask
		v.osc.step()
	}
	v.osc.normalize()
	return frames
}

// vibratoStereo is the stereo loop, in a function of its own with the
// oscillator in locals (see "Why hot loops live in small functions" in
// package wasm). It returns the new write position.
//
//go:noinline
func vibratoStereo(s []float32, left, right *[vibratoLine]float32, pos int, o *oscillator, half float64) int {
	const mask = vibratoLine - 1
	c, sn, dc, ds := o.c, o.s, o.dc, o.ds
	for len(s) >= 2 {
		x := s[:2:2]
		d := half * (1 - c)
		di := int(d)
		frac := float32(d - float64(di))
		a, b := (pos-di)&mask, (pos-di-1)&mask
		left[pos&mask], right[pos&mask] = x[0], x[1]
		x[0] = left[a&mask] + frac*(left[b&mask]-left[a&mask])
		x[1] = right[a&mask] + frac*(right[b&mask]-right[a&mask])
		pos = (pos + 1) & mask
		c, sn = c*dc-sn*ds, sn*dc+c*ds
		s = s[2:]
	}
	o.c, o.s = c, sn
	return pos
}
