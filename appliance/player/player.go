package player

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// Defaults for the zero values of Config.
const (
	DefaultBufferLimit = 5 * time.Second  // BUFFERLIMIT
	DefaultPreloadTime = 10 * time.Second // PRELOAD_TIME
	DefaultVolume      = 1.0

	minBufferLimit = 100 * time.Millisecond

	// inactiveAfter: a player not pulled for this long is not connected:
	// it prepares nothing new (node-protocol.md section 4, "a voice client
	// without a live voice connection keeps its queue untouched").
	inactiveAfter = 200 * time.Millisecond

	// maxEvents bounds the events waiting for the control goroutine.
	maxEvents = 64
)

// Config configures a Player. Host and Opener are required; every other
// zero value works.
type Config struct {
	// Host is the node's side: queue head, events.
	Host Host
	// Opener opens sources (*audio.Resolver).
	Opener Opener
	// Encoder sets the Opus bitrate and complexity (defaults: audio's).
	Encoder audio.EncoderConfig
	// FFmpeg is passed to audio.OpenOptions ("" looks it up in PATH, "-"
	// disables it).
	FFmpeg string
	// BufferLimit is how much audio is decoded ahead per source
	// (BUFFERLIMIT); 0 means DefaultBufferLimit, the minimum is 100 ms.
	BufferLimit time.Duration
	// PreloadTime is how long before its crossfade (or its end) the
	// current source's successor is prepared (PRELOAD_TIME); 0 means
	// DefaultPreloadTime.
	PreloadTime time.Duration
	// Volume is the initial volume; 0 means DefaultVolume (1.0). A player
	// restored muted calls SetVolume(0) before Run.
	Volume float64
	// Crossfade is the initial crossfade; 0 is a gapless hand-over.
	Crossfade time.Duration
	// Autoplay is handed to RequireNextSource.
	Autoplay bool
	// Paused starts the player paused.
	Paused bool
	// Resume, when set, is played first, from its StartPosition, before
	// anything from the queue: the current source of a node that
	// restarted. It is not a queue entry (SourceStart finds it is not the
	// head).
	Resume *Item
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Stats are a player's frame counters (STATUS FrameStats). The voice
// connection counts the slots it skipped itself (voice.Stats.Skipped: the
// "deficit").
type Stats struct {
	Sent    uint64 // frames handed to the voice connection
	Passed  uint64 // of those, the source's own packets (passthrough)
	Encoded uint64 // Opus encoder calls, priming included
	Nulled  uint64 // slots in which an audible source had nothing ready (underruns)
}

// Playing is the current source and where it is (getState, GET /seek,
// GET /current, position checkpoints).
type Playing struct {
	Item        Item
	Position    time.Duration // of the audio handed out so far, within 20 ms
	Duration    time.Duration // valid when HasDuration
	HasDuration bool
	Seekable    bool
}

// Player is one guild's player. Its methods are safe for concurrent use;
// NextFrame is meant for the voice connection's send loop.
type Player struct {
	cfg   Config
	host  Host
	log   *slog.Logger
	units int // per track ring
	epoch time.Time

	wake     chan struct{} // wakes the control goroutine
	lastPull atomic.Int64  // ns since epoch of the last NextFrame; 0: never

	sent, passed, encoded, nulled atomic.Uint64

	mu       sync.Mutex
	running  bool
	ran      bool
	tracks   []*track // live tracks in creation order
	cur      *track   // audible (or about to be), the incoming one in a crossfade
	next     *track   // prepared ahead, not audible yet
	fade     fade
	resume   *Item
	events   []event
	evDrops  int
	queueGen uint64
	qEmpty   bool   // the last Peek found the queue empty (until QueueChanged)
	failTag  string // tag of the last source that failed before it started

	volume    float64
	crossfade time.Duration
	autoplay  bool
	filter    Filter
	filterOff bool // the filter panicked: bypassed until SetFilter

	paused      bool
	seekPending bool
	seekTo      time.Duration
	skipPending bool
	skipWait    int
	cutPending  bool

	out output
	tap func(pcm []float32) // tests: each frame's PCM (nil for a packet)
}

// event is one Host call waiting for the control goroutine. t is the
// source it is about (its Item is handed to the Host), nil for player
// and filter events: a pointer rather than the Item, because each player
// keeps two buffers of maxEvents events (8 KB instead of 30 KB), and the
// control goroutine clears delivered events so they do not keep tracks
// alive.
type event struct {
	kind     eventKind
	autoplay bool
	t        *track
	reason   StopReason
	err      error
	filter   string
}

type eventKind uint8

const (
	evStart eventKind = iota
	evStop
	evRequireNext
	evSourceTraceback
	evPlayerTraceback
	evFilterError
)

// New validates cfg and returns a player; it starts nothing.
func New(cfg Config) (*Player, error) {
	if cfg.Host == nil {
		return nil, ErrNoHost
	}
	if cfg.Opener == nil {
		return nil, ErrNoOpener
	}
	if cfg.BufferLimit <= 0 {
		cfg.BufferLimit = DefaultBufferLimit
	}
	cfg.BufferLimit = max(cfg.BufferLimit, minBufferLimit)
	if cfg.PreloadTime <= 0 {
		cfg.PreloadTime = DefaultPreloadTime
	}
	if cfg.Volume <= 0 {
		cfg.Volume = DefaultVolume
	}
	if cfg.Crossfade < 0 {
		cfg.Crossfade = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Encoder.Validate(); err != nil {
		return nil, fmt.Errorf("player: %w", err)
	}
	p := &Player{
		cfg:       cfg,
		host:      cfg.Host,
		log:       cfg.Logger,
		units:     int((cfg.BufferLimit + audio.FrameDuration - 1) / audio.FrameDuration),
		epoch:     time.Now(),
		wake:      make(chan struct{}, 1),
		events:    make([]event, 0, maxEvents),
		volume:    cfg.Volume,
		crossfade: cfg.Crossfade,
		autoplay:  cfg.Autoplay,
		paused:    cfg.Paused,
	}
	if cfg.Resume != nil {
		it := *cfg.Resume
		p.resume = &it
	}
	p.out.init()
	return p, nil
}

// Run runs the control goroutine and owns every goroutine the player
// starts (one reader per open source). It returns nil when ctx ends,
// after closing every source and waiting for the readers. It may be
// called once.
func (p *Player) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return ErrRunning
	}
	p.ran, p.running = true, true
	p.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		p.mu.Lock()
		p.running = false
		tracks := p.tracks
		p.tracks, p.cur, p.next, p.fade = nil, nil, nil, fade{}
		p.mu.Unlock()
		for _, t := range tracks {
			t.abort()
		}
		wg.Wait()
	}()
	deliver := make([]event, 0, maxEvents)
	for {
		deliver = p.control(ctx, &wg, deliver)
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
	}
}

