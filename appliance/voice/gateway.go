package voice

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// wsMessage is one frame from the read loop, copied out of gws's buffer.
type wsMessage struct {
	binary bool
	data   []byte
}

// wsHandler is the gws event handler of one socket. OnMessage runs on the
// socket's read goroutine and hands frames to the session loop.
type wsHandler struct {
	msgs   chan wsMessage
	quit   chan struct{} // closed when the session loop stops reading msgs
	closed chan struct{} // closed after OnClose
	err    error         // why the socket closed; read after <-closed
}

func (h *wsHandler) OnOpen(*gws.Conn)               {}
func (h *wsHandler) OnPing(s *gws.Conn, p []byte)   { _ = s.WritePong(p) }
func (h *wsHandler) OnPong(*gws.Conn, []byte)       {}
func (h *wsHandler) OnClose(_ *gws.Conn, err error) { h.err = err; close(h.closed) }
func (h *wsHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	msg := wsMessage{binary: m.Opcode == gws.OpcodeBinary, data: append([]byte(nil), m.Bytes()...)}
	_ = m.Close()
	select {
	case h.msgs <- msg:
	case <-h.quit:
	}
}

// dialerFunc adapts a function to gws.Dialer.
type dialerFunc func(network, addr string) (net.Conn, error)

func (f dialerFunc) Dial(network, addr string) (net.Conn, error) { return f(network, addr) }

// dial opens the websocket. The TCP connection is closed when ctx ends,
// which also ends the read loop.
func (c *Conn) dial(ctx context.Context, h *wsHandler) (*gws.Conn, error) {
	opt := &gws.ClientOption{
		Addr:               c.url,
		TlsConfig:          c.cfg.TLSConfig.Clone(),
		HandshakeTimeout:   c.cfg.HandshakeTimeout,
		ReadMaxPayloadSize: 1 << 20,
		NewDialer: func() (gws.Dialer, error) {
			return dialerFunc(func(network, addr string) (net.Conn, error) {
				conn, err := c.cfg.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				context.AfterFunc(ctx, func() { _ = conn.Close() })
				return conn, nil
			}), nil
		},
	}
	ws, _, err := gws.NewClient(h, opt)
	if err != nil {
		return nil, fmt.Errorf("voice: dial %s: %w", c.url, err)
	}
	return ws, nil
}

// session runs one websocket from dial to close (§1.6–1.8): Identify or
// Resume, heartbeats, Ready, IP discovery, Select Protocol, Session
// Description, then the send loop until the socket ends. It returns what
// to do next and leaves no goroutine behind.
func (c *Conn) session(parent context.Context, st *voiceState, resume bool) sessionEnd {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // closes the TCP connection: the read loop ends

	s := &socket{
		c: c, st: st, resume: resume, ctx: ctx, wg: &wg,
		h:          &wsHandler{msgs: make(chan wsMessage, 16), quit: make(chan struct{}), closed: make(chan struct{})},
		discovered: make(chan discoveryResult, 1),
		stopSend:   func() {},
	}
	ws, err := c.dial(ctx, s.h)
	if err != nil {
		return sessionEnd{act: s.attempted(), err: err}
	}
	s.ws = ws
	wg.Go(ws.ReadLoop)
	defer close(s.h.quit)
	c.setWS(ws)
	defer c.setWS(nil)
	defer func() { s.stopSend() }()
	defer s.stopHeartbeat()
	return s.run()
}

// socket is the state of one websocket, owned by the session loop.
type socket struct {
	c      *Conn
	st     *voiceState
	resume bool // this socket resumes (op 7) rather than identifies (op 0)
	ctx    context.Context
	wg     *sync.WaitGroup
	ws     *gws.Conn
	h      *wsHandler

	heartbeat   *time.Ticker
	heartbeatC  <-chan time.Time
	awaitingACK bool
	missed      int
	lastT       int64 // nonce of the last heartbeat
	lastSent    time.Time

	discovered chan discoveryResult
	handshake  *time.Timer
	live       bool // Ready (op 4) or Resumed (op 9) reached
	readySeen  bool

	stopSend func()     // stops the send loop and waits for it
	sendDone chan error // the send loop's result, nil when none runs
}

