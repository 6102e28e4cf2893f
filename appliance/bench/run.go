package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/player"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/wasm"
)

// Modes of a run.
const (
	// ModeEncode plays a 16-bit WAV file: decode, (filters,) volume
	// envelope, Opus encoding on the send loop, transport encryption, UDP.
	ModeEncode = "encode"
	// ModePassthrough plays an Ogg Opus file whose packets go out as they
	// are: no decoder, no encoder.
	ModePassthrough = "passthrough"
)

// Defaults for the zero values of Config.
const (
	DefaultStreams  = 10
	DefaultDuration = 20 * time.Second
	DefaultWarmup   = 5 * time.Second
	DefaultRamp     = 50 // streams started per 100 ms
)

// Config describes one run: N players, each with its own voice
// connection, against one fake Discord voice server. The zero value runs
// 10 encoded streams for 20 s.
type Config struct {
	// Mode is ModeEncode (default) or ModePassthrough.
	Mode string
	// Streams is the number of players (and voice connections).
	Streams int
	// DAVE makes the fake server require DAVE and bring a second member
	// into each call, so that every frame is end-to-end encrypted.
	DAVE bool
	// Duration is the measured time, after Warmup.
	Duration time.Duration
	Warmup   time.Duration
	// Encoder sets bitrate and complexity (audio's defaults: 128 kb/s,
	// complexity 10); the passthrough file is written at that bitrate.
	Encoder audio.EncoderConfig
	// BufferLimit is the players' BUFFERLIMIT (0: the player's 5 s).
	BufferLimit time.Duration
	// Filter is a filter chain (the "filter" option's JSON) every
	// encoding player runs; "" runs none.
	Filter string
	// MediaDir holds the generated media; "" is a directory under
	// os.TempDir().
	MediaDir string
	// Sink is the fake voice server; nil starts one in this process
	// (which then counts in the CPU and memory figures).
	Sink Sink
	// Ramp is how many streams start per 100 ms.
	Ramp int
	// CPUProfile, when set, is a file for a CPU profile of the measured
	// time (go tool pprof).
	CPUProfile string
	// Trace, when set, is a file for an execution trace of the measured
	// time (go tool trace; large: about 2 MB per second at 1000 streams).
	Trace string
	// Logger gets progress; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	switch c.Mode {
	case "":
		c.Mode = ModeEncode
	case ModeEncode, ModePassthrough:
	default:
		return fmt.Errorf("%w: mode %q (want %s or %s)", ErrConfig, c.Mode, ModeEncode, ModePassthrough)
	}
	if c.Streams <= 0 {
		c.Streams = DefaultStreams
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	} else if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.Encoder.Bitrate == 0 {
		c.Encoder.Bitrate = audio.DefaultBitrate
	}
	if c.Encoder.Complexity == 0 {
		c.Encoder.Complexity = audio.DefaultComplexity
	}
	if c.Ramp <= 0 {
		c.Ramp = DefaultRamp
	}
	if c.MediaDir == "" {
		c.MediaDir = filepath.Join(os.TempDir(), "discodo-bench-media")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Filter != "" && c.Mode != ModeEncode {
		return fmt.Errorf("%w: a filter needs PCM: use mode %s", ErrConfig, ModeEncode)
	}
	return nil
}

