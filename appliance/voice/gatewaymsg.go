package voice

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Voice gateway v8 opcodes (discord-voice.md §1.5).
const (
	opIdentify              = 0
	opSelectProtocol        = 1
	opReady                 = 2
	opHeartbeat             = 3
	opSessionDescription    = 4
	opSpeaking              = 5
	opHeartbeatACK          = 6
	opResume                = 7
	opHello                 = 8
	opResumed               = 9
	opClientsConnect        = 11
	opClientDisconnect      = 13
	opDAVEPrepareTransition = 21
	opDAVEExecuteTransition = 22
	opDAVEPrepareEpoch      = 24
	opDAVEExternalSender    = 25
	opDAVEProposals         = 27
	opDAVEAnnounceCommit    = 29
	opDAVEWelcome           = 30
)

// daveJSONOp reports whether a JSON op goes to E2EE.Handle.
func daveJSONOp(op int) bool {
	switch op {
	case opClientsConnect, opClientDisconnect, opDAVEPrepareTransition, opDAVEExecuteTransition, opDAVEPrepareEpoch:
		return true
	}
	return false
}

// daveBinaryOp reports whether a binary op goes to E2EE.Handle.
func daveBinaryOp(op int) bool {
	switch op {
	case opDAVEExternalSender, opDAVEProposals, opDAVEAnnounceCommit, opDAVEWelcome:
		return true
	}
	return false
}

// DAVEProtocolVersion is the max_dave_protocol_version offered in Identify
// when Config.NewE2EE is set (discord-voice.md §3.1).
const DAVEProtocolVersion = 1

// textFrame is a server text frame (§1.3): {"op": N, "d": {...}, "seq": M}.
// seq is present on messages the server may replay.
type textFrame struct {
	Op  *int            `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq"`
}

// parseText parses a server text frame. seq is -1 when the frame carries none.
func parseText(b []byte) (op int, d json.RawMessage, seq int64, err error) {
	var f textFrame
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, nil, -1, fmt.Errorf("%w: text frame: %v", ErrMalformed, err)
	}
	if f.Op == nil {
		return 0, nil, -1, fmt.Errorf("%w: text frame without op", ErrMalformed)
	}
	seq = -1
	if f.Seq != nil {
		if *f.Seq < 0 {
			return 0, nil, -1, fmt.Errorf("%w: negative seq %d", ErrMalformed, *f.Seq)
		}
		seq = *f.Seq
	}
	return *f.Op, f.D, seq, nil
}

// parseBinary parses a server binary frame (§1.3):
//
//	 0               1               2               3
//	+---------------+---------------+---------------+-------- - -
//	|   seq (uint16, big-endian)    |    opcode     | payload ...
//	+---------------+---------------+---------------+-------- - -
//
// The payload aliases b.
func parseBinary(b []byte) (seq uint16, op int, payload []byte, err error) {
	if len(b) < 3 {
		return 0, 0, nil, fmt.Errorf("%w: binary frame of %d bytes, want >= 3", ErrMalformed, len(b))
	}
	return binary.BigEndian.Uint16(b), int(b[2]), b[3:], nil
}

// maxHeartbeatInterval bounds what Hello may ask for; Discord sends ~13.75 s.
const maxHeartbeatInterval = 5 * time.Minute

// minHeartbeatInterval keeps a hostile or broken Hello from making us spin.
const minHeartbeatInterval = 10 * time.Millisecond

// parseHello parses op 8's d: {"heartbeat_interval": 13750.0} (ms, may be a float).
func parseHello(d []byte) (time.Duration, error) {
	var h struct {
		Interval *float64 `json:"heartbeat_interval"`
	}
	if err := json.Unmarshal(d, &h); err != nil {
		return 0, fmt.Errorf("%w: hello: %v", ErrMalformed, err)
	}
	if h.Interval == nil || math.IsNaN(*h.Interval) || *h.Interval <= 0 {
		return 0, fmt.Errorf("%w: hello: heartbeat_interval missing or not positive", ErrMalformed)
	}
	iv := time.Duration(*h.Interval * float64(time.Millisecond))
	if *h.Interval > float64(maxHeartbeatInterval/time.Millisecond) {
		iv = maxHeartbeatInterval
	}
	return max(iv, minHeartbeatInterval), nil
}

// ready is op 2's d. Its heartbeat_interval is bogus and ignored (§1.5).
type ready struct {
	SSRC  uint32
	Addr  netip.AddrPort // the voice server's UDP address
	Modes []string
}