// poke wakes the control goroutine.
func (p *Player) poke() { signal(p.wake) }

// now is the time since the player was made, in ns.
func (p *Player) now() int64 { return int64(time.Since(p.epoch)) }

// active reports whether the voice connection pulled frames lately.
func (p *Player) active() bool {
	last := p.lastPull.Load()
	return last != 0 && p.now()-last < int64(inactiveAfter)
}

// push queues an event for the Host; p.mu is held. It never allocates
// beyond the preallocated room: when the control goroutine falls that far
// behind, the event is dropped and counted.
func (p *Player) push(ev event) {
	if len(p.events) == cap(p.events) {
		p.evDrops++
		return
	}
	p.events = append(p.events, ev)
	signal(p.wake)
}

// ensureOutput makes the mixing buffers and the encoder, if the player
// has none: a source's reader calls it before it publishes PCM, so that
// NextFrame does not allocate them. It must not be called with a track's
// mu held.
func (p *Player) ensureOutput() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.out.alloc(p.cfg.Encoder, p.filter != nil); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

// playerTraceback reports err from a goroutine that does not hold p.mu.
func (p *Player) playerTraceback(err error) {
	p.mu.Lock()
	p.push(event{kind: evPlayerTraceback, err: err})
	p.mu.Unlock()
}