// Result is what one run measured. Durations per frame are per 20 ms
// frame of one stream; percentages of a core are of one CPU core.
type Result struct {
	Mode       string `json:"mode"`
	Streams    int    `json:"streams"`
	DAVE       bool   `json:"dave"`
	Filter     string `json:"filter,omitempty"`
	Complexity int    `json:"complexity"`
	Bitrate    int    `json:"bitrate"`

	Seconds float64 `json:"seconds"` // measured wall time
	// Cores is the process's CPU time over the wall time (1 = one core).
	Cores float64 `json:"cores"`
	// PerStream is Cores per stream, in % of one core.
	PerStream float64 `json:"per_stream_pct"`
	// EncodeFrame is libopus encoding one frame of the same audio with the
	// same settings: the CPU time the players' encoders spent in libopus
	// per frame while the streams ran (audio.EncodeMeter; 0 when nothing
	// was encoded); EncodePct the same per stream in % of a core;
	// Overhead is PerStream over EncodePct, minus one.
	EncodeFrame time.Duration `json:"encode_frame"`
	EncodePct   float64       `json:"encode_pct"`
	Overhead    float64       `json:"overhead"`

	// Deviation of each packet's send time from its slot of the 20 ms
	// grid, as the voice send loop saw it (voice.Config.ObserveSend):
	// p50 and p99 to 10 µs, and the worst.
	Sent uint64        `json:"sent"`
	P50  time.Duration `json:"p50"`
	P99  time.Duration `json:"p99"`
	Max  time.Duration `json:"max"`
	// Deficit: grid slots skipped after stalls (voice.Stats.Skipped);
	// Nulled: slots a playing player had nothing ready (underruns);
	// Late: slots that started 5 ms late or more.
	Deficit    uint64 `json:"deficit"`
	Nulled     uint64 `json:"nulled"`
	Late       uint64 `json:"late"`
	Dropped    uint64 `json:"dropped"`
	SendErrors uint64 `json:"send_errors"`
	Reconnects uint64 `json:"reconnects"`
	// Passed and Encoded are the players' passthrough packets and encoder
	// calls during the measurement.
	Passed  uint64 `json:"passed"`
	Encoded uint64 `json:"encoded"`
	// Failures: sources that failed, player and filter errors (whole run).
	Failures uint64 `json:"failures"`

	// Memory: RSS before the streams started (the harness, warmed up),
	// at the end, the high-water mark, and (end − idle) / streams.
	RSSIdle   int64 `json:"rss_idle"`
	RSSActive int64 `json:"rss_active"`
	HWM       int64 `json:"hwm"`
	PerPlayer int64 `json:"per_player"`
	HeapInuse int64 `json:"heap_inuse"`
	// Goroutines while the streams ran.
	Goroutines int `json:"goroutines"`

	// Startup: from the first stream started to the last one sending (and
	// encrypting, with DAVE).
	Startup time.Duration `json:"startup"`

	// Machine: the 1-minute load average at start and end, the cores the
	// whole machine kept busy during the measurement (this process, the
	// sink, everyone else), and the sink's CPU during it.
	LoadStart   float64 `json:"load_start"`
	LoadEnd     float64 `json:"load_end"`
	MachineBusy float64 `json:"machine_busy"`
	SinkCores   float64 `json:"sink_cores"` // -1: in this process
	// Softirq is the machine's softirq time in cores (loopback delivery of
	// the packets), Steal the time the hypervisor gave the vCPUs to
	// others, Preempted how many times a second the kernel took a CPU from
	// a thread of this process that could run.
	Softirq   float64 `json:"softirq"`
	Steal     float64 `json:"steal"`
	Preempted float64 `json:"preempted_per_s"`
	// SinkDrops: datagrams the machine dropped for a full receive buffer
	// during the measurement (the sink fell behind): the fake server then
	// reports gaps in sequence numbers and nonces as violations.
	SinkDrops uint64 `json:"sink_drops"`
	// SinkDropsRun is the same over the whole run, start-up included
	// (what the sink's violations, counted over the whole run, compare
	// with).
	SinkDropsRun uint64 `json:"sink_drops_run"`

	Sink SinkReport `json:"sink"`
}

// stream is one player and its voice connection.
type stream struct {
	host *loopHost
	p    *player.Player
	conn *voice.Conn
	e2ee atomic.Pointer[dave.Session]
	// ready: the connection reported Ready; reconnects: Reconnecting events.
	ready      atomic.Bool
	reconnects atomic.Uint64
	chain      *wasm.Chain
}

