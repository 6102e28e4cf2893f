// Package dsp holds the signal processing of the ten built-in filters.
//
// The same code is compiled twice: into the WebAssembly module that the node
// ships (wasm/builtin/guest, GOOS=wasip1) and natively, for the tests and the
// benchmarks that compare WASM against native Go. It imports nothing but
// math, so that the guest module stays small.
//
// Parameter names and ranges are Lavalink's (see
// /work/shared/spec/wasm-filter-abi.md, "Built-in filters"); the algorithms
// are this project's own and are described on each type.
//
// # Rules every filter follows
//
//   - Process never allocates once the filter is built (the buffers it needs
//     are sized at New for MaxFrames) and loops at most a constant number of
//     times per frame: a built-in runs without wazero's loop checks, so its
//     running time must be bounded by construction.
//   - Parameters are validated when set (Unknown, OutOfRange) and applied
//     lazily at the next Process, so the order of SetParam calls never
//     matters.
//   - Filter state (IIR memories, delay lines, phases, FIFOs) is kept in
//     float64 where recursion would otherwise lose precision, and flushed to
//     zero when it decays below 1e-30, so that silence never produces
//     denormals.
package dsp

import "math"

// Results of SetParam, as set_param returns them (ABI "Exports").
const (
	OK         int32 = 0
	Unknown    int32 = 1
	OutOfRange int32 = 2
)

// MaxFrames is the cap the node passes to process in ABI version 1: four
// 20 ms frames at 48 kHz. Buffers are sized for it at New.
const MaxFrames = 3840

// Filter is one built-in filter instance: one chain slot of one player.
type Filter interface {
	// SetParam validates and stores one parameter; it takes effect at the
	// next Process.
	SetParam(name string, value float64) int32
	// Reset forgets the signal history (seek, new track); parameters stay.
	Reset()
	// Process filters frames interleaved frames of buf in place. buf holds
	// room for capFrames frames (len(buf) >= capFrames*channels); a filter
	// that changes the length may write up to capFrames frames. It returns
	// the number of frames written, or -1 for a format it cannot handle.
	Process(buf []float32, frames, channels, rate, capFrames int) int
}

// Names lists the built-in filters in the order of the spec's table.
var Names = [...]string{
	"volume", "equalizer", "karaoke", "timescale", "tremolo",
	"vibrato", "rotation", "distortion", "channelMix", "lowPass",
}

// New returns a fresh filter with its default parameters, or nil if name is
// not a built-in.
func New(name string) Filter {
	switch name {
	case "volume":
		return NewVolume()
	case "equalizer":
		return NewEqualizer()
	case "karaoke":
		return NewKaraoke()
	case "timescale":
		return NewTimescale()
	case "tremolo":
		return NewTremolo()
	case "vibrato":
		return NewVibrato()
	case "rotation":
		return NewRotation()
	case "distortion":
		return NewDistortion()
	case "channelMix":
		return NewChannelMix()
	case "lowPass":
		return NewLowPass()
	}
	return nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// inRange reports whether v is finite and lo <= v <= hi.
func inRange(v, lo, hi float64) bool { return finite(v) && v >= lo && v <= hi }

// formatOK is the check every Process starts with: the arguments describe a
// buffer that exists and a format the filter handles (channels 1..maxCh).
func formatOK(buf []float32, frames, channels, rate, capFrames, maxCh int) bool {
	return channels >= 1 && channels <= maxCh && rate >= 8000 && rate <= 384000 &&
		frames >= 0 && frames <= capFrames && capFrames*channels <= len(buf)
}

// flush returns 0 for values too small to matter, so that recursions fed
// with silence never reach the denormal range.
func flush(v float64) float64 {
	if v > -1e-30 && v < 1e-30 {
		return 0
	}
	return v
}

// oscillator is a sine/cosine pair advanced by a rotation per frame, so that
// modulating filters need no trigonometry per sample. It is renormalised
// once per Process call.
type oscillator struct {
	c, s   float64 // cos and sin of the phase
	dc, ds float64 // cos and sin of the phase increment
}

func (o *oscillator) reset() { o.c, o.s = 1, 0 }

// setFrequency sets the increment for f Hz at rate frames per second.
func (o *oscillator) setFrequency(f float64, rate int) {
	w := 2 * math.Pi * f / float64(rate)
	o.dc, o.ds = math.Cos(w), math.Sin(w)
}

// step advances the phase by one frame.
func (o *oscillator) step() {
	o.c, o.s = o.c*o.dc-o.s*o.ds, o.s*o.dc+o.c*o.ds
}

// normalize removes the rounding drift of the magnitude.
func (o *oscillator) normalize() {
	m := math.Sqrt(o.c*o.c + o.s*o.s)
	if m == 0 || !finite(m) {
		o.reset()
		return
	}
	o.c, o.s = o.c/m, o.s/m
}
