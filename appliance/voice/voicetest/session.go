package voicetest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"crypto/cipher"
	"github.com/hraban/opus"
	"github.com/lxzan/gws"
)

// Packet is one RTP packet the server received and decrypted.
type Packet struct {
	SSRC      uint32
	Seq       uint16
	Timestamp uint32
	Nonce     uint32    // the transport counter
	Payload   []byte    // transport-decrypted RTP payload (DAVE frame or Opus)
	Arrival   time.Time // when the server read it
	Silence   bool      // Payload is F8 FF FE
}

// ClientOp is one op the client sent on the gateway.
type ClientOp struct {
	Op      int
	Payload []byte // JSON "d", or the binary body after the opcode byte
	Binary  bool
	At      time.Time
}

// Speaking is one op 5 the client sent.
type Speaking struct {
	On    bool
	Flags int
	At    time.Time
}

// numbered is a replayable server message.
type numbered struct {
	seq    uint16
	binary bool
	frame  []byte
}

// Session is one voice session: from an Identify to the next Identify
// with a new key. All its methods are safe from any goroutine.
type Session struct {
	srv                                *Server
	serverID, userID, sessionID, token string
	maxDAVE                            int
	ssrc                               uint32
	key                                [32]byte

	// guarded by srv.mu
	ws         *gws.Conn
	log        []numbered
	nextSeq    uint16
	seqAck     int64
	heartbeats int
	dropACKs   bool
	replayLost bool
	resumes    int
	replayed   int
	ops        []ClientOp
	speaking   []Speaking
	speakingOn bool
	discovered *net.UDPAddr

	mode     string
	aead     cipher.AEAD
	packets  []Packet
	received int
	pcm      []int16
	silence  int
	decoded  int
	dec      *opus.Decoder
	decBuf   []int16
	nonceSet bool
	last     Packet
	firstPkt time.Time
}

func (s *Server) newSession(serverID, userID, sessionID, token string, maxDAVE int) *Session {
	ss := &Session{
		srv: s, serverID: serverID, userID: userID, sessionID: sessionID, token: token,
		maxDAVE: maxDAVE, ssrc: randomSSRC(), nextSeq: s.opts.SeqStart, seqAck: -1,
	}
	for {
		if _, ok := s.bySSRC[ss.ssrc]; !ok {
			break
		}
		ss.ssrc = randomSSRC()
	}
	_, _ = rand.Read(ss.key[:])
	s.sessions = append(s.sessions, ss)
	s.bySSRC[ss.ssrc] = ss
	return ss
}

// SSRC is the session's SSRC from Ready.
func (ss *Session) SSRC() uint32 { return ss.ssrc }

// Key is the session's transport key.
func (ss *Session) Key() [32]byte { return ss.key }

// UserID, SessionID and ServerID are what Identify carried.
func (ss *Session) UserID() string    { return ss.userID }
func (ss *Session) SessionID() string { return ss.sessionID }
func (ss *Session) ServerID() string  { return ss.serverID }

// MaxDAVE is Identify's max_dave_protocol_version.
func (ss *Session) MaxDAVE() int { return ss.maxDAVE }

func (ss *Session) lock() func() { ss.srv.mu.Lock(); return ss.srv.mu.Unlock }

// Mode is the transport mode the client selected ("" before op 1).
func (ss *Session) Mode() string { defer ss.lock()(); return ss.mode }

// Connected reports whether a socket is bound to the session.
func (ss *Session) Connected() bool { defer ss.lock()(); return ss.ws != nil }

// Packets returns the packets received so far (their payloads alias the server's).
func (ss *Session) Packets() []Packet { defer ss.lock()(); return slices.Clone(ss.packets) }

// PacketCount is how many packets were received (len(Packets()) without
// the copy, unless Options.DiscardPackets).
func (ss *Session) PacketCount() int { defer ss.lock()(); return ss.received }

// PCM returns the decoded audio so far: 48 kHz stereo, interleaved.
func (ss *Session) PCM() []int16 { defer ss.lock()(); return slices.Clone(ss.pcm) }

// Decoded counts the Opus frames decoded; SilenceFrames the F8 FF FE packets.
func (ss *Session) Decoded() int       { defer ss.lock()(); return ss.decoded }
func (ss *Session) SilenceFrames() int { defer ss.lock()(); return ss.silence }

// Speaking returns the op 5 messages received.
func (ss *Session) Speaking() []Speaking { defer ss.lock()(); return slices.Clone(ss.speaking) }

// ClientOps returns every op the client sent on this session.
func (ss *Session) ClientOps() []ClientOp { defer ss.lock()(); return slices.Clone(ss.ops) }

// Heartbeats counts heartbeats; SeqAck is the last seq_ack (-1 none).
func (ss *Session) Heartbeats() int { defer ss.lock()(); return ss.heartbeats }
func (ss *Session) SeqAck() int64   { defer ss.lock()(); return ss.seqAck }

// LastSeq is the last sequence number sent (-1 none).
func (ss *Session) LastSeq() int64 { defer ss.lock()(); return ss.lastSeq() }

