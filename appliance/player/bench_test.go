package player

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// gainFilter is a cheap filter that allocates nothing.
type gainFilter struct{}

func (gainFilter) Process(pcm []float32) []float32 {
	for i := range pcm {
		pcm[i] *= 0.9
	}
	return pcm
}
func (gainFilter) Reset() {}

const benchSignal = "0.3*sin(2*PI*220*t)+0.15*sin(2*PI*1234*t)+0.1*sin(2*PI*5555*t)+0.05*(random(0)-0.5)"

// perFrameCase sets up a player in one of the per-frame paths, playing
// for ever (RequireNextSource queues the source again).
type perFrameCase struct {
	name      string
	format    string
	crossfade time.Duration
	volume    float64
	filter    Filter
	cfg       audio.EncoderConfig
}

var perFrameCases = []perFrameCase{
	{name: "encode", format: "wav16"},
	{name: "encode-complexity5", format: "wav16", cfg: audio.EncoderConfig{Complexity: 5}},
	{name: "passthrough", format: "opus"},
	{name: "passthrough-volume", format: "opus", volume: 0.5},
	{name: "crossfade", format: "wav16", crossfade: time.Hour},
	{name: "volume-filter", format: "wav16", volume: 0.5, filter: gainFilter{}},
}

func (c perFrameCase) start(tb testing.TB, secs float64) (*Player, *fakeHost) {
	tb.Helper()
	// Music-like: three tones and some noise (a pure tone is easier on
	// the encoder than anything real).
	name := fixture{format: c.format, signal: benchSignal, secs: secs}.path(tb)
	h := newHost()
	n := 0
	h.onRequire = func(h *fakeHost) {
		n++
		h.add(item(fmt.Sprint("again", n), name))
	}
	p := newPlayer(tb, h, func(cfg *Config) {
		cfg.Crossfade = c.crossfade
		cfg.Volume = c.volume
		cfg.Encoder = c.cfg
	})
	if c.filter != nil {
		p.SetFilter(c.filter)
	}
	buf := make([]byte, audio.MaxOpusFrame)
	h.add(item("first", name))
	deadline := time.Now().Add(5 * time.Second)
	for p.NextFrame(buf) == 0 {
		if time.Now().After(deadline) {
			tb.Fatal("nothing to play")
		}
		time.Sleep(time.Millisecond)
	}
	if c.crossfade > 0 {
		// Crossfade for ever: wait until the next source is prepared,
		// then skip into an hour-long fade.
		ready := func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.next != nil && p.next.ready()
		}
		for !ready() {
			p.NextFrame(buf)
			time.Sleep(time.Millisecond)
		}
		p.Skip()
		p.NextFrame(buf)
		p.mu.Lock()
		on := p.fade.on
		p.mu.Unlock()
		if !on {
			tb.Fatal("no crossfade")
		}
	}
	time.Sleep(50 * time.Millisecond) // the ring fills
	return p, h
}

// BenchmarkNextFrame measures one 20 ms frame on the voice send loop:
// mixing, volume ramp, filter and Opus encoding (or passing a packet
// through). The sources' readers run on their own goroutines and are not
// part of the figure. allocs/op must be 0.
func BenchmarkNextFrame(b *testing.B) {
	for _, c := range perFrameCases {
		b.Run(c.name, func(b *testing.B) {
			p, _ := c.start(b, 60)
			buf := make([]byte, audio.MaxOpusFrame)
			empty := 0
			b.ReportAllocs()
			for b.Loop() {
				if p.NextFrame(buf) == 0 {
					// Faster than real time, the reader falls behind
					// (passthrough): wait for it outside the figure.
					empty++
					b.StopTimer()
					waitFull(b, p)
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(empty)/float64(b.N), "empty/op")
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(20*time.Millisecond)*100, "%core/stream")
		})
	}
}

// TestNextFrameAllocs: the 20 ms path allocates nothing, in every mode.
func TestNextFrameAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, c := range perFrameCases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := c.start(t, 10)
			buf := make([]byte, audio.MaxOpusFrame)
			empty := 0
			// In rounds of 4 frames from a ring above its low-water mark
			// (readAhead, 200 ms, half full): pulled this fast, the reader
			// could not keep up with more, so each round waits for it.
			for round := range 10 {
				waitFull(t, p)
				allocs := testing.AllocsPerRun(aheadUnits/2-2, func() {
					if p.NextFrame(buf) == 0 {
						empty++
					}
				})
				if allocs != 0 || empty > 0 {
					t.Fatalf("round %d: %v allocations per frame, %d empty frames", round, allocs, empty)
				}
			}
		})
	}
}

// waitFull waits (up to 5 s) for a current source whose ring is above
// its low-water mark (half full; the reader refills it only below):
// frames pulled faster than real time outrun its reader, and at the end
// of a source NextFrame moves the player on to the next entry.
func waitFull(tb testing.TB, p *Player) {
	buf := make([]byte, audio.MaxOpusFrame)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := ringOf(p, false)
		if r.exists && r.level > aheadUnits/2 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the ring does not fill: %+v", r)
		}
		if !r.exists {
			p.NextFrame(buf)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkPacingOverVoice plays through the real voice connection and
// reports how far packets arrive from the 20 ms grid at the fake server
// (p50/p99 of the deviation after removing the constant offset), with
// the encoder on the send loop (encode) and without it (passthrough).
func BenchmarkPacingOverVoice(b *testing.B) {
	for _, c := range []perFrameCase{perFrameCases[0], perFrameCases[2]} {
		b.Run(c.name, func(b *testing.B) {
			const frames = 250
			p, _ := c.start(b, 30)
			srv := voiceRun(b, p)
			for b.Loop() {
				srv.Wait(30*time.Second, func() bool { return len(audioPackets(srv)) >= frames })
			}
			pk := audioPackets(srv)[:frames]
			dev := make([]float64, len(pk))
			for i := range pk {
				dev[i] = float64(pk[i].Arrival.Sub(pk[0].Arrival) - time.Duration(i)*20*time.Millisecond)
			}
			slices.Sort(dev)
			med := dev[len(dev)/2]
			for i := range dev {
				dev[i] = math.Abs(dev[i] - med)
			}
			slices.Sort(dev)
			b.ReportMetric(dev[len(dev)/2]/1e6, "p50-ms")
			b.ReportMetric(dev[len(dev)*99/100]/1e6, "p99-ms")
		})
	}
}

// BenchmarkBuildFrame measures the PCM side of a frame without the
// encoder: reading the ring, the crossfade's equal-power mix, the filter,
// the volume ramp and clipping. Run it with -benchtime=2000x: the source
// lasts 3,000 frames, and pcmFrame alone does not move the player on.
func BenchmarkBuildFrame(b *testing.B) {
	for _, c := range []perFrameCase{perFrameCases[0], perFrameCases[4], perFrameCases[5]} {
		b.Run(c.name, func(b *testing.B) {
			p, _ := c.start(b, 60)
			b.ReportAllocs()
			for b.Loop() {
				p.mu.Lock()
				ok := p.pcmFrame()
				if ok {
					p.envelope(float32(p.volume))
				}
				p.mu.Unlock()
				if !ok {
					b.StopTimer()
					waitFull(b, p)
					b.StartTimer()
				}
			}
		})
	}
}