func parseReady(d []byte) (ready, error) {
	var r struct {
		SSRC  *uint32  `json:"ssrc"`
		IP    string   `json:"ip"`
		Port  int      `json:"port"`
		Modes []string `json:"modes"`
	}
	if err := json.Unmarshal(d, &r); err != nil {
		return ready{}, fmt.Errorf("%w: ready: %v", ErrMalformed, err)
	}
	if r.SSRC == nil {
		return ready{}, fmt.Errorf("%w: ready without ssrc", ErrMalformed)
	}
	ip, err := netip.ParseAddr(r.IP)
	if err != nil {
		return ready{}, fmt.Errorf("%w: ready: ip %q: %v", ErrMalformed, r.IP, err)
	}
	if r.Port <= 0 || r.Port > 65535 {
		return ready{}, fmt.Errorf("%w: ready: port %d", ErrMalformed, r.Port)
	}
	return ready{SSRC: *r.SSRC, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(r.Port)), Modes: r.Modes}, nil
}

// sessionDescription is op 4's d. Extra fields are ignored (§1.5).
type sessionDescription struct {
	Mode        string
	Key         [32]byte
	DAVEVersion int
}

func parseSessionDescription(d []byte) (sessionDescription, error) {
	var s struct {
		Mode        string `json:"mode"`
		SecretKey   []int  `json:"secret_key"`
		DAVEVersion int    `json:"dave_protocol_version"`
	}
	if err := json.Unmarshal(d, &s); err != nil {
		return sessionDescription{}, fmt.Errorf("%w: session description: %v", ErrMalformed, err)
	}
	if len(s.SecretKey) != 32 {
		return sessionDescription{}, fmt.Errorf("%w: %d bytes, want 32", ErrBadKey, len(s.SecretKey))
	}
	if s.DAVEVersion < 0 || s.DAVEVersion > 255 {
		return sessionDescription{}, fmt.Errorf("%w: dave_protocol_version %d", ErrMalformed, s.DAVEVersion)
	}
	out := sessionDescription{Mode: s.Mode, DAVEVersion: s.DAVEVersion}
	for i, v := range s.SecretKey {
		if v < 0 || v > 255 {
			return sessionDescription{}, fmt.Errorf("%w: byte %d is %d", ErrBadKey, i, v)
		}
		out.Key[i] = byte(v)
	}
	return out, nil
}

// parseHeartbeatACK parses op 6's d: v8 {"t": nonce}; older servers sent the bare nonce.
func parseHeartbeatACK(d []byte) (int64, error) {
	var a struct {
		T *int64 `json:"t"`
	}
	if err := json.Unmarshal(d, &a); err == nil && a.T != nil {
		return *a.T, nil
	}
	d = bytes.TrimSpace(d)
	if t, err := strconv.ParseInt(string(d), 10, 64); err == nil {
		return t, nil
	}
	return 0, fmt.Errorf("%w: heartbeat ack %.40q", ErrMalformed, d)
}

// Client payloads (§1.5). Snowflakes are strings.

type identifyData struct {
	ServerID               string `json:"server_id"`
	UserID                 string `json:"user_id"`
	SessionID              string `json:"session_id"`
	Token                  string `json:"token"`
	MaxDAVEProtocolVersion int    `json:"max_dave_protocol_version"`
}

type resumeData struct {
	ServerID  string `json:"server_id"`
	SessionID string `json:"session_id"`
	Token     string `json:"token"`
	SeqAck    int64  `json:"seq_ack"`
}

type selectProtocolData struct {
	Protocol string             `json:"protocol"`
	Data     selectProtocolAddr `json:"data"`
}

type selectProtocolAddr struct {
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	Mode    string `json:"mode"`
}

type heartbeatData struct {
	T      int64 `json:"t"`
	SeqAck int64 `json:"seq_ack"`
}

type speakingData struct {
	Speaking int    `json:"speaking"`
	Delay    int    `json:"delay"`
	SSRC     uint32 `json:"ssrc"`
}

// marshalOp builds a client text frame {"op": op, "d": d}.
func marshalOp(op int, d any) ([]byte, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return wrapOp(op, raw), nil
}

// wrapOp wraps an already marshalled d.
func wrapOp(op int, d []byte) []byte {
	b := make([]byte, 0, len(d)+24)
	b = append(b, `{"op":`...)
	b = strconv.AppendInt(b, int64(op), 10)
	b = append(b, `,"d":`...)
	if len(d) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, d...)
	}
	return append(b, '}')
}