// Run runs one configuration and returns its figures. It blocks for
// about Warmup + Duration plus the start-up of the streams, owns every
// goroutine it starts and waits for them before returning.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if err := cfg.setDefaults(); err != nil {
		return res, err
	}
	log := cfg.Logger
	res = Result{Mode: cfg.Mode, Streams: cfg.Streams, DAVE: cfg.DAVE, Filter: cfg.Filter,
		Complexity: cfg.Encoder.Complexity, Bitrate: cfg.Encoder.Bitrate, SinkCores: -1}

	media, err := prepareMedia(cfg.MediaDir, cfg.Encoder)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrMedia, err)
	}
	resolver, err := audio.NewResolver(audio.SourceConfig{MediaDirs: []string{media.Dir}})
	if err != nil {
		return res, err
	}
	defer resolver.Close()
	file := media.WAV
	if cfg.Mode == ModePassthrough {
		file = media.Opus
	}

	sk := cfg.Sink
	if sk == nil {
		if sk, err = StartSink(cfg.DAVE); err != nil {
			return res, err
		}
		defer sk.Close()
	}

	var filters *wasm.Host
	var spec wasm.ChainSpec
	if cfg.Filter != "" {
		if spec, err = wasm.ParseChain([]byte(cfg.Filter)); err != nil {
			return res, fmt.Errorf("%w: filter: %w", ErrConfig, err)
		}
		if filters, err = wasm.New(ctx, wasm.Config{CacheDir: filepath.Join(cfg.MediaDir, "wasm-cache")}); err != nil {
			return res, err
		}
		defer filters.Close(context.Background())
	}

	// libopus alone: what the players' encoders spend in it, measured
	// inside them (audio.EncodeMeter) while the streams run, so under the
	// same caches, sibling hyperthreads and kernel as the rest of the node.
	// Timed before or after the streams instead, on an idle machine,
	// libopus came out 10–30 % cheaper than among the streams, and the
	// overhead figure swung with it.
	meter := new(audio.EncodeMeter)
	cfg.Encoder.Meter = meter

	runtime.GC()
	debug.FreeOSMemory()
	idle, err := readMemory(0)
	if err != nil {
		return res, err
	}
	res.RSSIdle = idle.RSS

	var hist histogram
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	streams := make([]*stream, cfg.Streams)
	defer func() {
		for _, s := range streams {
			if s != nil && s.conn != nil {
				_ = s.conn.Close()
			}
		}
		cancel()
		wg.Wait()
		for _, s := range streams {
			if s != nil && s.chain != nil {
				_ = s.chain.Close(context.Background())
			}
		}
	}()

	dropsRun := udpDrops()
	log.Info("starting streams", "mode", cfg.Mode, "streams", cfg.Streams, "dave", cfg.DAVE)
	t0 := time.Now()
	for i := range streams {
		s, err := newStream(ctx, cfg, i, file, resolver, sk.Endpoint(), &hist, filters, spec)
		if err != nil {
			return res, err
		}
		streams[i] = s
		wg.Go(func() { _ = s.p.Run(ctx) })
		wg.Go(func() {
			if err := s.conn.Run(ctx); err != nil && ctx.Err() == nil {
				log.Warn("voice connection ended", "err", err)
			}
		})
		if (i+1)%cfg.Ramp == 0 {
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return res, ctx.Err()
			}
		}
	}
	startupLimit := 30*time.Second + time.Duration(cfg.Streams)*20*time.Millisecond
	if err := waitAll(ctx, startupLimit, streams, cfg.DAVE); err != nil {
		return res, err
	}
	res.Startup = time.Since(t0)
	log.Info("all streams sending", "after", res.Startup.Round(time.Millisecond))
	if !sleepCtx(ctx, cfg.Warmup) {
		return res, ctx.Err()
	}

	// The measurement.
	before := snapshot(streams)
	sinkBefore := sinkCPU(sk)
	res.LoadStart = loadAvg()
	m0 := readMachine()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		f, err := os.Create(cfg.Trace)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return res, err
		}
		defer trace.Stop()
	}
	drops0 := udpDrops()
	opus0, frames0 := meter.Load()
	cpu0, wall0, pre0 := cpuTime(), time.Now(), preemptions()
	hist.start()
	var hwm int64
	tick := time.NewTicker(time.Second)
	deadline := time.NewTimer(cfg.Duration)
