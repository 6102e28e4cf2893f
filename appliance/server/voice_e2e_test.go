package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/metrics"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// TestVoiceFromDiscordEvents drives the node only through the node
// protocol: the bot's VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE make it
// join the fake Discord voice server, which decrypts and decodes what
// arrives, in both transport modes.
func TestVoiceFromDiscordEvents(t *testing.T) {
	for _, mode := range []string{voicetest.ModeAES256GCM, voicetest.ModeXChaCha20Poly1305} {
		t.Run(mode, func(t *testing.T) {
			fake := voicetest.New(t, voicetest.Options{Modes: []string{mode}})
			tone, err := voicetest.NewTone(440, 0.5, -1, false)
			if err != nil {
				t.Fatal(err)
			}
			n := servertest.Start(t, appliance.Config{
				FrameSource: func(string) voice.FrameSource { return tone },
			}, server.Config{}, "")
			c := n.Dial("")
			c.Identify("111", nil)
			c.Send("DISCORD_EVENT", voiceState("222", "333", "111"))
			c.Expect("VC_CREATED")
			c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))

			if !fake.Wait(10*time.Second, func() bool { s := fake.Session(); return s != nil && s.PacketCount() >= 100 }) {
				t.Fatalf("the fake voice server heard too little; violations %v", fake.Violations())
			}
			ss := fake.Session()
			if ss.ServerID() != "222" || ss.UserID() != "111" || ss.SessionID() != "sess-111" || ss.Mode() != mode {
				t.Fatalf("identify: server %s user %s session %s mode %s", ss.ServerID(), ss.UserID(), ss.SessionID(), ss.Mode())
			}
			pcm := ss.PCM()
			if at, off := voicetest.Level(pcm[len(pcm)/2:], 440), voicetest.Level(pcm[len(pcm)/2:], 1000); at < 0.3 || off > at/50 {
				t.Errorf("heard 440 Hz at %.3f, 1000 Hz at %.4f", at, off)
			}
			if v := fake.Violations(); len(v) > 0 {
				t.Fatalf("violations: %v", v)
			}
			c.Send("getState", map[string]any{"guild_id": "222"})
			var st struct{ State int }
			c.Expect("getState").Decode(t, &st)
			if st.State < 1 {
				t.Errorf("getState while connected: state %d", st.State)
			}
		})
	}
}

// TestVoiceCloseCodesReachTheBot checks what the bot hears when Discord
// ends a voice connection: a resumable close (4015) is invisible; 4014
// gives VC_ERROR; a new VOICE_SERVER_UPDATE brings the connection back;
// without one the voice client is destroyed after VC_TIMEOUT.
func TestVoiceCloseCodesReachTheBot(t *testing.T) {
	fake := voicetest.New(t, voicetest.Options{})
	tone, err := voicetest.NewTone(440, 0.5, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	n := servertest.Start(t, appliance.Config{
		VCTimeout:   time.Second,
		FrameSource: func(string) voice.FrameSource { return tone },
	}, server.Config{}, "")
	c := n.Dial("")
	c.Identify("111", nil)
	c.Send("DISCORD_EVENT", voiceState("222", "333", "111"))
	c.Expect("VC_CREATED")
	c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))
	heard := func(k int) {
		t.Helper()
		if !fake.Wait(10*time.Second, func() bool { s := fake.Session(); return s != nil && s.Connected() && s.PacketCount() >= k }) {
			t.Fatalf("no audio; violations %v", fake.Violations())
		}
	}
	heard(10)

	fake.Session().CloseWith(4015, "voice server crashed")
	before := fake.Session().PacketCount()
	heard(before + 25)
	if fake.Resumes() != 1 {
		t.Fatalf("4015 should resume: %d resumes", fake.Resumes())
	}

	fake.Session().CloseWith(4014, "disconnected")
	var e struct {
		GuildID string `json:"guild_id"`
		Code    int
		Reason  string
	}
	c.Expect("VC_ERROR").Decode(t, &e)
	if e.GuildID != "222" || e.Code != 4014 || e.Reason == "" {
		t.Fatalf("VC_ERROR %+v", e)
	}

	// A new voice server update within VC_TIMEOUT reconnects.
	identifies := fake.Identifies()
	c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))
	if !fake.Wait(5*time.Second, func() bool { return fake.Identifies() > identifies }) {
		t.Fatal("no fresh Identify after the new VOICE_SERVER_UPDATE")
	}
	heard(10)
	time.Sleep(1500 * time.Millisecond) // longer than VC_TIMEOUT: nothing happens while connected
	c.Send("getState", map[string]any{"guild_id": "222"})
	if f := c.Expect("getState"); strings.Contains(string(f.D), "traceback") {
		t.Fatalf("destroyed while connected: %s", f.D)
	}

	fake.Session().CloseWith(4022, "call terminated")
	c.Expect("VC_ERROR")
	start := time.Now()
	c.Expect("VC_DESTROYED")
	if d := time.Since(start); d < 800*time.Millisecond || d > 2*time.Second {
		t.Errorf("VC_DESTROYED %v after VC_ERROR, want VC_TIMEOUT (1 s)", d)
	}
}