// attempted is what this socket tried, and what a retry tries again.
func (s *socket) attempted() action {
	if s.resume {
		return actResume
	}
	return actIdentify
}

// closeWith ends the socket from our side; the server keeps the session
// for a resume unless the code is 1000 (§1.8).
func (s *socket) closeWith(code uint16) {
	_ = s.ws.SetWriteDeadline(time.Now().Add(time.Second))
	_ = s.ws.WriteClose(code, nil)
}

// fail closes the socket with 4000 and ends the session.
func (s *socket) fail(act action, err error) *sessionEnd {
	s.closeWith(4000)
	return &sessionEnd{act: act, err: err, live: s.live}
}

func (s *socket) write(op int, d any) error {
	b, err := marshalOp(op, d)
	if err != nil {
		return err
	}
	return s.ws.WriteMessage(gws.OpcodeText, b)
}

// run is the session loop: every event of the socket arrives here.
func (s *socket) run() sessionEnd {
	c, st := s.c, s.st
	var err error
	if s.resume {
		c.ctrs.resumes.Add(1)
		err = s.write(opResume, resumeData{
			ServerID: strconv.FormatUint(c.cfg.GuildID, 10), SessionID: c.cfg.SessionID,
			Token: c.cfg.Token, SeqAck: st.seq,
		})
	} else {
		err = c.identify(st, s.write)
	}
	if err != nil {
		return *s.fail(s.attempted(), err)
	}
	s.handshake = time.NewTimer(c.cfg.HandshakeTimeout)
	defer s.handshake.Stop()

	for {
		var end *sessionEnd
		select {
		case <-s.ctx.Done():
			s.stopSend()
			s.closeWith(1000)
			return sessionEnd{act: actStop, err: s.ctx.Err(), live: s.live}
		case <-s.h.closed:
			return s.closed()
		case <-s.handshake.C:
			if !s.live {
				end = s.fail(s.attempted(), ErrHandshakeTimeout)
			}
		case <-c.moved:
			end = s.fail(actIdentify, errMoved)
			end.live = true
		case err := <-s.sendDone:
			s.sendDone = nil
			if err != nil {
				// Only ErrNonceExhausted ends the send loop: a new key is needed.
				end = s.fail(actIdentify, err)
			}
		case <-s.heartbeatC:
			end = s.beat()
		case r := <-s.discovered:
			end = s.selectProtocol(r)
		case m := <-s.h.msgs:
			end = s.message(m)
		}
		if end != nil {
			return *end
		}
	}
}

// closed turns the socket's close into the next step (§1.9).
func (s *socket) closed() sessionEnd {
	code, reason := 1006, ""
	if ce, ok := errors.AsType[*gws.CloseError](s.h.err); ok {
		code, reason = int(ce.Code), string(ce.Reason)
		if code == 0 {
			code = 1005
		}
	}
	err := fmt.Errorf("voice: socket closed with %d (%s): %w", code, CloseCodeText(code), s.h.err)
	return sessionEnd{act: closeAction(code), code: code, reason: reason, err: err, live: s.live}
}

// beat sends a heartbeat (§1.7), or gives up after HeartbeatMisses
// missing ACKs in a row.
func (s *socket) beat() *sessionEnd {
	if s.awaitingACK {
		s.missed++
		if s.missed >= s.c.cfg.HeartbeatMisses {
			return s.fail(actResume, fmt.Errorf("%w: %d in a row", ErrHeartbeatLost, s.missed))
		}
	}
	s.lastSent = time.Now()
	s.lastT = s.lastSent.UnixMilli()
	s.awaitingACK = true
	if err := s.write(opHeartbeat, heartbeatData{T: s.lastT, SeqAck: s.st.seq}); err != nil {
		s.c.log.Debug("voice: heartbeat not sent", "err", err)
	}
	return nil
}

func (s *socket) stopHeartbeat() {
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
}

