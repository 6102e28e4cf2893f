package dsp

import "math"

// sincos returns sin x and cos x to within 1e-9 for |x| ≤ 1e6 (math.Sincos
// beyond), several times faster than math.Sin and math.Cos under wazero:
// Go's math package reduces arguments for any float64, which a waveshaper
// fed with samples never needs.
//
// x is reduced to r = x − k·π/2 with r in [−π/4, π/4] (π/2 split in two
// parts so that the reduction stays exact for the |k| allowed), then
// sin r and cos r are Taylor polynomials (remainders below 2e-9 there),
// rotated into the quadrant k mod 4.
func sincos(x float64) (sin, cos float64) {
	if !(x >= -1e6 && x <= 1e6) { // also NaN
		return math.Sincos(x)
	}
	k, r := reduce(x)
	r2 := r * r
	s, c := sinPoly(r, r2), cosPoly(r2)
	switch k & 3 {
	case 0:
		return s, c
	case 1:
		return c, -s
	case 2:
		return -s, -c
	default:
		return -c, s
	}
}

// reduce returns k and r = x − k·π/2 with r in [−π/4, π/4], for |x| ≤
// 1e6 (π/2 split in two parts so that the reduction stays exact there).
// It and the polynomials below inline, so loops that need only part of
// sincos (trigTerm) write no call per sample.
func reduce(x float64) (k int64, r float64) {
	const (
		twoOverPi = 2 / math.Pi
		pio2Hi    = 1.5707963267341256e+00 // π/2 to 33 bits
		pio2Lo    = 6.077100506506192e-11  // π/2 − pio2Hi
	)
	kf := math.RoundToEven(x * twoOverPi)
	return int64(kf), (x - kf*pio2Hi) - kf*pio2Lo
}

// sinPoly and cosPoly are sin r and cos r for |r| ≤ π/4, r2 = r²
// (Taylor; remainders below 2e-9 there).
func sinPoly(r, r2 float64) float64 {
	return r * (1 + r2*(-1.0/6+r2*(1.0/120+r2*(-1.0/5040+r2*(1.0/362880+r2*(-1.0/39916800))))))
}

func cosPoly(r2 float64) float64 {
	return 1 + r2*(-0.5+r2*(1.0/24+r2*(-1.0/720+r2*(1.0/40320+r2*(-1.0/3628800+r2*(1.0/479001600))))))
}
