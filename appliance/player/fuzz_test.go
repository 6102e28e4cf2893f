package player

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// memOpener serves one in-memory file for every source.
type memOpener struct{ data []byte }

type memStream struct{ *bytes.Reader }

func (memStream) Seekable() bool { return true }
func (s memStream) Size() int64  { return s.Reader.Size() }
func (memStream) Close() error   { return nil }
func (m memOpener) Open(context.Context, audio.Metadata) (audio.Stream, error) {
	return memStream{bytes.NewReader(m.data)}, nil
}

// floatWAV builds a 48 kHz stereo float WAV of a 440 Hz tone.
func floatWAV(secs float64) []byte {
	n := int(secs * 48000)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+n*8))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, struct {
		Size                      uint32
		Tag, Channels             uint16
		Rate, ByteRate            uint32
		BlockAlign, BitsPerSample uint16
	}{16, 3, 2, 48000, 48000 * 8, 8, 32})
	b.WriteString("data")
	binary.Write(&b, le, uint32(n*8))
	for i := range n {
		v := float32(sine(440, 0.5, i))
		binary.Write(&b, le, [2]float32{v, v})
	}
	return b.Bytes()
}

// scriptFilter returns, for each call, what the next script byte says:
// the low 3 bits pick a length (none, half, odd, the same, 1.5×, 2×, 4×,
// 9×), the high bits corrupt the values (NaN, ±Inf, huge, subnormal).
type scriptFilter struct {
	script []byte
	n      int
	out    []float32
}

func (f *scriptFilter) Process(pcm []float32) []float32 {
	if len(f.script) == 0 {
		return pcm
	}
	c := f.script[f.n%len(f.script)]
	f.n++
	lengths := [8]float64{0, 0.5, -1, 1, 1.5, 2, 4, 9}
	want := int(lengths[c&7] * float64(len(pcm)))
	if lengths[c&7] < 0 {
		want = len(pcm) - 1
	}
	f.out = f.out[:0]
	for len(f.out) < want {
		f.out = append(f.out, pcm[len(f.out)%len(pcm)])
	}
	special := [...]float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38, 1e-42}
	if k := int(c >> 3); k > 0 && len(f.out) > 0 {
		f.out[k%len(f.out)] = special[k%len(special)]
	}
	return f.out
}

func (f *scriptFilter) Reset() {}

// FuzzFilterOutput: whatever lengths and values a filter returns, the
// player hands out well-formed frames and keeps playing.
func FuzzFilterOutput(f *testing.F) {
	f.Add([]byte{3})
	f.Add([]byte{0, 0, 0, 5})
	f.Add([]byte{7, 1, 2, 6})
	f.Add([]byte{8, 16, 24, 32, 3})
	f.Add([]byte{2, 2, 2, 4, 0xFF})
	wav := floatWAV(0.5)
	f.Fuzz(func(t *testing.T, script []byte) {
		synctest.Test(t, func(t *testing.T) {
			h := newHost()
			p := newPlayer(t, h, func(c *Config) { c.Opener = memOpener{wav} })
			p.SetFilter(&scriptFilter{script: script})
			d := newDriver(p, 20*time.Millisecond)
			h.add(item("a", "mem"))
			d.pull(40)
			for i, fr := range d.frames {
				if fr == nil {
					continue
				}
				if len(fr) != frameLen {
					t.Fatalf("frame %d: %d samples", i, len(fr))
				}
				for _, v := range fr {
					if !(v >= -1 && v <= 1) {
						t.Fatalf("frame %d: sample %v", i, v)
					}
				}
			}
			for _, ev := range h.log() {
				if ev.kind == "player" || ev.kind == "traceback" {
					t.Fatalf("event %v", ev)
				}
			}
			if _, ok := h.find("start", "a"); !ok {
				t.Fatalf("never started: %v", h.log())
			}
		})
	})
}