// message handles one frame from the server.
func (s *socket) message(m wsMessage) *sessionEnd {
	c, st := s.c, s.st
	if m.binary {
		seq, op, body, err := parseBinary(m.data)
		if err != nil {
			c.log.Warn("voice: bad binary frame", "err", err)
			return nil
		}
		st.seq = int64(seq)
		if daveBinaryOp(op) {
			s.toE2EE(op, body)
		}
		return nil
	}
	op, d, seq, err := parseText(m.data)
	if err != nil {
		c.log.Warn("voice: bad text frame", "err", err)
		return nil
	}
	if seq >= 0 {
		st.seq = seq
	}
	switch op {
	case opHello:
		s.hello(d)
	case opHeartbeatACK:
		s.ack(d)
	case opReady:
		return s.ready(d)
	case opSessionDescription:
		return s.sessionDescription(d)
	case opResumed:
		return s.resumed()
	default:
		if daveJSONOp(op) {
			s.toE2EE(op, d)
			return nil
		}
		// Speaking from others and undocumented ops (12, 14, 15, 16, 18,
		// 20, ...) are ignored, never fatal (§1.5).
		c.log.Debug("voice: op ignored", "op", op)
	}
	return nil
}

func (s *socket) toE2EE(op int, payload []byte) {
	if s.st.e2ee == nil {
		return
	}
	if err := s.st.e2ee.Handle(op, payload); err != nil {
		s.c.log.Warn("voice: E2EE failed to handle op", "op", op, "err", err)
	}
}

// hello starts (or re-times) heartbeats.
func (s *socket) hello(d []byte) {
	iv, err := parseHello(d)
	if err != nil {
		s.c.log.Warn("voice: bad hello", "err", err)
		return
	}
	if s.heartbeat == nil {
		s.heartbeat = time.NewTicker(iv)
	} else {
		s.heartbeat.Reset(iv)
	}
	s.heartbeatC = s.heartbeat.C
}

func (s *socket) ack(d []byte) {
	t, err := parseHeartbeatACK(d)
	if err != nil {
		s.c.log.Debug("voice: bad heartbeat ack", "err", err)
	}
	s.awaitingACK, s.missed = false, 0
	if err == nil && t == s.lastT {
		s.c.mu.Lock()
		s.c.ping = time.Since(s.lastSent)
		s.c.mu.Unlock()
	}
}

// ready opens UDP and starts IP discovery (§1.6 step 3).
func (s *socket) ready(d []byte) *sessionEnd {
	st := s.st
	if s.resume || s.readySeen {
		s.c.log.Warn("voice: ready ignored", "resumed", s.resume)
		return nil
	}
	s.readySeen = true
	r, err := parseReady(d)
	if err != nil {
		return s.fail(actIdentify, err)
	}
	mode, err := chooseMode(r.Modes)
	if err != nil {
		s.closeWith(1000)
		return &sessionEnd{act: actStop, err: err, fatal: true}
	}
	if st.udp != nil {
		_ = st.udp.Close()
	}
	udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr))
	if err != nil {
		return s.fail(actIdentify, fmt.Errorf("voice: UDP to %s: %w", r.Addr, err))
	}
	st.udp, st.ssrc, st.mode = udp, r.SSRC, mode
	ctx, wait := s.ctx, s.c.cfg.DiscoveryWait
	s.wg.Go(func() {
		addr, err := discover(ctx, udp, r.SSRC, wait)
		s.discovered <- discoveryResult{addr, err}
	})
	return nil
}

// selectProtocol sends op 1 once discovery answered (§1.6 step 4).
func (s *socket) selectProtocol(r discoveryResult) *sessionEnd {
	if r.err != nil {
		return s.fail(actIdentify, r.err)
	}
	err := s.write(opSelectProtocol, selectProtocolData{Protocol: "udp", Data: selectProtocolAddr{
		Address: r.addr.Addr().String(), Port: r.addr.Port(), Mode: s.st.mode,
	}})
	if err != nil {
		s.c.log.Debug("voice: select protocol not sent", "err", err)
	}
	return nil
}

