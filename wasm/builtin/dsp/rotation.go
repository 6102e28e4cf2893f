package dsp

import "math"

// Rotation pans the sound around the listener ("8D audio"): a pan position
// p = sin φ, with φ turning at rotationHz, drives constant-power gains
//
//	left' = left·√((1 − p)/2)    right' = right·√((1 + p)/2)
//
// so that left² + right² gains always sum to one. rotationHz is any finite
// number (negative turns the other way); 0 (the default) disables the filter.
// Stereo only.
type Rotation struct {
	hz   float64
	osc  oscillator
	rate int
}

// NewRotation returns a disabled rotation.
func NewRotation() *Rotation {
	r := &Rotation{}
	r.osc.reset()
	return r
}

func (r *Rotation) SetParam(name string, value float64) int32 {
	if name != "rotationHz" {
		return Unknown
	}
	if !finite(value) {
		return OutOfRange
	}
	r.hz = value
	r.rate = 0
	return OK
}

func (r *Rotation) Reset() { r.osc.reset() }

func (r *Rotation) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 2) || channels != 2 {
		return -1
	}
	if r.hz == 0 {
		return frames
	}
	if r.rate != rate {
		r.osc.setFrequency(r.hz, rate)
		r.rate = rate
	}
	rotate(buf[:frames*2], &r.osc)
	r.osc.normalize()
	return frames
}

// rotate is the loop, in a function of its own with the oscillator in
// locals (see "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func rotate(s []float32, o *oscillator) {
	c, sn, dc, ds := o.c, o.s, o.dc, o.ds
	for len(s) >= 2 {
		x := s[:2:2]
		p := max(-1, min(1, sn)) // the oscillator may overshoot by an ulp
		x[0] *= float32(math.Sqrt((1 - p) / 2))
		x[1] *= float32(math.Sqrt((1 + p) / 2))
		c, sn = c*dc-sn*ds, sn*dc+c*ds
		s = s[2:]
	}
	o.c, o.s = c, sn
}