measure:
	for {
		select {
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		case <-tick.C:
			if m, err := readMemory(0); err == nil {
				hwm = max(hwm, m.RSS)
			}
		case <-deadline.C:
			break measure
		}
	}
	tick.Stop()
	n, p50, p99, worst := hist.stop()
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		trace.Stop()
	}
	cpu1, wall1, pre1 := cpuTime(), time.Now(), preemptions()
	opus1, frames1 := meter.Load()
	m1 := readMachine()
	res.LoadEnd = loadAvg()
	after := snapshot(streams)
	if sinkBefore >= 0 {
		res.SinkCores = float64(sinkCPU(sk)-sinkBefore) / float64(wall1.Sub(wall0))
	}

	res.Seconds = wall1.Sub(wall0).Seconds()
	res.Cores = float64(cpu1-cpu0) / float64(wall1.Sub(wall0))
	res.PerStream = 100 * res.Cores / float64(cfg.Streams)
	res.MachineBusy = busyCores(m0, m1)
	res.Softirq = m0.cores(m1, func(m machine) uint64 { return m.softirq })
	res.Steal = m0.cores(m1, func(m machine) uint64 { return m.steal })
	res.Preempted = float64(pre1-pre0) / res.Seconds
	res.SinkDrops = udpDrops() - drops0
	res.Sent, res.P50, res.P99, res.Max = n, p50, p99, worst
	d := after.sub(before)
	res.Deficit, res.Nulled, res.Late, res.Dropped, res.SendErrors = d.skipped, d.nulled, d.late, d.dropped, d.sendErrors
	res.Passed, res.Encoded = d.passed, d.encoded
	res.Goroutines = runtime.NumGoroutine()
	for _, s := range streams {
		res.Reconnects += s.reconnects.Load()
		res.Failures += s.host.failures.Load()
	}
	mem, err := readMemory(0)
	if err != nil {
		return res, err
	}
	res.RSSActive, res.HWM = mem.RSS, max(hwm, mem.HWM)
	res.PerPlayer = (mem.RSS - idle.RSS) / int64(cfg.Streams)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInuse = int64(ms.HeapInuse)

	if res.Sink, err = sk.Report(); err != nil {
		return res, err
	}
	res.SinkDropsRun = udpDrops() - dropsRun

	if frames1 > frames0 {
		res.EncodeFrame = (opus1 - opus0) / time.Duration(frames1-frames0)
	}
	res.EncodePct = 100 * float64(res.EncodeFrame) / float64(audio.FrameDuration)
	if res.EncodeFrame > 0 {
		res.Overhead = res.PerStream/res.EncodePct - 1
	}
	log.Info("run done", "mode", cfg.Mode, "streams", cfg.Streams,
		"per_stream_pct", fmt.Sprintf("%.3f", res.PerStream), "p99", res.P99, "deficit", res.Deficit)
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func sinkCPU(sk Sink) time.Duration {
	if sk.PID() == 0 {
		return -1
	}
	d, err := procCPU(sk.PID())
	if err != nil {
		return -1
	}
	return d
}