// sessionDescription keys the transport, starts the E2EE and the send
// loop (§1.6 step 5).
func (s *socket) sessionDescription(d []byte) *sessionEnd {
	c, st := s.c, s.st
	if st.udp == nil {
		c.log.Warn("voice: session description before ready ignored")
		return nil
	}
	sd, err := parseSessionDescription(d)
	if err != nil {
		return s.fail(actIdentify, err)
	}
	s.stopSend()
	pk, err := newPacketizer(sd.Mode, sd.Key[:], st.ssrc, uint16(rand.Uint32()), rand.Uint32(), 0)
	if err != nil {
		return s.fail(actIdentify, err)
	}
	if c.nonceLimit > 0 {
		pk.limit = c.nonceLimit
	}
	st.pk, st.mode, st.daveVersion = pk, sd.Mode, sd.DAVEVersion
	if st.e2ee != nil {
		if err := st.e2ee.Start(sd.DAVEVersion); err != nil {
			c.log.Warn("voice: E2EE start failed", "version", sd.DAVEVersion, "err", err)
		}
	}
	s.live = true
	s.handshake.Stop()
	c.mu.Lock()
	c.ssrc, c.mode = st.ssrc, st.mode
	c.mu.Unlock()
	s.startSending()
	c.log.Info("voice: ready", "ssrc", st.ssrc, "mode", st.mode, "dave", sd.DAVEVersion)
	c.emit(Event{Kind: EventReady, SSRC: st.ssrc, Mode: st.mode, DAVEVersion: sd.DAVEVersion})
	return nil
}

// resumed restarts the send loop with the kept state (§1.8).
func (s *socket) resumed() *sessionEnd {
	c, st := s.c, s.st
	if !s.resume {
		return nil
	}
	if st.pk == nil || st.udp == nil {
		return s.fail(actIdentify, errors.New("voice: resumed a session that never got its description"))
	}
	s.live = true
	s.handshake.Stop()
	s.startSending()
	c.log.Info("voice: resumed", "seq_ack", st.seq)
	c.emit(Event{Kind: EventResumed, SSRC: st.ssrc, Mode: st.mode})
	return nil
}

// startSending (re)starts the send loop on the current voice state.
func (s *socket) startSending() {
	s.stopSend()
	c, st := s.c, s.st
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan error, 1)
	var wg sync.WaitGroup
	udp, ssrc := st.udp, st.pk.header.SSRC
	loop := newSendLoop(&sendLoop{
		source: &c.source,
		pk:     st.pk,
		e2ee:   st.e2ee,
		write: func(pkt []byte) error {
			_, err := udp.Write(pkt)
			return err
		},
		speaking: func(on bool) error {
			flag := 0
			if on {
				flag = 1
			}
			return s.write(opSpeaking, speakingData{Speaking: flag, SSRC: ssrc})
		},
		stats:   &c.ctrs,
		observe: c.cfg.ObserveSend,
		lead:    timerLead,
		log:     c.log,
	})
	wg.Go(func() { done <- loop.run(ctx) })
	s.sendDone = done
	s.stopSend = func() { cancel(); wg.Wait() }
}

type discoveryResult struct {
	addr netip.AddrPort
	err  error
}

// identify builds a new E2EE and sends op 0.
func (c *Conn) identify(st *voiceState, write func(int, any) error) error {
	select {
	case <-c.moved: // this Identify already uses the new channel
	default:
	}
	maxDAVE := 0
	if c.cfg.NewE2EE != nil {
		e, err := c.cfg.NewE2EE(c.cfg.UserID, c.ChannelID(), c.sendGateway)
		if err != nil {
			return fmt.Errorf("voice: E2EE: %w", err)
		}
		st.e2ee = e
		maxDAVE = DAVEProtocolVersion
	}
	c.ctrs.identifies.Add(1)
	return write(opIdentify, identifyData{
		ServerID:               strconv.FormatUint(c.cfg.GuildID, 10),
		UserID:                 strconv.FormatUint(c.cfg.UserID, 10),
		SessionID:              c.cfg.SessionID,
		Token:                  c.cfg.Token,
		MaxDAVEProtocolVersion: maxDAVE,
	})
}
