package dsp

import "math"

// bandpass is a second-order band-pass with 0 dB gain and zero phase at its
// centre frequency (the "constant 0 dB peak gain" biquad of R. Bristow-
// Johnson's Audio EQ Cookbook):
//
//	y[n] = b·(x[n] − x[n−2]) − a1·y[n−1] − a2·y[n−2]
type bandpass struct {
	b, a1, a2 float64
}

// design sets the filter for centre f0 Hz and quality q at rate. A centre at
// or above 0.45·rate gives the zero filter (b = 0).
func (bp *bandpass) design(f0, q float64, rate int) {
	if f0 <= 0 || f0 >= 0.45*float64(rate) || q <= 0 {
		*bp = bandpass{}
		return
	}
	w := 2 * math.Pi * f0 / float64(rate)
	alpha := math.Sin(w) / (2 * q)
	a0 := 1 + alpha
	bp.b = alpha / a0
	bp.a1 = -2 * math.Cos(w) / a0
	bp.a2 = (1 - alpha) / a0
}

// bpState is the memory of one band-pass for one channel.
type bpState struct{ x1, x2, y1, y2 float64 }

// next filters one sample.
func (bp *bandpass) next(st *bpState, x float64) float64 {
	y := bp.b*(x-st.x2) - bp.a1*st.y1 - bp.a2*st.y2
	st.x2, st.x1 = st.x1, x
	st.y2, st.y1 = st.y1, y
	return y
}

// flush zeroes a state that decayed below audibility.
func (st *bpState) flush() {
	st.x1, st.x2, st.y1, st.y2 = flush(st.x1), flush(st.x2), flush(st.y1), flush(st.y2)
}