// TestRestartReconnectsVoiceByItself restarts the node on the same store:
// it rejoins the voice server with the stored credentials before any bot
// connects; when Discord refuses, the bot gets VC_ERROR once it identifies.
func TestRestartReconnectsVoiceByItself(t *testing.T) {
	fake := voicetest.New(t, voicetest.Options{Token: "tok"})
	tone, err := voicetest.NewTone(440, 0.5, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := appliance.Config{FrameSource: func(string) voice.FrameSource { return tone }}
	n := servertest.Start(t, cfg, server.Config{}, "")
	c := n.Dial("")
	c.Identify("111", nil)
	c.Send("DISCORD_EVENT", voiceState("222", "333", "111"))
	c.Expect("VC_CREATED")
	c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))
	if !fake.Wait(5*time.Second, func() bool { s := fake.Session(); return s != nil && s.PacketCount() > 10 }) {
		t.Fatal("no audio before the restart")
	}
	path := n.DBPath
	n.Stop()
	if got := fake.Session().SilenceFrames(); got != 5 {
		t.Errorf("a graceful stop sent %d silence frames, want 5", got)
	}

	identifies := fake.Identifies()
	start := time.Now()
	n = servertest.Start(t, cfg, server.Config{}, path)
	if !fake.Wait(5*time.Second, func() bool {
		s := fake.Session()
		return fake.Identifies() > identifies && s.PacketCount() > 0
	}) {
		t.Fatal("the restarted node did not rejoin the voice server by itself")
	}
	t.Logf("restart to first RTP packet: %v", time.Since(start).Round(time.Millisecond))
	n.Stop()

	// Discord refuses the stored token now: the bot hears it on IDENTIFY.
	refusing := voicetest.New(t, voicetest.Options{Token: "another"})
	db, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	repointVoice(t, db, refusing.Endpoint())
	n = servertest.Start(t, cfg, server.Config{}, path)
	time.Sleep(500 * time.Millisecond)
	c = n.Dial("")
	c.Identify("111", nil)
	c.Expect("RESUMED")
	var e struct{ Code int }
	c.Expect("VC_ERROR").Decode(t, &e)
	if e.Code != 4004 {
		t.Fatalf("VC_ERROR code %d, want 4004", e.Code)
	}
}

// TestMetricsAndStatusFigures plays into the fake voice server and reads
// the figures back from GET /metrics and GET_STATUS.
func TestMetricsAndStatusFigures(t *testing.T) {
	fake := voicetest.New(t, voicetest.Options{})
	tone, err := voicetest.NewTone(440, 0.5, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	mx := metrics.New()
	n := servertest.Start(t, appliance.Config{
		FrameSource:   func(string) voice.FrameSource { return tone },
		ObserveSend:   mx.ObserveSend,
		ObserveCommit: mx.ObserveCommit,
	}, server.Config{Metrics: mx.Handler()}, "")
	mx.Watch(n.Node.Snapshot)
	c := n.Dial("")
	c.Identify("111", nil)
	c.Send("DISCORD_EVENT", voiceState("222", "333", "111"))
	c.Expect("VC_CREATED")
	c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))
	if !fake.Wait(10*time.Second, func() bool { s := fake.Session(); return s != nil && s.PacketCount() >= 50 }) {
		t.Fatal("no audio")
	}
	fake.Session().CloseWith(4015, "crash")
	if !fake.Wait(5*time.Second, func() bool { return fake.Resumes() == 1 }) {
		t.Fatal("no resume")
	}
	// The fake counts op 7; the node counts itself connected at op 9.
	for deadline := time.Now().Add(5 * time.Second); n.Node.Snapshot().Connected != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not connected again after the resume")
		}
	}
	if status, _ := n.Do(servertest.Request{Method: "GET", Path: "/metrics", NoAuth: true}); status != 403 {
		t.Errorf("/metrics without a password: %d", status)
	}
	status, body := n.Do(servertest.Request{Method: "GET", Path: "/metrics", Header: map[string]string{"Authorization": "Bearer " + servertest.Password}})
	if status != 200 {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	text := string(body)
	for _, want := range []string{
		"discodo_players 1", "discodo_players_connected 1", "discodo_sessions 1",
		`discodo_voice_reconnects_total{code="4015"} 1`, "discodo_send_deviation_seconds_bucket",
		"discodo_store_commit_seconds_count", "go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var sent float64
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "discodo_frames_sent_total ") {
			fmt.Sscan(strings.TrimPrefix(line, "discodo_frames_sent_total "), &sent)
		}
	}
	if sent < 50 {
		t.Errorf("discodo_frames_sent_total %v, want ≥ 50", sent)
	}
	c.Send("GET_STATUS", nil)
	var st struct {
		Players    int
		FrameStats struct{ Sent uint64 }
	}
	c.Expect("STATUS").Decode(t, &st)
	if st.Players != 1 || st.FrameStats.Sent < 50 {
		t.Errorf("STATUS %+v", st)
	}
}
