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