func newStream(ctx context.Context, cfg Config, i int, file string, opener player.Opener, endpoint string,
	hist *histogram, filters *wasm.Host, spec wasm.ChainSpec) (*stream, error) {
	s := &stream{host: &loopHost{file: file}}
	p, err := player.New(player.Config{
		Host: s.host, Opener: opener, Encoder: cfg.Encoder, BufferLimit: cfg.BufferLimit,
		FFmpeg: "-",
	})
	if err != nil {
		return nil, err
	}
	s.p = p
	if filters != nil {
		c, err := filters.NewChain(ctx, spec, func(string, error) { s.host.failures.Add(1) })
		if err != nil {
			return nil, fmt.Errorf("%w: filter: %w", ErrConfig, err)
		}
		s.chain = c
		p.SetFilter(c)
	}
	guild := uint64(1_000_000 + i) // each guild in its own channel, same id
	s.conn, err = voice.New(voice.Config{
		Endpoint: endpoint, GuildID: guild, ChannelID: guild, UserID: nodeUser,
		SessionID: "bench-" + strconv.Itoa(i), Token: "bench",
		Source:      p,
		ObserveSend: hist.observe,
		// As the node does: a DAVE session on every connection; the
		// server decides whether it encrypts (op 4's version).
		NewE2EE: func(user, channel uint64, send func(int, []byte, bool) error) (voice.E2EE, error) {
			d, err := dave.New(dave.Config{UserID: user, ChannelID: channel, Send: send})
			if err == nil {
				s.e2ee.Store(d)
			}
			return d, err
		},
		OnEvent: func(ev voice.Event) {
			switch ev.Kind {
			case voice.EventReady, voice.EventResumed:
				s.ready.Store(true)
			case voice.EventReconnecting:
				s.reconnects.Add(1)
			}
		},
		// A thousand connections starting at once on two cores.
		HandshakeTimeout: 60 * time.Second,
	})
	return s, err
}

// waitAll waits until every stream's player has sent a frame (and, with
// DAVE, every connection encrypts).
func waitAll(ctx context.Context, limit time.Duration, streams []*stream, withDAVE bool) error {
	deadline := time.Now().Add(limit)
	for {
		waiting := 0
		for _, s := range streams {
			if !s.ready.Load() || s.p.Stats().Sent == 0 {
				waiting++
				continue
			}
			if withDAVE {
				d := s.e2ee.Load()
				if d == nil || !d.Status().Encrypting {
					waiting++
				}
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d streams not sending after %v", ErrStartup, waiting, len(streams), limit)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// counts are the streams' counters summed.
type counts struct {
	skipped, late, dropped, sendErrors uint64
	nulled, passed, encoded            uint64
}

func snapshot(streams []*stream) counts {
	var c counts
	for _, s := range streams {
		vs := s.conn.Stats()
		c.skipped += vs.Skipped
		c.late += vs.Late
		c.dropped += vs.Dropped
		c.sendErrors += vs.SendErrors
		ps := s.p.Stats()
		c.nulled += ps.Nulled
		c.passed += ps.Passed
		c.encoded += ps.Encoded
	}
	return c
}

func (a counts) sub(b counts) counts {
	return counts{
		skipped: a.skipped - b.skipped, late: a.late - b.late, dropped: a.dropped - b.dropped,
		sendErrors: a.sendErrors - b.sendErrors, nulled: a.nulled - b.nulled,
		passed: a.passed - b.passed, encoded: a.encoded - b.encoded,
	}
}

// loopHost is the node's side for a benchmark player: a queue that
// never ends, every entry the same file. Peek returns the head; the
// head is popped when it starts or fails. The queue is never empty, so
// RequireNextSource never comes.
type loopHost struct {
	file string

	mu   sync.Mutex
	head int

	failures atomic.Uint64
}

func (h *loopHost) item(k int) player.Item {
	return player.Item{Tag: strconv.Itoa(k), Source: audio.Metadata{URL: h.file, Title: h.file, IsFile: true, Resolver: "file"}}
}

func (h *loopHost) Peek() (player.Item, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.item(h.head), true
}

func (h *loopHost) pop(tag string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if tag == strconv.Itoa(h.head) {
		h.head++
	}
}

func (h *loopHost) SourceStart(it player.Item)                { h.pop(it.Tag) }
func (h *loopHost) SourceStop(player.Item, player.StopReason) {}
func (h *loopHost) RequireNextSource(player.Item, bool)       {}
func (h *loopHost) SourceTraceback(it player.Item, err error) { h.failures.Add(1); h.pop(it.Tag) }
func (h *loopHost) PlayerTraceback(error)                     { h.failures.Add(1) }
func (h *loopHost) FilterError(string, error)                 { h.failures.Add(1) }
