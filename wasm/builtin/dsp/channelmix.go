package dsp

// ChannelMix mixes the two channels through a 2×2 matrix:
//
//	left'  = leftToLeft·left + rightToLeft·right
//	right' = leftToRight·left + rightToRight·right
//
// Each coefficient is 0–1; the default is the identity. Stereo only.
type ChannelMix struct {
	ll, lr, rl, rr float64
}

// NewChannelMix returns the identity mix.
func NewChannelMix() *ChannelMix { return &ChannelMix{ll: 1, rr: 1} }

func (m *ChannelMix) SetParam(name string, value float64) int32 {
	var p *float64
	switch name {
	case "leftToLeft":
		p = &m.ll
	case "leftToRight":
		p = &m.lr
	case "rightToLeft":
		p = &m.rl
	case "rightToRight":
		p = &m.rr
	default:
		return Unknown
	}
	if !inRange(value, 0, 1) {
		return OutOfRange
	}
	*p = value
	return OK
}

func (m *ChannelMix) Reset() {}

func (m *ChannelMix) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 2) || channels != 2 {
		return -1
	}
	mix(buf[:frames*2], float32(m.ll), float32(m.lr), float32(m.rl), float32(m.rr))
	return frames
}

// mix applies the matrix, two frames per iteration, in a function of its own
// (see "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func mix(s []float32, ll, lr, rl, rr float32) {
	for len(s) >= 4 {
		x := s[:4:4]
		l, r := x[0], x[1]
		x[0], x[1] = ll*l+rl*r, lr*l+rr*r
		l, r = x[2], x[3]
		x[2], x[3] = ll*l+rl*r, lr*l+rr*r
		s = s[4:]
	}
	if len(s) >= 2 {
		l, r := s[0], s[1]
		s[0], s[1] = ll*l+rl*r, lr*l+rr*r
	}
}
