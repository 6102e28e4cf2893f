package dsp

// LowPass is Lavalink's one-pole smoother: y += (x − y) / smoothing, per
// channel. smoothing > 1 filters (the larger, the lower the cutoff: about
// rate/(2π·smoothing) Hz); smoothing ≤ 1 disables the filter. Default 20.
type LowPass struct {
	smoothing float64
	y         [8]float64 // per channel
}

// NewLowPass returns a low-pass with smoothing 20.
func NewLowPass() *LowPass { return &LowPass{smoothing: 20} }

func (l *LowPass) SetParam(name string, value float64) int32 {
	if name != "smoothing" {
		return Unknown
	}
	if !finite(value) {
		return OutOfRange
	}
	l.smoothing = value
	return OK
}

func (l *LowPass) Reset() { l.y = [8]float64{} }

func (l *LowPass) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	if l.smoothing <= 1 {
		return frames
	}
	a := 1 / l.smoothing
	if channels == 2 {
		l.y[0], l.y[1] = smoothStereo(buf[:frames*2], a, l.y[0], l.y[1])
		l.y[0], l.y[1] = flush(l.y[0]), flush(l.y[1])
		return frames
	}
	for c := 0; c < channels; c++ {
		y := l.y[c]
		for i := c; i < frames*channels; i += channels {
			y += a * (float64(buf[i]) - y)
			buf[i] = float32(y)
		}
		l.y[c] = flush(y)
	}
	return frames
}

// smoothStereo is the stereo loop, two frames per iteration, in a function
// of its own (see "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func smoothStereo(s []float32, a, yl, yr float64) (float64, float64) {
	for len(s) >= 4 {
		x := s[:4:4]
		yl += a * (float64(x[0]) - yl)
		yr += a * (float64(x[1]) - yr)
		x[0], x[1] = float32(yl), float32(yr)
		yl += a * (float64(x[2]) - yl)
		yr += a * (float64(x[3]) - yr)
		x[2], x[3] = float32(yl), float32(yr)
		s = s[4:]
	}
	if len(s) >= 2 {
		yl += a * (float64(s[0]) - yl)
		yr += a * (float64(s[1]) - yr)
		s[0], s[1] = float32(yl), float32(yr)
	}
	return yl, yr
}
