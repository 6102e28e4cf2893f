package voice

import (
	"context"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// BenchmarkPacingLoopback streams b.N frames (20 ms each: -benchtime 500x
// is 10 s) to the fake server over loopback and reports how far arrivals
// deviate from the 20 ms grid, and the longest gap between packets.
func BenchmarkPacingLoopback(b *testing.B) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(mode, func(b *testing.B) {
			srv := voicetest.New(b, voicetest.Options{Modes: []string{mode}, DiscardPCM: true})
			tone, err := voicetest.NewTone(440, 0.5, b.N, false)
			if err != nil {
				b.Fatal(err)
			}
			cfg := baseConfig(srv)
			cfg.Source = tone
			c, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			b.ResetTimer()
			go func() { done <- c.Run(context.Background()) }()
			ok := srv.Wait(time.Duration(b.N)*FrameInterval+10*time.Second, func() bool {
				ss := srv.Session()
				return ss != nil && ss.PacketCount() >= b.N+silenceFrames
			})
			b.StopTimer()
			_ = c.Close()
			<-done
			if !ok {
				b.Fatal("not all packets arrived")
			}
			pkts := srv.Session().Packets()[:b.N]
			p50, p99, worst := pacing(pkts)
			var gap time.Duration
			for i := 1; i < len(pkts); i++ {
				gap = max(gap, pkts[i].Arrival.Sub(pkts[i-1].Arrival))
			}
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(worst.Microseconds()), "max-µs")
			b.ReportMetric(float64(gap.Microseconds()), "maxgap-µs")
			st := c.Stats()
			b.ReportMetric(float64(st.Skipped), "skipped")
			b.ReportMetric(100*float64(st.Late)/float64(st.Frames+st.SilenceFrames+st.Skipped), "late%")
			for _, v := range srv.Violations() {
				b.Error(v)
			}
		})
	}
}
