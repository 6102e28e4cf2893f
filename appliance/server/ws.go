package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
)

// socket is one websocket: gws's read loop runs in the upgrade request's
// goroutine; one writer goroutine drains the bounded queue out.
type socket struct {
	s    *Server
	conn *gws.Conn
	addr string

	out      chan []byte
	done     chan struct{} // closed when the read loop has ended
	killOnce sync.Once
	killed   chan struct{} // closed to make the writer close the socket
	killCode uint16
	killWhy  string
	lastRead atomic.Int64 // unix nanoseconds of the last frame received

	manager *appliance.Manager // set by IDENTIFY; read loop only
}

// Send queues a frame; it never blocks (appliance.Subscriber). A full
// queue closes the socket with 4008.
func (so *socket) Send(frame []byte) {
	select {
	case so.out <- frame:
	case <-so.killed:
	default:
		so.kill(protocol.CloseTooSlow, fmt.Sprintf("too slow: %d frames waiting to be sent", cap(so.out)))
	}
}

func (so *socket) send(op string, d any) {
	b, err := protocol.Encode(op, d)
	if err != nil {
		so.s.log.Error("encoding a frame", "op", op, "err", err)
		return
	}
	if len(b) > so.s.cfg.MaxFrameBytes {
		// Never sent: the Python client closes on such a frame and the bot
		// leaves every voice channel (node-protocol.md section 1).
		so.s.log.Error("an answer is over the frame limit", "op", op, "bytes", len(b))
		so.traceback(op, protocol.KindInternal, fmt.Sprintf("the answer would be %d bytes, over the frame limit of %d", len(b), so.s.cfg.MaxFrameBytes), "")
		return
	}
	so.Send(b)
}

func (so *socket) traceback(op, kind, msg string, guild protocol.ID) {
	so.send(op, protocol.NewTraceback(kind, msg, guild))
}

// kill asks the writer to close the socket with code and reason.
func (so *socket) kill(code uint16, why string) {
	so.killOnce.Do(func() {
		so.killCode, so.killWhy = code, why
		close(so.killed)
	})
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ok := s.authorized(r)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "ShuttingDown", "the node is shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	hj, isHJ := w.(http.Hijacker)
	if !isHJ {
		writeError(w, http.StatusInternalServerError, "Internal", "connection cannot be upgraded")
		return
	}
	netConn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	so := &socket{
		s:      s,
		addr:   r.RemoteAddr,
		out:    make(chan []byte, s.cfg.OutboundQueue),
		done:   make(chan struct{}),
		killed: make(chan struct{}),
	}
	guard := &frameGuard{Conn: netConn}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		guard.prefix = bytes.Clone(b)
	}
	guard.scan = frameScanner{limit: s.cfg.MaxFrameBytes, onTooBig: func(size uint64) {
		// Written at once, ahead of the queue: gws closes with 1009 as soon
		// as it parses this header.
		if b, err := protocol.Encode(protocol.OpError, protocol.NewTraceback(protocol.KindFrameTooLarge,
			fmt.Sprintf("a frame of %d bytes is over the limit of %d bytes", size, s.cfg.MaxFrameBytes), "")); err == nil {
			_ = so.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			_ = so.conn.WriteMessage(gws.OpcodeText, b)
		}
	}}
	conn, err := s.upgrader.UpgradeFromConn(guard, bufio.NewReaderSize(guard, readBufferSize), r)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	so.conn = conn
	conn.Session().Store("socket", so)
	so.lastRead.Store(time.Now().UnixNano())

	if !ok {
		s.log.Warn("refused a websocket: wrong or missing Authorization", "remote", r.RemoteAddr)
		so.send(protocol.OpForbidden, "Password mismatch.")
		so.kill(protocol.CloseForbidden, "Password mismatch.")
	} else {
		s.mu.Lock()
		s.sockets[so] = struct{}{}
		if s.closed { // Close ran between our check and here
			so.kill(protocol.CloseGoingAway, "the node is shutting down")
		}
		s.mu.Unlock()
		so.send(protocol.OpHello, map[string]any{"heartbeat_interval": s.cfg.HeartbeatInterval.Seconds(), "version": s.cfg.Version})
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		so.writer()
	}()
	conn.ReadLoop() // returns when the socket is closed, by either side
	close(so.done)
	<-writerDone

	if so.manager != nil {
		so.manager.Leave(so)
	}
	s.mu.Lock()
	delete(s.sockets, so)
	s.mu.Unlock()
}

