package dsp

// Tremolo modulates the amplitude: gain = 1 − depth·(1 − cos φ)/2, with φ
// turning at frequency Hz, so the gain swings between 1 − depth and 1.
// frequency > 0 (default 2), depth in (0, 1] (default 0.5).
type Tremolo struct {
	frequency, depth float64
	osc              oscillator
	rate             int // the rate osc is tuned for; 0 = retune
}

// NewTremolo returns a tremolo at 2 Hz, depth 0.5.
func NewTremolo() *Tremolo {
	t := &Tremolo{frequency: 2, depth: 0.5}
	t.osc.reset()
	return t
}

func (t *Tremolo) SetParam(name string, value float64) int32 {
	switch name {
	case "frequency":
		if !finite(value) || value <= 0 {
			return OutOfRange
		}
		t.frequency = value
		t.rate = 0
	case "depth":
		if !finite(value) || value <= 0 || value > 1 {
			return OutOfRange
		}
		t.depth = value
	default:
		return Unknown
	}
	return OK
}

func (t *Tremolo) Reset() { t.osc.reset() }

func (t *Tremolo) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	if t.rate != rate {
		t.osc.setFrequency(t.frequency, rate)
		t.rate = rate
	}
	half := t.depth / 2
	if channels == 2 {
		tremoloStereo(buf[:frames*2], &t.osc, half)
		t.osc.normalize()
		return frames
	}
	for f := 0; f < frames; f++ {
		g := float32(1 - half + half*t.osc.c)
		fr := buf[f*channels : f*channels+channels]
		for c := range fr {
			fr[c] *= g
		}
		t.osc.step()
	}
	t.osc.normalize()
	return frames
}

// tremoloStereo is the stereo loop, in a function of its own with the
// oscillator in locals (see "Why hot loops live in small functions" in
// package wasm).
//
//go:noinline
func tremoloStereo(s []float32, o *oscillator, half float64) {
	c, sn, dc, ds := o.c, o.s, o.dc, o.ds
	for len(s) >= 2 {
		x := s[:2:2]
		g := float32(1 - half + half*c)
		x[0] *= g
		x[1] *= g
		c, sn = c*dc-sn*ds, sn*dc+c*ds
		s = s[2:]
	}
	o.c, o.s = c, sn
}
