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
	ll, lr, rl, rr := float32(m.ll), float32(m.lr), float32(m.rl), float32(m.rr)
	s := buf[:frames*2]
	for i := 0; i+1 < len(s); i += 2 {
		l, r := s[i], s[i+1]
		s[i] = ll*l + rl*r
		s[i+1] = lr*l + rr*r
	}
	return frames
}
