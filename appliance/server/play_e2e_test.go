package server_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// playing is a node with a media dir, a bot joined to a fake voice server.
type playing struct {
	n    *servertest.Node
	c    *servertest.Client
	fake *voicetest.Server
	h    map[string]string
	res  *audio.Resolver
}

func startPlaying(t *testing.T, media string, cfg appliance.Config, dbPath string) *playing {
	t.Helper()
	res, err := audio.NewResolver(audio.SourceConfig{MediaDirs: []string{media}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cfg.Sources = res
	if cfg.DefaultOptions == nil {
		cfg.DefaultOptions = &appliance.Options{Autoplay: true, Volume: 1, Crossfade: 0}
	}
	p := &playing{res: res}
	p.n = servertest.Start(t, cfg, server.Config{}, dbPath)
	return p
}

// playMedia writes files into a media dir, starts a node on it and joins
// the bot to a new fake voice server.
func playMedia(t *testing.T, files map[string][]byte) (*playing, *voicetest.Server) {
	t.Helper()
	media := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(media, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startPlaying(t, media, appliance.Config{}, "")
	fake := voicetest.New(t, voicetest.Options{})
	p.join(t, fake)
	return p, fake
}

func (p *playing) join(t *testing.T, fake *voicetest.Server) {
	t.Helper()
	p.fake = fake
	p.c = p.n.Dial("")
	p.c.Identify("111", nil)
	p.c.Send("DISCORD_EVENT", voiceState("222", "333", "111"))
	var created struct{ ID string }
	p.c.Expect("VC_CREATED").Decode(t, &created)
	p.h = servertest.VCHeaders("111", "222", created.ID)
	p.c.Send("DISCORD_EVENT", voiceServer("222", fake.Endpoint()))
	if !fake.Wait(5*time.Second, func() bool { s := fake.Session(); return s != nil && s.Mode() != "" }) {
		t.Fatal("no voice session")
	}
}

func (p *playing) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return p.n.Do(servertest.Request{Method: method, Path: path, Header: p.h, Body: body})
}

func (p *playing) state(t *testing.T) (st struct {
	State    int
	Position *float64
	Duration *float64
	Current  map[string]any
}) {
	t.Helper()
	p.c.Send("getState", map[string]any{"guild_id": "222"})
	p.c.Expect("getState").Decode(t, &st)
	return st
}

// heard waits until the fake decoded at least d of audio in total.
func heard(t *testing.T, fake *voicetest.Server, d time.Duration) []int16 {
	t.Helper()
	want := int(d.Seconds() * 48000 * 2)
	if !fake.Wait(10*time.Second, func() bool { s := fake.Session(); return s != nil && len(s.PCM()) >= want }) {
		t.Fatalf("heard %d samples, want %d; violations %v", len(fake.Session().PCM()), want, fake.Violations())
	}
	return fake.Session().PCM()
}

func TestPlaybackThroughTheNode(t *testing.T) {
	p, fake := playMedia(t, map[string][]byte{"a440.wav": wav(3, 440), "b880.wav": wav(3, 880)})

	status, b := p.do(t, "POST", "/loadSource", `{"query":"a440.wav"}`)
	if status != 200 {
		t.Fatalf("loadSource: %d %s", status, b)
	}
	start := p.c.Expect("SOURCE_START")
	if !strings.Contains(string(start.D), `"_type":"AudioSource"`) {
		t.Fatalf("SOURCE_START %s", start.D)
	}
	pcm := heard(t, fake, time.Second)
	if at, off := voicetest.Level(pcm[len(pcm)/2:], 440), voicetest.Level(pcm[len(pcm)/2:], 880); at < 0.3 || off > at/20 {
		t.Errorf("heard 440 Hz at %.3f, 880 Hz at %.3f", at, off)
	}
	st := p.state(t)
	if st.State != 3 || st.Position == nil || *st.Position < 0.5 || st.Duration == nil || math.Abs(*st.Duration-3) > 0.05 {
		t.Fatalf("getState while playing: %+v", st)
	}
	// The queue head was popped when it became audible.
	if _, b := p.do(t, "GET", "/queue", nil); string(b) != `{"entries":[]}` {
		t.Fatalf("queue while playing: %s", b)
	}
	if status, b := p.do(t, "GET", "/current", nil); status != 200 || !strings.Contains(string(b), `"position"`) {
		t.Fatalf("current: %d %s", status, b)
	}

	// Seek, then pause: five silence frames; resume.
	if status, b := p.do(t, "POST", "/seek", `{"offset":2.5}`); status != 204 {
		t.Fatalf("seek: %d %s", status, b)
	}
	time.Sleep(200 * time.Millisecond)
	if st := p.state(t); *st.Position < 2.5 || *st.Position > 2.9 {
		t.Errorf("position after seek to 2.5: %v", *st.Position)
	}
	p.do(t, "POST", "/putSource", `{"source":{"url":"b880.wav","tag":"next"}}`)
	// a440 ends (0.5 s left); b880 starts gapless (crossfade 0).
	stop := p.c.Expect("SOURCE_STOP")
	next := p.c.Expect("SOURCE_START")
	if !strings.Contains(string(stop.D), "a440") || !strings.Contains(string(next.D), `"tag":"next"`) {
		t.Fatalf("stop %s / start %s", stop.D, next.D)
	}
	if status, _ := p.do(t, "POST", "/pause", nil); status != 204 {
		t.Fatal("pause")
	}
	before := fake.Session().SilenceFrames()
	if !fake.Wait(3*time.Second, func() bool { return fake.Session().SilenceFrames() >= before+5 }) {
		t.Fatal("no silence frames after pause")
	}
	if st := p.state(t); st.State != 2 {
		t.Errorf("state while paused: %d", st.State)
	}
	n := len(fake.Session().PCM())
	if status, _ := p.do(t, "POST", "/resume", nil); status != 204 {
		t.Fatal("resume")
	}
	pcm = heard(t, fake, time.Duration(n/96)*time.Millisecond+time.Second)
	if at := voicetest.Level(pcm[n:], 880); at < 0.3 {
		t.Errorf("after resume heard 880 Hz at %.3f", at)
	}
	if status, _ := p.do(t, "POST", "/skip", nil); status != 204 {
		t.Fatal("skip")
	}
	if f := p.c.Expect("SOURCE_STOP"); !strings.Contains(string(f.D), `"reason":"skipped"`) {
		t.Errorf("SOURCE_STOP after skip: %s", f.D)
	}
	// The queue is empty: nothing plays; skip and seek say so.
	time.Sleep(100 * time.Millisecond)
	if status, _ := p.do(t, "POST", "/skip", nil); status != 400 {
		t.Errorf("skip with nothing playing: %d", status)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}

func TestBadSourcesYieldTracebackAndTheNext(t *testing.T) {
	p, fake := playMedia(t, map[string][]byte{"junk.wav": []byte("RIFF not really a wav file at all"), "good.wav": wav(2, 440)})
	p.do(t, "POST", "/putSource", `{"source":[{"url":"junk.wav","tag":"junk"},{"url":"http://127.0.0.1:9/dead.wav","tag":"dead"},{"url":"good.wav","tag":"good"}]}`)
	var tags []string
	for range 2 {
		f := p.c.Expect("SOURCE_TRACEBACK")
		var d struct {
			Source    struct{ Tag string }
			Traceback string
		}
		f.Decode(t, &d)
		if d.Traceback == "" {
			t.Errorf("SOURCE_TRACEBACK without a reason: %s", f.D)
		}
		tags = append(tags, d.Source.Tag)
	}
	if strings.Join(tags, ",") != "junk,dead" {
		t.Errorf("tracebacks for %v", tags)
	}
	if f := p.c.Expect("SOURCE_START"); !strings.Contains(string(f.D), `"tag":"good"`) {
		t.Fatalf("SOURCE_START %s", f.D)
	}
	heard(t, fake, 500*time.Millisecond)
}

// TestRestartContinuesFromTheCheckpoint stops the node in the middle of a
// source; the restarted node rejoins voice by itself and continues from
// the stored position, before any bot reconnects.
func TestRestartContinuesFromTheCheckpoint(t *testing.T) {
	media := t.TempDir()
	os.WriteFile(filepath.Join(media, "long.wav"), wav(6, 440), 0o644)
	cfg := appliance.Config{CheckpointInterval: 200 * time.Millisecond}
	p := startPlaying(t, media, cfg, "")
	fake := voicetest.New(t, voicetest.Options{})
	p.join(t, fake)
	p.do(t, "POST", "/loadSource", `{"query":"long.wav"}`)
	p.c.Expect("SOURCE_START")
	heard(t, fake, 2*time.Second)
	path := p.n.DBPath
	p.c.Close()
	p.n.Stop()

	identifies := fake.Identifies()
	p = startPlaying(t, media, cfg, path)
	if !fake.Wait(5*time.Second, func() bool {
		s := fake.Session()
		return fake.Identifies() > identifies && s.PacketCount() > 0
	}) {
		t.Fatal("no playback after the restart")
	}
	c := p.n.Dial("")
	c.Identify("111", nil)
	c.Expect("RESUMED")
	c.Send("getState", map[string]any{"guild_id": "222"})
	var st struct {
		State    int
		Position float64
		Current  struct{ Title string }
	}
	c.Expect("getState").Decode(t, &st)
	if st.State != 3 || st.Position < 1.8 || st.Position > 4 {
		t.Fatalf("after restart: %+v", st)
	}
	_ = json.Valid
}

// TestSameTagTwice plays two entries that share a tag (a bot looping a
// song posts the same AudioData again): the second stays current after the
// first stops.
func TestSameTagTwice(t *testing.T) {
	p, _ := playMedia(t, map[string][]byte{"a.wav": wav(1, 440)})
	p.do(t, "POST", "/putSource", `{"source":[{"url":"a.wav","tag":"loop"},{"url":"a.wav","tag":"loop"}]}`)
	p.c.Expect("SOURCE_START")
	p.c.Expect("SOURCE_START")
	time.Sleep(100 * time.Millisecond) // past the first one's SOURCE_STOP
	if st := p.state(t); st.Current == nil || st.State != 3 {
		t.Fatalf("the second entry with the same tag is not current: %+v", st)
	}
}

// TestEqualizerHeardThroughTheNode: the built-in equalizer (the SIMD
// module) changes what the bot's channel hears, live: a 1 kHz tone, then
// the 1 kHz band at −0.25 (removed), then no filter again.
func TestEqualizerHeardThroughTheNode(t *testing.T) {
	p, fake := playMedia(t, map[string][]byte{"a1000.wav": wav(6, 1000)})
	if status, b := p.do(t, "POST", "/loadSource", `{"query":"a1000.wav"}`); status != 200 {
		t.Fatalf("loadSource: %d %s", status, b)
	}
	p.c.Expect("SOURCE_START")
	level := func(what, filter string) float64 {
		t.Helper()
		if status, b := p.do(t, "POST", "/options", filter); status != 200 {
			t.Fatalf("%s: options %s: %d %s", what, filter, status, b)
		}
		time.Sleep(300 * time.Millisecond) // heard from the next frame; the band settles
		n := len(fake.Session().PCM())
		pcm := heard(t, fake, time.Duration(n/96)*time.Millisecond+700*time.Millisecond)
		return voicetest.Level(pcm[n:], 1000)
	}
	plain := level("before", `{"filter":{}}`)
	silent := fake.Session().SilenceFrames()
	cut := level("1 kHz band removed", `{"filter":{"equalizer":{"gains":{"8":-0.25}}}}`)
	back := level("after", `{"filter":{}}`)
	if got := fake.Session().SilenceFrames(); got != silent {
		t.Errorf("%d silence frames while the band was removed: the player stopped", got-silent)
	}
	t.Logf("1 kHz: %.3f, with the band removed %.4f (%.1f dB), without the filter again %.3f", plain, cut, 20*math.Log10(cut/plain), back)
	if plain < 0.3 || back < 0.3 {
		t.Errorf("the tone at %.3f before and %.3f after the filter, want ≥ 0.3", plain, back)
	}
	if cut > plain/20 {
		t.Errorf("with the 1 kHz band removed the tone is at %.4f, want below %.4f (−26 dB)", cut, plain/20)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}