// writer drains the queue, closes silent sockets (4009) and carries out
// kill. It owns every write except the FrameTooLarge notice.
func (so *socket) writer() {
	cfg := so.s.cfg
	idle := time.NewTimer(cfg.HeartbeatTimeout)
	defer idle.Stop()
	for {
		select {
		case b := <-so.out:
			_ = so.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if err := so.conn.WriteMessage(gws.OpcodeText, b); err != nil {
				_ = so.conn.NetConn().Close()
				return
			}
		case <-so.killed:
			so.flush()
			so.close(so.killCode, so.killWhy)
			return
		case <-idle.C:
			silent := time.Since(time.Unix(0, so.lastRead.Load()))
			if silent >= cfg.HeartbeatTimeout {
				so.s.log.Info("closing a silent websocket", "remote", so.addr, "silent", silent.Round(time.Millisecond))
				so.close(protocol.CloseHeartbeatTimeout, "no heartbeat for "+cfg.HeartbeatTimeout.String())
				return
			}
			idle.Reset(cfg.HeartbeatTimeout - silent)
		case <-so.done:
			return
		}
	}
}

// flush writes what is queued (FORBIDDEN before its close, say) unless the
// socket is being dropped for being too slow.
func (so *socket) flush() {
	if so.killCode == protocol.CloseTooSlow {
		return
	}
	for {
		select {
		case b := <-so.out:
			_ = so.conn.SetWriteDeadline(time.Now().Add(so.s.cfg.WriteTimeout))
			if so.conn.WriteMessage(gws.OpcodeText, b) != nil {
				return
			}
		default:
			return
		}
	}
}

func (so *socket) close(code uint16, why string) {
	_ = so.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = so.conn.WriteClose(code, []byte(protocol.TrimUTF8(why, 120)))
	_ = so.conn.NetConn().Close()
}

// handler receives gws's callbacks, all in the socket's read loop.
type handler struct{ gws.BuiltinEventHandler }

func (handler) OnPing(c *gws.Conn, payload []byte) {
	socketOf(c).lastRead.Store(time.Now().UnixNano())
	_ = c.WritePong(payload)
}

func (handler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	so := socketOf(c)
	so.lastRead.Store(time.Now().UnixNano())
	select {
	case <-so.killed:
		return // FORBIDDEN, too slow or shutting down: nothing more is handled
	default:
	}
	if msg.Opcode != gws.OpcodeText {
		so.traceback(protocol.OpError, protocol.KindNotJSON, "frames are JSON text frames", "")
		return
	}
	so.handle(msg.Bytes())
}

func socketOf(c *gws.Conn) *socket {
	v, _ := c.Session().Load("socket")
	return v.(*socket)
}

// guildRequest is the d of ops that name a guild.
type guildRequest struct {
	GuildID protocol.ID `json:"guild_id"`
}

type identifyRequest struct {
	UserID  protocol.ID `json:"user_id"`
	ShardID protocol.ID `json:"shard_id"`
}

