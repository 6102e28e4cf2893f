package voicetest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// TestLoadOptions: under load options (with the socket read by blocking
// or by polling) the server keeps no packets but still answers discovery,
// decrypts, checks and counts them.
func TestLoadOptions(t *testing.T) {
	for _, poll := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("poll=", poll), func(t *testing.T) { testLoadOptions(t, poll) })
	}
}

func testLoadOptions(t *testing.T, poll time.Duration) {
	var seen atomic.Int64
	srv := voicetest.New(t, voicetest.Options{
		DiscardPackets: true, SkipDecode: true, ReadBuffer: 1 << 20, PollUDP: poll,
		OnPayload: func(*voicetest.Session, voicetest.Packet) { seen.Add(1) },
	})
	tone, err := voicetest.NewTone(440, 0.3, 20, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := voice.New(voice.Config{
		Endpoint: srv.Endpoint(), GuildID: 1, ChannelID: 2, UserID: 3,
		SessionID: "s", Token: "t", Source: tone,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	defer func() { _ = c.Close(); <-done }()
	const want = 20 + 5 // the tone, then five silence frames
	if !srv.Wait(10*time.Second, func() bool { ss := srv.Session(); return ss != nil && ss.PacketCount() >= want }) {
		t.Fatal("packets never arrived")
	}
	ss := srv.Session()
	if n := ss.PacketCount(); n != want {
		t.Errorf("PacketCount %d, want %d", n, want)
	}
	if p := ss.Packets(); len(p) != 0 {
		t.Errorf("kept %d packets", len(p))
	}
	if ss.SilenceFrames() != 5 || ss.Decoded() != 0 {
		t.Errorf("silence %d decoded %d", ss.SilenceFrames(), ss.Decoded())
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("violations: %q", v)
	}
	if n := seen.Load(); n != want {
		t.Errorf("OnPayload saw %d packets, want %d", n, want)
	}
}
