package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventReady: a fresh session (Identify) is ready and sending.
	EventReady EventKind = iota + 1
	// EventResumed: a resumed session is sending again.
	EventResumed
	// EventReconnecting: the socket closed and the connection retries
	// (Resume says how); Code is the close code, 0 for local reasons.
	EventReconnecting
	// EventClosed: Run is about to return Err (nil after Close).
	EventClosed
)

func (k EventKind) String() string {
	switch k {
	case EventReady:
		return "ready"
	case EventResumed:
		return "resumed"
	case EventReconnecting:
		return "reconnecting"
	case EventClosed:
		return "closed"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is delivered to Config.OnEvent.
type Event struct {
	Kind   EventKind
	Code   int    // close code behind Reconnecting or Closed; 0 if none
	Reason string // close reason the server gave
	Resume bool   // Reconnecting: true resumes, false identifies afresh
	Err    error  // Reconnecting: the cause; Closed: what Run returns

	SSRC        uint32 // Ready, Resumed
	Mode        string // Ready, Resumed: the transport encryption mode
	DAVEVersion int    // Ready: op 4's dave_protocol_version
}

// Stats are the connection's counters since New.
type Stats struct {
	Frames        uint64 // audio packets sent
	SilenceFrames uint64 // F8 FF FE packets sent
	Skipped       uint64 // grid slots skipped after stalls (the deficit)
	Late          uint64 // slots that started 5 ms or more after their due time
	Dropped       uint64 // frames refused by the source, E2EE or sealing
	SendErrors    uint64 // UDP writes that failed
	Identifies    uint64 // op 0 sent
	Resumes       uint64 // op 7 sent
	// Reconnects counts reconnects by the close code that caused them;
	// 0 stands for local reasons (heartbeat ACKs missing, handshake
	// timeout, dial failure, channel move).
	Reconnects map[int]uint64
	Ping       time.Duration // last heartbeat round trip
	SSRC       uint32
	Mode       string
}

type counters struct {
	frames, silence, skipped, late, dropped, sendErrors, identifies, resumes atomic.Uint64
}

// eventQueue bounds the events waiting for OnEvent.
const eventQueue = 64

// Conn is one Discord voice connection. See the package documentation
// for its lifecycle.
type Conn struct {
	cfg  Config
	url  string
	log  *slog.Logger
	ctrs counters

	source atomic.Pointer[FrameSource]
	moved  chan struct{} // SetChannel → session loop, cap 1
	events chan Event

	// nonceLimit, when set by a test, replaces 2^32 as the packets
	// allowed under one key.
	nonceLimit uint64

	mu         sync.Mutex
	ws         *gws.Conn // the open socket, nil between sockets
	channelID  uint64
	running    bool
	closed     bool
	cancel     context.CancelFunc
	reconnects map[int]uint64
	ping       time.Duration
	ssrc       uint32
	mode       string
}

// New validates cfg and returns a connection; it starts nothing.
func New(cfg Config) (*Conn, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	u, _ := gatewayURL(cfg.Endpoint)
	c := &Conn{
		cfg:        cfg,
		url:        u,
		log:        cfg.Logger.With("guild", cfg.GuildID),
		moved:      make(chan struct{}, 1),
		events:     make(chan Event, eventQueue),
		channelID:  cfg.ChannelID,
		reconnects: make(map[int]uint64),
	}
	if cfg.Source != nil {
		c.SetSource(cfg.Source)
	}
	return c, nil
}

// SetSource replaces the frame source; nil means silence. Safe from any
// goroutine; the send loop picks it up at its next grid slot.
func (c *Conn) SetSource(src FrameSource) {
	if src == nil {
		c.source.Store(nil)
		return
	}
	c.source.Store(&src)
}

// SetChannel follows the bot to another channel of the same voice server
// (a VOICE_STATE_UPDATE with a new channel_id and no new
// VOICE_SERVER_UPDATE). The channel id is the DAVE group id, so a changed
// id makes the connection identify afresh, which builds a new E2EE
// session. A new VOICE_SERVER_UPDATE is not handled here: it is a new
// session, so the node closes this Conn and starts another.
func (c *Conn) SetChannel(channelID uint64) error {
	if channelID == 0 {
		return ErrNoChannel
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.channelID == channelID {
		return nil
	}
	c.channelID = channelID
	select {
	case c.moved <- struct{}{}:
	default:
	}
	return nil
}

// ChannelID returns the channel the connection is (or will be) in.
func (c *Conn) ChannelID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channelID
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Frames:        c.ctrs.frames.Load(),
		SilenceFrames: c.ctrs.silence.Load(),
		Skipped:       c.ctrs.skipped.Load(),
		Late:          c.ctrs.late.Load(),
		Dropped:       c.ctrs.dropped.Load(),
		SendErrors:    c.ctrs.sendErrors.Load(),
		Identifies:    c.ctrs.identifies.Load(),
		Resumes:       c.ctrs.resumes.Load(),
		Reconnects:    maps.Clone(c.reconnects),
		Ping:          c.ping,
		SSRC:          c.ssrc,
		Mode:          c.mode,
	}
}

// Close stops the connection: Run closes the socket with 1000, stops
// every goroutine and returns nil. Close does not wait for Run; it is
// idempotent and may be called before Run (Run then returns ErrClosed).
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.cancel != nil {
		c.cancel()
	}
	return nil
}

