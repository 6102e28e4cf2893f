package player

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
	"go.uber.org/goleak"
)

var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "player-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// requireTool skips the test when an external tool is missing, unless
// DISCODO_REQUIRE_INTEROP=1 (CI), where it fails.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s is required (DISCODO_REQUIRE_INTEROP=1): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install ffmpeg opus-tools): %v", name, err)
	}
}

// fixture is a generated audio file: signal is an ffmpeg aevalsrc
// expression of t (the same on both channels unless it holds a "|").
type fixture struct {
	format string // wav16, wavf32, flac, mp3, vorbis, opus, aac
	rate   int
	signal string
	secs   float64
}

var fixtureCodec = map[string][]string{
	"wav16":  {"-c:a", "pcm_s16le"},
	"wavf32": {"-c:a", "pcm_f32le"},
	"flac":   {"-c:a", "flac"},
	"mp3":    {"-c:a", "libmp3lame", "-b:a", "192k"},
	"vorbis": {"-c:a", "libvorbis", "-q:a", "6"},
	"aac":    {"-c:a", "aac", "-b:a", "192k"},
}

var fixtureExt = map[string]string{
	"wav16": "wav", "wavf32": "wav", "flac": "flac", "mp3": "mp3", "vorbis": "ogg", "opus": "opus", "aac": "m4a",
}

var (
	fixtureMu    sync.Mutex
	fixtureFiles = map[fixture]string{}
)

// tone is the expression of a sine of freq Hz at amplitude amp.
func tone(freq, amp float64) string {
	return fmt.Sprintf("%g*sin(2*PI*%g*t)", amp, freq)
}

// path generates the fixture once per test binary and returns its file
// name relative to fixtureDir (the resolver's media directory).
func (f fixture) path(t testing.TB) string {
	t.Helper()
	requireTool(t, "ffmpeg")
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	key := f
	if name, ok := fixtureFiles[key]; ok {
		return name
	}
	if f.rate == 0 {
		f.rate = 48000
	}
	expr := f.signal
	if !strings.Contains(expr, "|") {
		expr += "|" + expr
	}
	graph := fmt.Sprintf("aevalsrc=%s:s=%d:d=%g", expr, f.rate, f.secs)
	name := fmt.Sprintf("f%d.%s", len(fixtureFiles), fixtureExt[f.format])
	out := filepath.Join(fixtureDir, name)
	if f.format == "opus" {
		requireTool(t, "opusenc")
		wav := out + ".wav"
		runTool(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-c:a", "pcm_f32le", wav)
		runTool(t, "opusenc", "--quiet", "--bitrate", "128", wav, out)
	} else {
		args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph}
		args = append(args, fixtureCodec[f.format]...)
		runTool(t, "ffmpeg", append(args, out)...)
	}
	fixtureFiles[key] = name
	return name
}

