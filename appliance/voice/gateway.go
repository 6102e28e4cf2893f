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
func (c *Conn) session(parent context.Context, st *voiceState, resume bool) (end sessionEnd) {
	attempted := actIdentify
	if resume {
		attempted = actResume
	}
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	h := &wsHandler{msgs: make(chan wsMessage, 16), quit: make(chan struct{}), closed: make(chan struct{})}
	ws, err := c.dial(ctx, h)
	if err != nil {
		return sessionEnd{act: attempted, err: err}
	}
	wg.Go(ws.ReadLoop)
	defer close(h.quit)
	c.setWS(ws)
	defer c.setWS(nil)

	// closeWith ends the socket from our side; the server keeps the
	// session for a resume unless the code is 1000 (§1.8).
	closeWith := func(code uint16) {
		_ = ws.SetWriteDeadline(time.Now().Add(time.Second))
		_ = ws.WriteClose(code, nil)
	}

	write := func(op int, d any) error {
		b, err := marshalOp(op, d)
		if err != nil {
			return err
		}
		return ws.WriteMessage(gws.OpcodeText, b)
	}

	// The send loop, when running.
	var (
		sendStop = func() {}
		sendDone chan error
	)
	defer func() { sendStop() }()
	startSending := func() {
		sendStop()
		sctx, scancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		var swg sync.WaitGroup
		loop := newSendLoop(&sendLoop{
			source: &c.source,
			pk:     st.pk,
			e2ee:   st.e2ee,
			write: func(pkt []byte) error {
				_, err := st.udp.Write(pkt)
				return err
			},
			speaking: func(on bool) error {
				flag := 0
				if on {
					flag = 1
				}
				return write(opSpeaking, speakingData{Speaking: flag, SSRC: st.pk.header.SSRC})
			},
			stats: &c.ctrs,
			log:   c.log,
		})
		swg.Go(func() { done <- loop.run(sctx) })
		sendDone = done
		sendStop = func() { scancel(); swg.Wait() }
	}

	if resume {
		c.ctrs.resumes.Add(1)
		err = write(opResume, resumeData{
			ServerID: strconv.FormatUint(c.cfg.GuildID, 10), SessionID: c.cfg.SessionID,
			Token: c.cfg.Token, SeqAck: st.seq,
		})
	} else {
		err = c.identify(st, write)
	}
	if err != nil {
		closeWith(4000)
		return sessionEnd{act: attempted, err: err}
	}

	handshake := time.NewTimer(c.cfg.HandshakeTimeout)
	defer handshake.Stop()
	var (
		heartbeat   *time.Ticker
		heartbeatC  <-chan time.Time
		awaitingACK bool
		missed      int
		lastT       int64
		lastSent    time.Time
		discovered  = make(chan discoveryResult, 1)
		live        bool
		readySeen   bool
	)
	defer func() {
		if heartbeat != nil {
			heartbeat.Stop()
		}
	}()

	for {
		select {
		case <-ctx.Done():
			sendStop()
			closeWith(1000)
			return sessionEnd{act: actStop, err: ctx.Err(), live: live}

		case <-h.closed:
			code, reason := 1006, ""
			var ce *gws.CloseError
			if errors.As(h.err, &ce) {
				code, reason = int(ce.Code), string(ce.Reason)
				if code == 0 {
					code = 1005
				}
			}
			act := closeAction(code)
			err := fmt.Errorf("voice: socket closed with %d (%s): %w", code, CloseCodeText(code), h.err)
			return sessionEnd{act: act, code: code, reason: reason, err: err, live: live}

		case <-handshake.C:
			if !live {
				closeWith(4000)
				return sessionEnd{act: attempted, err: ErrHandshakeTimeout}
			}

		case <-c.moved:
			closeWith(4000)
			return sessionEnd{act: actIdentify, err: errMoved, live: true}

		case err := <-sendDone:
			sendDone = nil
			if err != nil {
				// Only ErrNonceExhausted ends the loop: a new key is needed.
				closeWith(4000)
				return sessionEnd{act: actIdentify, err: err, live: true}
			}

		case <-heartbeatC:
			if awaitingACK {
				missed++
				if missed >= c.cfg.HeartbeatMisses {
					closeWith(4000)
					return sessionEnd{act: actResume, err: fmt.Errorf("%w: %d in a row", ErrHeartbeatLost, missed), live: live}
				}
			}
			lastT, lastSent = time.Now().UnixMilli(), time.Now()
			awaitingACK = true
			if err := write(opHeartbeat, heartbeatData{T: lastT, SeqAck: st.seq}); err != nil {
				c.log.Debug("voice: heartbeat not sent", "err", err)
			}

		case r := <-discovered:
			if r.err != nil {
				closeWith(4000)
				return sessionEnd{act: actIdentify, err: r.err}
			}
			err := write(opSelectProtocol, selectProtocolData{Protocol: "udp", Data: selectProtocolAddr{
				Address: r.addr.Addr().String(), Port: r.addr.Port(), Mode: st.mode,
			}})
			if err != nil {
				c.log.Debug("voice: select protocol not sent", "err", err)
			}

		case m := <-h.msgs:
			if m.binary {
				seq, op, body, err := parseBinary(m.data)
				if err != nil {
					c.log.Warn("voice: bad binary frame", "err", err)
					continue
				}
				st.seq = int64(seq)
				if daveBinaryOp(op) && st.e2ee != nil {
					if err := st.e2ee.Handle(op, body); err != nil {
						c.log.Warn("voice: E2EE failed to handle op", "op", op, "err", err)
					}
				}
				continue
			}
			op, d, seq, err := parseText(m.data)
			if err != nil {
				c.log.Warn("voice: bad text frame", "err", err)
				continue
			}
			if seq >= 0 {
				st.seq = seq
			}
			switch op {
			case opHello:
				iv, err := parseHello(d)
				if err != nil {
					c.log.Warn("voice: bad hello", "err", err)
					continue
				}
				if heartbeat == nil {
					heartbeat = time.NewTicker(iv)
				} else {
					heartbeat.Reset(iv)
				}
				heartbeatC = heartbeat.C

			case opHeartbeatACK:
				t, err := parseHeartbeatACK(d)
				if err != nil {
					c.log.Debug("voice: bad heartbeat ack", "err", err)
				}
				awaitingACK, missed = false, 0
				if err == nil && t == lastT {
					c.mu.Lock()
					c.ping = time.Since(lastSent)
					c.mu.Unlock()
				}

			case opReady:
				if resume || readySeen {
					c.log.Warn("voice: ready ignored", "resumed", resume)
					continue
				}
				readySeen = true
				r, err := parseReady(d)
				if err != nil {
					closeWith(4000)
					return sessionEnd{act: actIdentify, err: err}
				}
				mode, err := chooseMode(r.Modes)
				if err != nil {
					closeWith(1000)
					return sessionEnd{act: actStop, err: err, fatal: true}
				}
				if st.udp != nil {
					_ = st.udp.Close()
				}
				udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr))
				if err != nil {
					closeWith(4000)
					return sessionEnd{act: actIdentify, err: fmt.Errorf("voice: UDP to %s: %w", r.Addr, err)}
				}
				st.udp, st.ssrc, st.mode = udp, r.SSRC, mode
				wait := c.cfg.DiscoveryWait
				wg.Go(func() {
					addr, err := discover(ctx, udp, r.SSRC, wait)
					discovered <- discoveryResult{addr, err}
				})

			case opSessionDescription:
				if st.udp == nil {
					c.log.Warn("voice: session description before ready ignored")
					continue
				}
				sd, err := parseSessionDescription(d)
				if err != nil {
					closeWith(4000)
					return sessionEnd{act: actIdentify, err: err}
				}
				if sd.Mode != st.mode {
					if _, err := newAEAD(sd.Mode, sd.Key[:]); err != nil {
						closeWith(4000)
						return sessionEnd{act: actIdentify, err: err}
					}
					st.mode = sd.Mode
				}
				sendStop()
				pk, err := newPacketizer(st.mode, sd.Key[:], st.ssrc, uint16(rand.Uint32()), rand.Uint32(), 0)
				if err != nil {
					closeWith(4000)
					return sessionEnd{act: actIdentify, err: err}
				}
				st.pk, st.daveVersion = pk, sd.DAVEVersion
				if st.e2ee != nil {
					if err := st.e2ee.Start(sd.DAVEVersion); err != nil {
						c.log.Warn("voice: E2EE start failed", "version", sd.DAVEVersion, "err", err)
					}
				}
				live = true
				handshake.Stop()
				c.mu.Lock()
				c.ssrc, c.mode = st.ssrc, st.mode
				c.mu.Unlock()
				startSending()
				c.log.Info("voice: ready", "ssrc", st.ssrc, "mode", st.mode, "dave", sd.DAVEVersion)
				c.emit(Event{Kind: EventReady, SSRC: st.ssrc, Mode: st.mode, DAVEVersion: sd.DAVEVersion})

			case opResumed:
				if !resume {
					continue
				}
				if st.pk == nil || st.udp == nil {
					closeWith(4000)
					return sessionEnd{act: actIdentify, err: errors.New("voice: resumed a session that never got its description")}
				}
				live = true
				handshake.Stop()
				startSending()
				c.log.Info("voice: resumed", "seq_ack", st.seq)
				c.emit(Event{Kind: EventResumed, SSRC: st.ssrc, Mode: st.mode})

			default:
				if daveJSONOp(op) {
					if st.e2ee != nil {
						if err := st.e2ee.Handle(op, d); err != nil {
							c.log.Warn("voice: E2EE failed to handle op", "op", op, "err", err)
						}
					}
					continue
				}
				// Speaking from others and undocumented ops (12, 14, 15,
				// 16, 18, 20, ...) are ignored, never fatal (§1.5).
				c.log.Debug("voice: op ignored", "op", op)
			}
		}
	}
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
