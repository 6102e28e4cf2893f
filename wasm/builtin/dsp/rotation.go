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
	s := buf[:frames*2]
	for i := 0; i+1 < len(s); i += 2 {
		p := r.osc.s
		p = max(-1, min(1, p)) // the oscillator may overshoot by an ulp
		s[i] *= float32(math.Sqrt((1 - p) / 2))
		s[i+1] *= float32(math.Sqrt((1 + p) / 2))
		r.osc.step()
	}
	r.osc.normalize()
	return frames
}