// Run connects and keeps the connection up until Close, ctx's end, or a
// close the table of discord-voice.md §1.9 says not to retry. It blocks,
// owns every goroutine it starts and waits for them before returning:
//
//   - nil after Close; ctx.Err() when ctx ended;
//   - a *CloseError when the voice server ended the session for good;
//   - an error wrapping ErrGaveUp after MaxAttempts failed attempts in a row;
//   - an error wrapping ErrNoMode when no usable encryption mode is offered.
func (c *Conn) Run(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.running:
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.mu.Unlock()
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(c.dispatch)

	st := &voiceState{seq: -1}
	err := c.loop(ctx, st)
	st.reset()

	ev := Event{Kind: EventClosed, Err: err}
	if ce, ok := errors.AsType[*CloseError](err); ok {
		ev.Code, ev.Reason = ce.Code, ce.Reason
	}
	c.events <- ev // the last event is never dropped: the dispatcher drains
	close(c.events)
	wg.Wait()
	return err
}

// dispatch delivers events to OnEvent, in order, on one goroutine.
func (c *Conn) dispatch() {
	for ev := range c.events {
		if c.cfg.OnEvent != nil {
			c.cfg.OnEvent(ev)
		}
	}
}

// emit queues an event; a full queue drops it rather than block the connection.
func (c *Conn) emit(ev Event) {
	select {
	case c.events <- ev:
	default:
		c.log.Warn("voice: event dropped, OnEvent too slow", "event", ev.Kind)
	}
}

// voiceState is what survives a resume: UDP, SSRC, key, sequence state,
// E2EE and the last gateway seq (§1.8). A fresh Identify resets it.
type voiceState struct {
	ssrc        uint32
	udp         *net.UDPConn
	mode        string
	pk          *packetizer // nil until op 4
	e2ee        E2EE
	daveVersion int
	seq         int64 // last seq seen, -1 before any
}

func (st *voiceState) reset() {
	if st.udp != nil {
		_ = st.udp.Close()
	}
	*st = voiceState{seq: -1}
}

// errMoved is the reason of the fresh Identify after SetChannel.
var errMoved = errors.New("voice: channel changed")

// sessionEnd says how one websocket ended and what to do next.
type sessionEnd struct {
	act    action
	code   int    // close code; 1006 when the socket dropped; 0 for local reasons
	reason string // close reason
	err    error  // why, for the log and events
	live   bool   // Ready or Resumed was reached
	fatal  bool   // stop with err, not a *CloseError
}

// loop runs sockets one after another, following the close-code table.
func (c *Conn) loop(ctx context.Context, st *voiceState) error {
	resume := false
	failures := 0
	after4006 := false // this fresh Identify follows a 4006
	for {
		if !resume {
			st.reset()
		}
		end := c.session(ctx, st, resume)
		if ctx.Err() != nil {
			if c.isClosed() {
				return nil
			}
			return ctx.Err()
		}
		if end.live {
			failures = 0
			after4006 = false
		} else {
			failures++
		}
		if end.fatal {
			return end.err
		}
		act := end.act
		if act == actResume && st.pk == nil {
			// Nothing to resume: the socket dropped before Session Description.
			act = actIdentify
		}
		if end.code == 4006 && !resume && !end.live && after4006 {
			// A fresh Identify failed with 4006 again: give up (§1.9).
			act = actStop
		}
		if act == actStop {
			return &CloseError{Code: end.code, Reason: end.reason}
		}
		if failures >= c.cfg.MaxAttempts {
			return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, failures, end.err)
		}
		after4006 = end.code == 4006 && act == actIdentify
		c.mu.Lock()
		c.reconnects[end.code]++
		c.mu.Unlock()
		c.log.Info("voice: reconnecting", "code", end.code, "reason", end.reason, "action", act, "err", end.err)
		c.emit(Event{Kind: EventReconnecting, Code: end.code, Reason: end.reason, Resume: act == actResume, Err: end.err})
		if !sleepCtx(ctx, c.backoff(failures)) {
			if c.isClosed() {
				return nil
			}
			return ctx.Err()
		}
		resume = act == actResume
	}
}

// backoff is the wait before the next attempt: none after a working
// session, then ReconnectDelay doubling up to MaxReconnectDelay, with up to
// 25 % jitter.
func (c *Conn) backoff(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	d := c.cfg.ReconnectDelay
	for i := 1; i < failures && d < c.cfg.MaxReconnectDelay; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxReconnectDelay)
	return d + rand.N(d/4+1)
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Conn) setWS(ws *gws.Conn) {
	c.mu.Lock()
	c.ws = ws
	c.mu.Unlock()
}

// sendGateway is the E2EE's send function: JSON ops get "d" wrapped in
// {"op","d"}; binary ops go out as opcode byte + body (§1.3). It writes to
// whichever socket is open, so it survives resumes.
func (c *Conn) sendGateway(op int, payload []byte, binary bool) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		return ErrNotConnected
	}
	if binary {
		return ws.Writev(gws.OpcodeBinary, []byte{byte(op)}, payload)
	}
	return ws.WriteMessage(gws.OpcodeText, wrapOp(op, payload))
}
