package dsp

// Equalizer is Lavalink's 15-band equalizer. gains.N (N = 0…14) is the gain
// of band N in −0.25…1.0, 0 being flat; a band at gain g multiplies its
// centre frequency by 1 + 4g, so −0.25 removes it and 1.0 gives +14 dB
// (Lavalink's scale). Each band is a constant-peak band-pass of 2/3 octave
// (Q ≈ 2.15) at 25, 40, 63, 100, 160, 250, 400, 630, 1k, 1.6k, 2.5k, 4k,
// 6.3k, 10k and 16k Hz, added to the dry signal:
//
//	x' = x + Σ 4·g_N·bandpass_N(x)
//
// Bands at or above 0.45·rate are ignored; bands at gain 0 cost nothing.
type Equalizer struct {
	gains [bands]float64
	rate  int // the rate the coefficients are for; 0 = redesign
	bp    [bands]bandpass
	st    [bands][8]bpState
	acc   []float64 // the wet sum, MaxFrames*2 samples
}

const bands = 15

// Centres are the band centre frequencies in Hz.
var Centres = [bands]float64{25, 40, 63, 100, 160, 250, 400, 630, 1000, 1600, 2500, 4000, 6300, 10000, 16000}

// eqQ is the quality of a 2/3-octave band: √(2^(2/3)) / (2^(2/3) − 1).
const eqQ = 2.1456

// NewEqualizer returns a flat equalizer.
func NewEqualizer() *Equalizer { return &Equalizer{acc: make([]float64, MaxFrames*2)} }

func (e *Equalizer) SetParam(name string, value float64) int32 {
	n, ok := indexParam(name, "gains.")
	if !ok || n >= bands {
		return Unknown
	}
	if !inRange(value, -0.25, 1) {
		return OutOfRange
	}
	if value == 0 {
		e.st[n] = [8]bpState{}
	}
	e.gains[n] = value
	return OK
}

// indexParam parses "<prefix><decimal>" without strconv, so that the guest
// stays small. It accepts 0…999 without leading zeros.
func indexParam(name, prefix string) (int, bool) {
	if len(name) <= len(prefix) || len(name) > len(prefix)+3 || name[:len(prefix)] != prefix {
		return 0, false
	}
	digits := name[len(prefix):]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		d := digits[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

func (e *Equalizer) Reset() { e.st = [bands][8]bpState{} }

func (e *Equalizer) Process(buf []float32, frames, channels, rate, capFrames int) int {
	if !formatOK(buf, frames, channels, rate, capFrames, 8) {
		return -1
	}
	n := frames * channels
	if n > len(e.acc) {
		e.acc = make([]float64, n) // only for caps larger than ABI v1's
	}
	if e.rate != rate {
		for i := range e.bp {
			e.bp[i].design(Centres[i], eqQ, rate)
		}
		e.Reset()
		e.rate = rate
	}
	acc := e.acc[:n]
	clear(acc)
	active := false
	for band := range e.bp {
		g := 4 * e.gains[band]
		bp := &e.bp[band]
		if g == 0 || bp.b == 0 {
			continue
		}
		active = true
		if channels == 2 {
			bandStereo(acc, buf[:n], bp, &e.st[band][0], &e.st[band][1], g)
			continue
		}
		for c := 0; c < channels; c++ {
			bandInto(acc, buf, c, channels, bp, &e.st[band][c], g)
		}
	}
	if active {
		s := buf[:n]
		for i := range s {
			s[i] += float32(acc[i])
		}
	}
	return frames
}

// bandInto adds g times band-pass bp of channel c of buf to acc. It is a
// function of its own because Go's WebAssembly backend compiles a function's
// whole control flow into one dispatch loop: a small function keeps the
// per-sample loop small (≈ 20× faster under wazero than inline).
//
//go:noinline
func bandInto(acc []float64, buf []float32, c, channels int, bp *bandpass, st *bpState, g float64) {
	x1, x2, y1, y2 := st.x1, st.x2, st.y1, st.y2
	b, a1, a2 := bp.b, bp.a1, bp.a2
	n := len(acc)
	for i := c; i < n; i += channels {
		x := float64(buf[i])
		y := b*(x-x2) - a1*y1 - a2*y2
		x2, x1 = x1, x
		y2, y1 = y1, y
		acc[i] += g * y
	}
	*st = bpState{x1, x2, y1, y2}
	st.flush()
}

// bandStereo is bandInto for both channels of a stereo signal at once, two
// frames per iteration: in WebAssembly every loop iteration costs a trip
// through the function's dispatch loop, so fewer and fuller iterations are
// faster (about 3× here).
//
//go:noinline
func bandStereo(acc []float64, buf []float32, bp *bandpass, ls, rs *bpState, g float64) {
	b, a1, a2 := bp.b, bp.a1, bp.a2
	l, r := *ls, *rs
	i := 0
	for ; i+4 <= len(buf) && i+4 <= len(acc); i += 4 {
		x := buf[i : i+4 : i+4]
		a := acc[i : i+4 : i+4]
		xl := float64(x[0])
		yl := b*(xl-l.x2) - a1*l.y1 - a2*l.y2
		xr := float64(x[1])
		yr := b*(xr-r.x2) - a1*r.y1 - a2*r.y2
		a[0] += g * yl
		a[1] += g * yr
		xl2 := float64(x[2])
		yl2 := b*(xl2-l.x1) - a1*yl - a2*l.y1
		xr2 := float64(x[3])
		yr2 := b*(xr2-r.x1) - a1*yr - a2*r.y1
		a[2] += g * yl2
		a[3] += g * yr2
		l = bpState{x1: xl2, x2: xl, y1: yl2, y2: yl}
		r = bpState{x1: xr2, x2: xr, y1: yr2, y2: yr}
	}
	if i+2 <= len(buf) && i+2 <= len(acc) { // an odd number of frames
		acc[i] += g * bp.next(&l, float64(buf[i]))
		acc[i+1] += g * bp.next(&r, float64(buf[i+1]))
	}
	l.flush()
	r.flush()
	*ls, *rs = l, r
}