// control is one round of the control goroutine: deliver events, close
// finished tracks, prepare the next source. It loops until nothing is
// left to do.
func (p *Player) control(ctx context.Context, wg *sync.WaitGroup, deliver []event) []event {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("%w in the control goroutine: %v\n%s", ErrPanic, r, debug.Stack())
			p.log.Error("player: panic", "err", err)
			p.playerTraceback(err)
		}
	}()
	for {
		p.mu.Lock()
		p.checkNext()
		var closing []*track
		live := p.tracks[:0]
		for _, t := range p.tracks {
			if t.closeMe {
				closing = append(closing, t)
			} else {
				live = append(live, t)
			}
		}
		clear(p.tracks[len(live):])
		p.tracks = live
		if len(live) == 0 {
			p.out.free() // no source open: nothing to encode
		}
		deliver, p.events = p.events, deliver[:0]
		drops := p.evDrops
		p.evDrops = 0
		want, resume := p.wantPeek()
		qgen := p.queueGen
		p.mu.Unlock()

		if drops > 0 {
			p.log.Warn("player: events dropped (the host is too slow)", "dropped", drops)
		}
		for _, ev := range deliver {
			p.deliver(ev)
		}
		clear(deliver) // events hold their tracks (and rings) alive
		for _, t := range closing {
			t.abort()
		}
		if !want {
			if len(deliver) == 0 && len(closing) == 0 {
				return deliver
			}
			continue
		}
		var it Item
		var ok bool
		if resume {
			it, ok = *p.resume, true
		} else {
			it, ok = p.host.Peek()
		}
		p.mu.Lock()
		p.peeked(ctx, wg, it, ok, qgen, resume)
		p.mu.Unlock()
	}
}

func (p *Player) deliver(ev event) {
	h := p.host
	switch ev.kind {
	case evStart:
		h.SourceStart(ev.t.it)
	case evStop:
		h.SourceStop(ev.t.it, ev.reason)
	case evRequireNext:
		h.RequireNextSource(ev.t.it, ev.autoplay)
	case evSourceTraceback:
		p.log.Warn("player: source failed", "source", ev.t.name, "err", ev.err)
		h.SourceTraceback(ev.t.it, ev.err)
	case evPlayerTraceback:
		p.log.Error("player: traceback", "err", ev.err)
		h.PlayerTraceback(ev.err)
	case evFilterError:
		p.log.Warn("player: filter bypassed", "filter", ev.filter, "err", ev.err)
		h.FilterError(ev.filter, ev.err)
	}
}

// checkNext drops a prepared source that failed before it started; p.mu
// is held.
func (p *Player) checkNext() {
	if n := p.next; n != nil && !n.started && n.drained() {
		p.failUnstarted(n)
		p.next = nil
	}
}

// failUnstarted reports a source that failed (or held nothing) before it
// became audible; p.mu is held.
func (p *Player) failUnstarted(t *track) {
	err := t.failure()
	if err == nil {
		err = fmt.Errorf("%w: %q", ErrEmpty, t.name)
	}
	if !t.pinned {
		p.failTag = t.it.Tag
	}
	t.finished, t.closeMe = true, true
	p.push(event{kind: evSourceTraceback, t: t, err: err})
}

// wantPeek says whether the control goroutine should look at the queue
// head now; p.mu is held.
func (p *Player) wantPeek() (want, resume bool) {
	if !p.running || !p.active() {
		return false, false
	}
	if p.next != nil {
		return !p.next.verified, false
	}
	if !p.wantsNext() {
		return false, false
	}
	if p.resume != nil {
		return true, true
	}
	return !p.qEmpty, false
}

// wantsNext: the next source should be prepared now; p.mu is held.
func (p *Player) wantsNext() bool {
	return p.cur == nil || p.cur.preloadDue || p.skipPending
}

// peeked applies a Peek result; p.mu is held.
func (p *Player) peeked(ctx context.Context, wg *sync.WaitGroup, it Item, ok bool, qgen uint64, resume bool) {
	if !p.running || (!resume && qgen != p.queueGen) {
		return // the queue changed meanwhile: look again
	}
	for _, ev := range p.events {
		if !resume && (ev.kind == evStart || ev.kind == evSourceTraceback) {
			// The node pops on these: the head it showed may be a source
			// that already started or failed. Deliver them, then look again.
			return
		}
	}
	if n := p.next; n != nil && !n.verified {
		if ok && it.Tag == n.it.Tag {
			n.verified = true
			return
		}
		// The head changed (deleted, moved, skipped over): forget it.
		n.finished, n.closeMe = true, true
		p.next = nil
	}
	if p.next != nil || !p.wantsNext() {
		return
	}
	if resume {
		p.resume = nil
	} else if !ok || it.Tag == p.failTag && p.failTag != "" {
		p.qEmpty = true
		if c := p.cur; c != nil && !c.required && (c.preloadDue || p.skipPending) {
			c.required = true
			p.push(event{kind: evRequireNext, t: c, autoplay: p.autoplay})
		}
		return
	}
	t := p.newTrack(ctx, it)
	t.verified, t.pinned = true, resume
	// PCM from the start when it will be mixed (crossfade) or when the
	// output is encoding anyway (a gapless join must be sample-exact).
	t.wantPCM = p.crossfade > 0 || p.filter != nil || p.volume != 1 || (p.cur != nil && !p.out.lastPkt)
	p.next = t
	p.tracks = append(p.tracks, t)
	wg.Go(t.run)
}