// handle runs one frame (node-protocol.md section 4).
func (so *socket) handle(data []byte) {
	f, err := protocol.DecodeFrame(data)
	if err != nil {
		kind := protocol.KindNotJSON
		if errors.Is(err, protocol.ErrBadFrame) {
			kind = protocol.KindBadRequest
		}
		so.traceback(protocol.OpError, kind, err.Error(), "")
		return
	}
	switch f.Op {
	case protocol.OpHeartbeat:
		d := f.D
		if d == nil {
			d = json.RawMessage("null")
		}
		so.send(protocol.OpHeartbeatAck, d)
		return
	case protocol.OpGetStatus:
		so.send(protocol.OpStatus, so.s.status())
		return
	case protocol.OpIdentify:
		so.identify(f.D)
		return
	}
	if !knownOp(f.Op) {
		so.traceback(f.Op, protocol.KindUnknownOp, "unknown op "+protocol.TrimUTF8(f.Op, 64), "")
		return
	}
	if so.manager == nil {
		so.traceback(f.Op, protocol.KindNotIdentified, "Identify first.", "")
		return
	}
	if f.Op == protocol.OpDiscordEvent {
		if err := so.manager.DiscordEvent(f.D); err != nil {
			var ev struct {
				D struct {
					GuildID protocol.ID `json:"guild_id"`
				} `json:"d"`
			}
			_ = json.Unmarshal(f.D, &ev) // best effort: the guild the dispatch named
			so.traceback(f.Op, appliance.Kind(err), err.Error(), ev.D.GuildID)
		}
		return
	}
	var req guildRequest
	if err := protocol.DecodeData(f.D, &req); err != nil {
		so.traceback(f.Op, protocol.KindBadRequest, err.Error(), "")
		return
	}
	var d any
	switch f.Op {
	case protocol.OpGetState:
		d, err = so.manager.State(req.GuildID)
	case protocol.OpGetQueue:
		d, err = so.manager.Queue(req.GuildID)
	case protocol.OpVCDestroy:
		err = so.manager.DestroyVoiceClient(req.GuildID)
	case protocol.OpSubtitle:
		err = fmt.Errorf("%w: subtitles need a YouTube extractor this node does not have", appliance.ErrNotSupported)
	}
	if err != nil {
		so.traceback(f.Op, appliance.Kind(err), err.Error(), req.GuildID)
		return
	}
	if d != nil {
		so.send(f.Op, d)
	}
}

func knownOp(op string) bool {
	switch op {
	case protocol.OpDiscordEvent, protocol.OpGetState, protocol.OpGetQueue, protocol.OpVCDestroy, protocol.OpSubtitle:
		return true
	}
	return false
}

func (so *socket) identify(d json.RawMessage) {
	if so.manager != nil {
		so.traceback(protocol.OpIdentify, protocol.KindAlreadyIdentified, "This connection already identified.", "")
		return
	}
	var req identifyRequest
	if err := protocol.DecodeData(d, &req); err != nil {
		so.traceback(protocol.OpIdentify, protocol.KindBadRequest, err.Error(), "")
		return
	}
	if req.UserID == "" {
		so.traceback(protocol.OpIdentify, protocol.KindBadRequest, "IDENTIFY needs user_id (a snowflake, as a number or a string)", "")
		return
	}
	m, err := so.s.node.Identify(req.UserID, req.ShardID, so)
	if err != nil {
		so.traceback(protocol.OpIdentify, appliance.Kind(err), err.Error(), "")
		return
	}
	so.manager = m
}

const readBufferSize = 4096

func newUpgrader(s *Server) *gws.Upgrader {
	return gws.NewUpgrader(handler{}, &gws.ServerOption{
		ReadMaxPayloadSize: s.cfg.MaxFrameBytes,
		ReadBufferSize:     readBufferSize,
		HandshakeTimeout:   s.cfg.WriteTimeout,
		CheckUtf8Enabled:   true,
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{s},
	})
}

// gwsLogger routes gws's internal errors (recovered panics) to slog.
type gwsLogger struct{ s *Server }

func (l gwsLogger) Error(v ...any) { l.s.log.Error("websocket", "detail", fmt.Sprint(v...)) }