func runTool(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// item is a queue entry for a fixture file.
func item(tag, file string) Item {
	return Item{Tag: tag, Source: audio.Metadata{URL: file, Title: tag, IsFile: true}}
}

// resolver opens fixtures from fixtureDir.
func resolver(t testing.TB, mut func(*audio.SourceConfig)) *audio.Resolver {
	t.Helper()
	cfg := audio.SourceConfig{MediaDirs: []string{fixtureDir}}
	if mut != nil {
		mut(&cfg)
	}
	r, err := audio.NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// hostEvent is one Host call the fake host saw.
type hostEvent struct {
	kind   string // start, stop, require, traceback, player, filter
	tag    string
	reason StopReason
	err    error
	at     time.Time
}

func (e hostEvent) String() string {
	s := e.kind + " " + e.tag
	if e.reason != "" {
		s += " " + string(e.reason)
	}
	if e.err != nil {
		s += fmt.Sprintf(" (%v)", e.err)
	}
	return s
}

// fakeHost is the node's side for tests: a queue with the node's
// semantics (SourceStart and SourceTraceback pop the head when it is the
// item) and a log of the calls.
type fakeHost struct {
	mu     sync.Mutex
	p      *Player
	queue  []Item
	events []hostEvent
	peeks  int
	notify chan struct{}
	// onRequire, when set, runs on RequireNextSource (outside mu).
	onRequire func(h *fakeHost)
}

func newHost() *fakeHost { return &fakeHost{notify: make(chan struct{}, 1)} }

func (h *fakeHost) record(ev hostEvent) {
	ev.at = time.Now()
	h.events = append(h.events, ev)
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

func (h *fakeHost) popIf(tag string) {
	if len(h.queue) > 0 && h.queue[0].Tag == tag {
		h.queue = h.queue[1:]
	}
}

func (h *fakeHost) Peek() (Item, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peeks++
	if len(h.queue) == 0 {
		return Item{}, false
	}
	return h.queue[0], true
}

func (h *fakeHost) SourceStart(it Item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.popIf(it.Tag)
	h.record(hostEvent{kind: "start", tag: it.Tag})
}

func (h *fakeHost) SourceStop(it Item, reason StopReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record(hostEvent{kind: "stop", tag: it.Tag, reason: reason})
}

func (h *fakeHost) RequireNextSource(cur Item, autoplay bool) {
	h.mu.Lock()
	h.record(hostEvent{kind: "require", tag: cur.Tag, reason: StopReason(fmt.Sprint(autoplay))})
	f := h.onRequire
	h.mu.Unlock()
	if f != nil {
		f(h)
	}
}

func (h *fakeHost) SourceTraceback(it Item, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.popIf(it.Tag)
	h.record(hostEvent{kind: "traceback", tag: it.Tag, err: err})
}

func (h *fakeHost) PlayerTraceback(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record(hostEvent{kind: "player", err: err})
}

func (h *fakeHost) FilterError(filter string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record(hostEvent{kind: "filter", tag: filter, err: err})
}

// add appends to the queue and tells the player, as the node does.
func (h *fakeHost) add(items ...Item) {
	h.mu.Lock()
	h.queue = append(h.queue, items...)
	p := h.p
	h.mu.Unlock()
	if p != nil {
		p.QueueChanged()
	}
}

func (h *fakeHost) log() []hostEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func (h *fakeHost) find(kind, tag string) (hostEvent, bool) {
	for _, ev := range h.log() {
		if ev.kind == kind && (tag == "" || ev.tag == tag) {
			return ev, true
		}
	}
	return hostEvent{}, false
}

// wait waits (in real time) for an event of kind for tag ("" any).
func (h *fakeHost) wait(t testing.TB, kind, tag string, timeout time.Duration) hostEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if ev, ok := h.find(kind, tag); ok {
			return ev
		}
		select {
		case <-h.notify:
		case <-deadline:
			t.Fatalf("no %s event for %q within %v; events: %v", kind, tag, timeout, h.log())
			return hostEvent{}
		}
	}
}

// kinds lists the events as strings (for comparisons).
func (h *fakeHost) kinds() []string {
	var out []string
	for _, ev := range h.log() {
		if ev.kind == "player" || ev.kind == "filter" {
			out = append(out, ev.kind)
			continue
		}
		s := ev.kind + " " + ev.tag
		if ev.kind == "stop" {
			s += " " + string(ev.reason)
		}
		out = append(out, s)
	}
	return out
}

func testLogger() *slog.Logger {
	if os.Getenv("PLAYER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newPlayer makes a player on host h with the fixture resolver and runs
// it until the test ends.
func newPlayer(t testing.TB, h *fakeHost, mut func(*Config)) *Player {
	t.Helper()
	cfg := Config{Host: h, Opener: resolver(t, nil), Logger: testLogger()}
	if mut != nil {
		mut(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.p = p
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// driver pulls frames from a player like the voice send loop, without a
// network: every frame's PCM (before encoding) is recorded through the
// tap, nil for a passed-through packet.
type driver struct {
	p      *Player
	buf    []byte
	frames [][]float32 // nil: a packet went out, or nothing
	sizes  []int       // NextFrame's result per slot
	pkts   [][]byte
	tick   time.Duration
	record func() []float32
}

func newDriver(p *Player, tick time.Duration) *driver {
	d := &driver{p: p, buf: make([]byte, audio.MaxOpusFrame), tick: tick}
	var last []float32
	p.mu.Lock()
	p.tap = func(pcm []float32) {
		if pcm == nil {
			last = nil
			return
		}
		last = slices.Clone(pcm)
	}
	p.mu.Unlock()
	d.record = func() []float32 { v := last; last = nil; return v }
	return d
}

// pull pulls n frames, one per tick.
func (d *driver) pull(n int) {
	for range n {
		d.one()
		time.Sleep(d.tick)
	}
}

func (d *driver) one() int {
	k := d.p.NextFrame(d.buf)
	d.sizes = append(d.sizes, k)
	d.frames = append(d.frames, d.record())
	if k > 0 {
		d.pkts = append(d.pkts, slices.Clone(d.buf[:k]))
	} else {
		d.pkts = append(d.pkts, nil)
	}
	return k
}

// until pulls until cond holds, at most max frames; it reports whether
// cond held.
func (d *driver) until(max int, cond func() bool) bool {
	for range max {
		if cond() {
			return true
		}
		d.one()
		time.Sleep(d.tick)
	}
	return cond()
}

// pcm concatenates the PCM frames from index i on (packets and empty
// slots are skipped).
func (d *driver) pcm(from int) []float32 {
	var out []float32
	for _, f := range d.frames[from:] {
		out = append(out, f...)
	}
	return out
}

// level is the Goertzel magnitude of freq Hz in the left channel of
// interleaved stereo float32, ~1 for a full-scale sine.
func level(pcm []float32, freq float64) float64 {
	n := len(pcm) / 2
	if n == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/48000)
	var s1, s2 float64
	for i := range n {
		s := float64(pcm[2*i]) + k*s1 - s2
		s2, s1 = s1, s
	}
	power := s1*s1 + s2*s2 - k*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(n)
}

// zeroCrossFreq estimates the frequency of the left channel of
// interleaved stereo from its rising zero crossings.
func zeroCrossFreq(pcm []float32) float64 {
	first, last := -1.0, -1.0
	n := 0
	for i := 1; i < len(pcm)/2; i++ {
		a, b := float64(pcm[2*i-2]), float64(pcm[2*i])
		if a < 0 && b >= 0 {
			x := float64(i-1) + a/(a-b)
			if first < 0 {
				first = x
			}
			last = x
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / (last - first) * 48000
}

// int16ToFloat converts received PCM.
func int16ToFloat(s []int16) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v) / 32768
	}
	return out
}

// voiceRun connects p to a fresh fake Discord voice server through a real
// voice.Conn and returns the server; the connection is closed at cleanup.
func voiceRun(t testing.TB, p *Player) *voicetest.Server {
	t.Helper()
	srv := voicetest.New(t, voicetest.Options{})
	c, err := voice.New(voice.Config{
		Endpoint: srv.Endpoint(), GuildID: 1, ChannelID: 2, UserID: 3,
		SessionID: "sess", Token: "tok", Source: p, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("voice Run did not return after Close")
		}
	})
	return srv
}

// audioPackets returns the non-silence packets the server received.
func audioPackets(srv *voicetest.Server) []voicetest.Packet {
	var out []voicetest.Packet
	for _, p := range srv.Packets() {
		if !p.Silence {
			out = append(out, p)
		}
	}
	return out
}