// QueueChanged tells the player that the queue changed (an entry added,
// removed or moved): it looks at the head again before it plays the
// source it prepared. The node calls it after every committed mutation.
func (p *Player) QueueChanged() {
	p.mu.Lock()
	p.queueGen++
	p.qEmpty = false
	p.failTag = ""
	if n := p.next; n != nil && !n.pinned {
		n.verified = false
	}
	p.mu.Unlock()
	p.poke()
}

// SetVolume sets the volume (1.0 is unity; negative counts as 0). The
// change ramps over one 20 ms frame and is heard in the next frame.
func (p *Player) SetVolume(v float64) {
	p.mu.Lock()
	p.volume = max(v, 0)
	p.mu.Unlock()
}

// SetCrossfade sets the crossfade (0: gapless); a crossfade under way
// keeps its length.
func (p *Player) SetCrossfade(d time.Duration) {
	p.mu.Lock()
	p.crossfade = max(d, 0)
	p.mu.Unlock()
}

// SetAutoplay sets what RequireNextSource says.
func (p *Player) SetAutoplay(on bool) {
	p.mu.Lock()
	p.autoplay = on
	p.mu.Unlock()
}

// SetFilter replaces the filter chain (nil: none) from the next frame on.
// Once SetFilter returned, the previous Filter is no longer used.
func (p *Player) SetFilter(f Filter) {
	p.mu.Lock()
	p.filter = f
	p.filterOff = false
	if f != nil && p.out.ready() {
		p.out.allocFifo()
	}
	p.mu.Unlock()
}

// Pause stops the audio after a 20 ms fade-out (at once when the source
// is passing its own packets through and no PCM is at hand); the voice
// connection then sends its silence frames. Nothing advances until Resume.
func (p *Player) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume continues after Pause, fading in over 20 ms.
func (p *Player) Resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

// Paused reports whether the player is paused.
func (p *Player) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Seek moves the current source to d from its start (within 20 ms; at or
// past its end the source ends). A 20 ms fade-out precedes the jump and a
// 20 ms fade-in follows it.
func (p *Player) Seek(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: %v", ErrNegativeSeek, d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cur
	if c == nil || !c.started {
		return ErrNotPlaying
	}
	if !c.isSeekable() {
		return fmt.Errorf("%w: %q", ErrNotSeekable, c.name)
	}
	p.seekPending, p.seekTo = true, d
	return nil
}

// Skip ends the current source: it crossfades into the next one
// (min(crossfade, what remains of the current, half the next); 20 ms when
// the crossfade is 0), or fades it out over 20 ms when the queue is empty.
// To skip several entries the node deletes the queue entries after the
// current one first (QUEUE_EVENT delItem) and calls QueueChanged, then
// Skip.
func (p *Player) Skip() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cur
	if c == nil || !c.started {
		return ErrNotPlaying
	}
	p.skipPending, p.skipWait = true, 0
	p.poke()
	return nil
}

// Current returns the audible source and its position; ok is false when
// nothing is audible.
func (p *Player) Current() (pl Playing, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cur
	if c == nil || !c.started {
		return Playing{}, false
	}
	pl.Item = c.it
	pos := c.heard
	if p.seekPending {
		pos = durToSamples(p.seekTo)
	}
	pl.Position = samplesToDur(max(0, pos))
	pl.Duration, pl.HasDuration, pl.Seekable = c.info()
	if !pl.HasDuration && c.it.Source.HasDuration {
		pl.Duration, pl.HasDuration = c.it.Source.Duration, true
	}
	return pl, true
}

// Stats returns the frame counters.
func (p *Player) Stats() Stats {
	return Stats{
		Sent:    p.sent.Load(),
		Passed:  p.passed.Load(),
		Encoded: p.encoded.Load(),
		Nulled:  p.nulled.Load(),
	}
}
