package dsp

// Karaoke removes what is panned to the centre (usually the voice) and can
// keep a band of the centre (usually the bass):
//
//	m = (left + right)/2, b = bandpass(m) around filterBand Hz, filterWidth Hz wide
//	left'  = left  − level·right + level·monoLevel·b
//	right' = right − level·left  + level·monoLevel·b
//
// A centred sound (left = right = x) comes out as x·(1 − level) outside the
// band and x·(1 − level + level·monoLevel) at its centre; a sound on one
// side only stays on it. level and monoLevel are 0–1 (default 1), filterBand
// and filterWidth are in Hz, > 0 and ≤ 24000 (default 220 and 100). Stereo
// only.
type Karaoke struct {
	level, monoLevel        float64
	filterBand, filterWidth float64
	rate                    int // 0 = redesign
	bp                      bandpass
	st                      bpState
}

// NewKaraoke returns a karaoke filter with Lavalink's defaults.
func NewKaraoke() *Karaoke {
	return &Karaoke{level: 1, monoLevel: 1, filterBand: 220, filterWidth: 100}
}

func (k *Karaoke) SetParam(name string, value float64) int32 {
	switch name {
	case "level", "monoLevel":
		if !inRange(value, 0, 1) {
			return OutOfRange
		}
		if name == "level" {
			k.level = value
		} else {
			k.monoLevel = value
		}
	case "filterBand", "filterWidth":
		if !inRange(value, 0, 24000) || value == 0 {
			return OutOfRange
		}
		if name == "filterBand" {
			k.filterBand = value
		} else {
			k.filterWidth = value
		}
		k.rate = 0
	default:
		return Unknown
	}
	return OK
}

func (k *Karaoke) Reset() { k.st = bpState{} }

func (k *Karaoke) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 2) || channels != 2 {
		return -1
	}
	if k.rate != rate {
		k.bp.design(k.filterBand, k.filterBand/k.filterWidth, rate)
		k.rate = rate
	}
	removeCentre(buf[:frames*2], k.level, k.level*k.monoLevel, &k.bp, &k.st)
	k.st.flush()
	return frames
}

// removeCentre is the loop, in a function of its own with the band-pass in
// locals (see "Why hot loops live in small functions" in package wasm).
//
//go:noinline
func removeCentre(s []float32, level, keep float64, bp *bandpass, st *bpState) {
	b0, a1, a2 := bp.b, bp.a1, bp.a2
	x1, x2, y1, y2 := st.x1, st.x2, st.y1, st.y2
	for len(s) >= 2 {
		x := s[:2:2]
		l, r := float64(x[0]), float64(x[1])
		m := (l + r) / 2
		y := b0*(m-x2) - a1*y1 - a2*y2
		x2, x1 = x1, m
		y2, y1 = y1, y
		x[0] = float32(l - level*r + keep*y)
		x[1] = float32(r - level*l + keep*y)
		s = s[2:]
	}
	*st = bpState{x1, x2, y1, y2}
}
