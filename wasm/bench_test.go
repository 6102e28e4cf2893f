package wasm

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// benchParams are the parameters each built-in is benchmarked with: typical
// settings that exercise the whole filter (every equalizer band on).
var benchParams = map[string]string{
	"volume":     `{"volume": 0.8}`,
	"equalizer":  `{"gains": [0.2, 0.15, 0.1, 0.05, 0, -0.05, -0.1, -0.1, -0.05, 0, 0.05, 0.1, 0.15, 0.2, 0.25]}`,
	"karaoke":    `{"level": 1, "monoLevel": 1, "filterBand": 220, "filterWidth": 100}`,
	"timescale":  `{"speed": 1.25, "pitch": 1.1}`,
	"tremolo":    `{"frequency": 4, "depth": 0.5}`,
	"vibrato":    `{"frequency": 4, "depth": 0.5}`,
	"rotation":   `{"rotationHz": 0.2}`,
	"distortion": `{"sinOffset": 0, "sinScale": 1.2, "cosOffset": 0, "cosScale": 1, "tanOffset": 0, "tanScale": 1, "offset": 0, "scale": 1}`,
	"channelMix": `{"leftToLeft": 0.5, "leftToRight": 0.5, "rightToLeft": 0.5, "rightToRight": 0.5}`,
	"lowPass":    `{"smoothing": 20}`,
}

// benchFrame is one 20 ms frame of music-like signal.
func benchFrame() []float32 {
	x := tones(frame, 0.1, 110, 440, 1234, 5000)
	y := tones(frame, 0.1, 220, 660, 2345, 7000)
	return stereo(x, y)
}

// BenchmarkBuiltin measures one 20 ms frame through each built-in: "wasm"
// is the node's path (chain of the shipped module, copies in and out
// included), "native" the same DSP code compiled for the host.
func BenchmarkBuiltin(b *testing.B) {
	h := testHost(b, Config{CallBudget: time.Second})
	in := benchFrame()
	for _, name := range dsp.Names {
		b.Run(name+"/wasm", func(b *testing.B) {
			c := newChain(b, h, `{"`+name+`": `+benchParams[name]+`}`, func(f string, err error) { b.Fatal(err) })
			b.ReportAllocs()
			b.SetBytes(int64(len(in) * 4))
			for b.Loop() {
				c.Process(in)
			}
		})
		b.Run(name+"/native", func(b *testing.B) {
			spec, err := ParseChain([]byte(`{"` + name + `": ` + benchParams[name] + `}`))
			if err != nil {
				b.Fatal(err)
			}
			f := dsp.New(name)
			for _, p := range spec.Filters[0].Params {
				f.SetParam(p.Name, p.Value)
			}
			buf := make([]float32, Cap*2)
			b.ReportAllocs()
			b.SetBytes(int64(len(in) * 4))
			for b.Loop() {
				copy(buf, in)
				f.Process(buf, frame, 2, Rate, Cap)
			}
		})
	}
}

var _ = math.Pi
var _ = context.Background
