package dsp

// Volume scales the signal: volume 0–5, 1 = unity. A change ramps linearly
// over the next Process call, so that it never clicks.
type Volume struct {
	target  float64 // the parameter
	current float64 // the gain the last frame was played at
}

// NewVolume returns a volume filter at unity.
func NewVolume() *Volume { return &Volume{target: 1, current: 1} }

func (v *Volume) SetParam(name string, value float64) int32 {
	if name != "volume" {
		return Unknown
	}
	if !inRange(value, 0, 5) {
		return OutOfRange
	}
	v.target = value
	return OK
}

// Reset jumps to the target gain: after a seek there is nothing to ramp from.
func (v *Volume) Reset() { v.current = v.target }

func (v *Volume) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	s := buf[:frames*channels]
	if v.current == v.target || frames == 0 {
		if g := float32(v.target); g != 1 {
			scale(s, g)
		}
		v.current = v.target
		return frames
	}
	step := (v.target - v.current) / float64(frames)
	g := v.current
	for f := 0; f < frames; f++ {
		g += step
		fr := s[f*channels : f*channels+channels]
		for c := range fr {
			fr[c] *= float32(g)
		}
	}
	v.current = v.target
	return frames
}

// scale multiplies s by g, eight samples per iteration, in a function of its
// own (see "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func scale(s []float32, g float32) {
	for len(s) >= 8 {
		x := s[:8:8]
		x[0] *= g
		x[1] *= g
		x[2] *= g
		x[3] *= g
		x[4] *= g
		x[5] *= g
		x[6] *= g
		x[7] *= g
		s = s[8:]
	}
	for i := range s {
		s[i] *= g
	}
}
