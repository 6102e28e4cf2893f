package voicetest

import (
	"math"
	"sync"

	"github.com/hraban/opus"
)

// Tone is a frame source (it satisfies voice.FrameSource) playing a sine
// tone encoded with libopus, 48 kHz stereo, 20 ms frames. It keeps a copy
// of every frame it produced, to compare with what the server received.
type Tone struct {
	mu     sync.Mutex
	enc    *opus.Encoder
	freq   float64
	amp    float64
	phase  float64
	left   int // frames still to play; <0 forever
	paused bool
	pcm    []int16
	frames [][]byte
	keep   bool
}

// NewTone returns a tone of freq Hz at amplitude amp (0..1) lasting
// frames frames (<0: forever). keep keeps copies of the frames.
func NewTone(freq, amp float64, frames int, keep bool) (*Tone, error) {
	enc, err := opus.NewEncoder(48000, 2, opus.AppAudio)
	if err != nil {
		return nil, err
	}
	if err := enc.SetBitrate(96000); err != nil {
		return nil, err
	}
	return &Tone{enc: enc, freq: freq, amp: amp, left: frames, pcm: make([]int16, 960*2), keep: keep}, nil
}

// NextFrame encodes the next 20 ms; 0 when the tone ended or is paused.
func (t *Tone) NextFrame(buf []byte) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.left == 0 || t.paused {
		return 0
	}
	if t.left > 0 {
		t.left--
	}
	step := 2 * math.Pi * t.freq / 48000
	for i := range 960 {
		v := int16(t.amp * 32767 * math.Sin(t.phase))
		t.pcm[2*i], t.pcm[2*i+1] = v, v
		t.phase += step
	}
	t.phase = math.Mod(t.phase, 2*math.Pi)
	n, err := t.enc.Encode(t.pcm, buf)
	if err != nil {
		return 0
	}
	if t.keep {
		t.frames = append(t.frames, append([]byte(nil), buf[:n]...))
	}
	return n
}

// Pause stops (true) or resumes (false) the tone.
func (t *Tone) Pause(p bool) { t.mu.Lock(); t.paused = p; t.mu.Unlock() }

// Frames returns copies of the frames produced so far (keep must be set).
func (t *Tone) Frames() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]byte(nil), t.frames...)
}

// Level is the Goertzel magnitude of freq Hz in the left channel of
// interleaved stereo pcm, normalised so that a full-scale sine gives ~1.
func Level(pcm []int16, freq float64) float64 {
	n := len(pcm) / 2
	if n == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/48000)
	var s1, s2 float64
	for i := range n {
		s := float64(pcm[2*i])/32768 + k*s1 - s2
		s2, s1 = s1, s
	}
	power := s1*s1 + s2*s2 - k*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(n)
}