// Resumes counts accepted resumes; Replayed the messages replayed by them.
func (ss *Session) Resumes() int  { defer ss.lock()(); return ss.resumes }
func (ss *Session) Replayed() int { defer ss.lock()(); return ss.replayed }

// DropHeartbeatACKs stops (or restarts) answering heartbeats.
func (ss *Session) DropHeartbeatACKs(drop bool) { defer ss.lock()(); ss.dropACKs = drop }

// LoseReplayBuffer makes the next resume fail with 4006, as when the
// server can no longer replay what the client missed (§1.8).
func (ss *Session) LoseReplayBuffer() { defer ss.lock()(); ss.replayLost = true }

// CloseWith closes the bound socket with a close code (4006, 4014, 4015, ...).
func (ss *Session) CloseWith(code int, reason string) {
	ss.srv.mu.Lock()
	ws := ss.ws
	ss.srv.mu.Unlock()
	if ws != nil {
		_ = ws.WriteClose(uint16(code), []byte(reason))
	}
}

// Drop cuts the bound socket's TCP connection without a close frame.
func (ss *Session) Drop() {
	ss.srv.mu.Lock()
	ws := ss.ws
	ss.srv.mu.Unlock()
	if ws != nil {
		_ = ws.NetConn().Close()
	}
}

// SendJSON sends {"op": op, "d": d, "seq": n} numbered; d may be
// json.RawMessage. Without a bound socket it is kept for replay.
func (ss *Session) SendJSON(op int, d any) error {
	defer ss.lock()()
	return ss.sendLocked(op, d)
}

// SendBinary sends seq (uint16 BE) ‖ op ‖ payload numbered.
func (ss *Session) SendBinary(op int, payload []byte) error {
	defer ss.lock()()
	frame := make([]byte, 3, 3+len(payload))
	binary.BigEndian.PutUint16(frame, ss.nextSeq)
	frame[2] = byte(op)
	frame = append(frame, payload...)
	m := numbered{seq: ss.nextSeq, binary: true, frame: frame}
	ss.nextSeq++
	ss.log = append(ss.log, m)
	return ss.writeLocked(m)
}

// SendUnnumbered sends a JSON op without seq (as Hello or Resumed are).
func (ss *Session) SendUnnumbered(op int, d any) error {
	defer ss.lock()()
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if ss.ws == nil {
		return errors.New("voicetest: no socket")
	}
	return ss.ws.WriteMessage(gws.OpcodeText, []byte(`{"op":`+strconv.Itoa(op)+`,"d":`+string(raw)+`}`))
}

func (ss *Session) sendLocked(op int, d any) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	frame := []byte(`{"op":` + strconv.Itoa(op) + `,"d":` + string(raw) + `,"seq":` + strconv.Itoa(int(ss.nextSeq)) + `}`)
	m := numbered{seq: ss.nextSeq, frame: frame}
	ss.nextSeq++
	ss.log = append(ss.log, m)
	return ss.writeLocked(m)
}

func (ss *Session) writeLocked(m numbered) error {
	if ss.ws == nil {
		return nil // kept for replay
	}
	op := gws.OpcodeText
	if m.binary {
		op = gws.OpcodeBinary
	}
	return ss.ws.WriteMessage(op, m.frame)
}

func (ss *Session) lastSeq() int64 {
	if len(ss.log) == 0 {
		return -1
	}
	return int64(ss.log[len(ss.log)-1].seq)
}

// sent reports whether seq_ack names a message sent in this session.
func (ss *Session) sent(seqAck int64) bool {
	if seqAck == -1 {
		return true
	}
	for _, m := range slices.Backward(ss.log) {
		if int64(m.seq) == seqAck {
			return true
		}
	}
	return false
}

// replayFrom returns the index of the first message after seqAck.
func (ss *Session) replayFrom(seqAck int64) (int, bool) {
	if seqAck == -1 {
		return 0, true
	}
	for i, m := range slices.Backward(ss.log) {
		if int64(m.seq) == seqAck {
			return i + 1, true
		}
	}
	return 0, len(ss.log) == 0
}

// speakingGrace is how long after the first audio packet Speaking may
// still arrive: the websocket and UDP are read by different goroutines,
// so their order at the server says little on a loaded machine. The
// client's own order is tested where time is fake (voice's send loop).
const speakingGrace = time.Second

// lateViolations are checks made when asked: audio without Speaking.
func (ss *Session) lateViolations() []string {
	if ss.firstPkt.IsZero() {
		return nil
	}
	for _, sp := range ss.speaking {
		if sp.On {
			if sp.At.After(ss.firstPkt.Add(speakingGrace)) {
				return []string{fmt.Sprintf("ssrc %d: speaking %v after the first packet", ss.ssrc, sp.At.Sub(ss.firstPkt))}
			}
			return nil
		}
	}
	if time.Since(ss.firstPkt) < speakingGrace && ss.ws != nil {
		return nil // may still come
	}
	return []string{fmt.Sprintf("ssrc %d: audio without speaking", ss.ssrc)}
}
