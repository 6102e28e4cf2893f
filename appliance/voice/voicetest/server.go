package voicetest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Transport encryption modes (discord-voice.md §2.3).
const (
	ModeAES256GCM         = "aead_aes256_gcm_rtpsize"
	ModeXChaCha20Poly1305 = "aead_xchacha20_poly1305_rtpsize"
)

// Options configure a Server. The zero value offers both modes, announces
// DAVE version 0 and heartbeats every second.
type Options struct {
	// Modes offered in Ready; default both, AES-GCM first.
	Modes []string
	// DAVEVersion is op 4's dave_protocol_version.
	DAVEVersion int
	// RequireDAVE closes with 4017 an Identify whose
	// max_dave_protocol_version is below 1, as Discord does since March 2026.
	RequireDAVE bool
	// Token, when set, is the only token accepted (else 4004).
	Token string
	// HeartbeatInterval sent in Hello; default 1 s.
	HeartbeatInterval time.Duration
	// TLS serves wss:// with a self-signed certificate; see ClientTLSConfig.
	TLS bool
	// SeqStart is the first sequence number of each session.
	SeqStart uint16
	// DiscardPCM keeps no decoded PCM (long benchmarks).
	DiscardPCM bool
	// SkipDecode does not decode Opus at all (load tests with many
	// clients); packets are still decrypted and checked.
	SkipDecode bool
	// DiscardPackets keeps no packets (load tests: a thousand clients
	// send 50,000 a second): they are still decrypted, checked, counted
	// (PacketCount) and shown to OnPayload, but Packets returns none.
	DiscardPackets bool
	// ReadBuffer, when positive, sets the UDP socket's receive buffer
	// (SO_RCVBUF, capped by net.core.rmem_max): many clients whose
	// packets arrive together overflow the default one.
	ReadBuffer int
	// PollUDP, when positive, reads the UDP socket by draining it every
	// PollUDP instead of blocking in Go's netpoller. A client on the same
	// machine then pays no wake-up of the server per packet inside its
	// send call (on loopback the sender runs the receive path, wake-up
	// included), which is what a load test measuring the client's CPU
	// wants; arrival times are only accurate to PollUDP.
	PollUDP time.Duration

	// OnClientOp sees every client op after the server handled it: JSON
	// ops with the raw "d", binary ops with the body after the opcode byte.
	OnClientOp func(s *Session, op int, payload []byte, binary bool)
	// OnPayload sees every transport-decrypted RTP payload.
	OnPayload func(s *Session, p Packet)
	// DecryptFrame turns a received non-silence payload into Opus (a DAVE
	// listener plugs in here); nil decodes the payload as Opus.
	DecryptFrame func(s *Session, payload []byte) ([]byte, error)
	// Logf defaults to the test's Logf.
	Logf func(format string, args ...any)
}

// Server is the fake voice server.
type Server struct {
	opts     Options
	http     *httptest.Server
	udp      udpSocket
	endpoint string
	upgrader *gws.Upgrader
	wg       sync.WaitGroup

	mu         sync.Mutex
	changed    chan struct{}
	sessions   []*Session
	bySSRC     map[uint32]*Session
	sockets    map[*gws.Conn]*socket
	violations []string
	identifies int
	resumes    int
	closed     bool
}

// New starts a server on loopback and registers Close with tb.Cleanup.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("voicetest: %v", err)
	}
	if s.opts.Logf == nil {
		s.opts.Logf = tb.Logf
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server on loopback; the caller closes it.
func Start(opts Options) (*Server, error) {
	if len(opts.Modes) == 0 {
		opts.Modes = []string{ModeAES256GCM, ModeXChaCha20Poly1305}
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	udp, err := listenUDP(opts.PollUDP, opts.ReadBuffer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		udp:     udp,
		changed: make(chan struct{}),
		bySSRC:  make(map[uint32]*Session),
		sockets: make(map[*gws.Conn]*socket),
	}
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{ReadMaxPayloadSize: 1 << 20})
	h := http.HandlerFunc(s.serveHTTP)
	s.http = httptest.NewUnstartedServer(h)
	s.http.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are tested
	if opts.TLS {
		s.http.StartTLS()
		s.endpoint = "wss://" + s.http.Listener.Addr().String()
	} else {
		s.http.Start()
		s.endpoint = "ws://" + s.http.Listener.Addr().String()
	}
	s.wg.Go(s.readUDP)
	return s, nil
}

// Endpoint is what a VOICE_SERVER_UPDATE would carry: ws://127.0.0.1:port
// (or wss://), without query.
func (s *Server) Endpoint() string { return s.endpoint }

// UDPAddr is the server's UDP address.
func (s *Server) UDPAddr() *net.UDPAddr { return s.udp.LocalAddr() }

// ClientTLSConfig trusts the server's self-signed certificate (TLS only).
func (s *Server) ClientTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	if c := s.http.Certificate(); c != nil {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool}
}

// CertificatePEM is the server's self-signed certificate (TLS only), e.g.
// for SSL_CERT_FILE.
func (s *Server) CertificatePEM() []byte {
	c := s.http.Certificate()
	if c == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Close closes every socket, the UDP socket and the HTTP server, and waits
// for their goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.sockets {
		_ = c.NetConn().Close()
	}
	s.mu.Unlock()
	_ = s.udp.Close()
	s.http.Close()
	s.wg.Wait()
}

// Session returns the latest session (nil before the first Identify).
func (s *Server) Session() *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) == 0 {
		return nil
	}
	return s.sessions[len(s.sessions)-1]
}

// SessionOf returns the latest session identified with server_id guildID
// (nil if none): one fake can serve many guilds.
func (s *Server) SessionOf(guildID string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range slices.Backward(s.sessions) {
		if ss.serverID == guildID {
			return ss
		}
	}
	return nil
}

// Sessions returns every session, oldest first.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sessions)
}

// Identifies and Resumes count accepted op 0 and op 7.
func (s *Server) Identifies() int { s.mu.Lock(); defer s.mu.Unlock(); return s.identifies }
func (s *Server) Resumes() int    { s.mu.Lock(); defer s.mu.Unlock(); return s.resumes }

// Violations returns everything the clients got wrong so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := slices.Clone(s.violations)
	for _, ss := range s.sessions {
		v = append(v, ss.lateViolations()...)
	}
	return v
}

// Wait blocks until cond holds or timeout passes, rechecking cond whenever
// the server's state changes; it reports whether cond held. cond may call
// any Server or Session method.
func (s *Server) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}

// notify wakes Wait; s.mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// violate records a violation; s.mu held.
func (s *Server) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.violations = append(s.violations, msg)
	s.opts.Logf("voicetest: violation: %s", msg)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("v"); v != "8" {
		http.Error(w, "voicetest: want ?v=8, got v="+v, http.StatusBadRequest)
		return
	}
	c, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.NetConn().Close()
		return
	}
	s.sockets[c] = &socket{conn: c}
	s.mu.Unlock()
	c.ReadLoop()
}

// socket is one client websocket.
type socket struct {
	conn *gws.Conn
	sess *Session // bound by Identify or Resume
}

// OnOpen sends Hello (§1.6).
func (s *Server) OnOpen(c *gws.Conn) {
	hello := fmt.Sprintf(`{"op":8,"d":{"heartbeat_interval":%g}}`, float64(s.opts.HeartbeatInterval)/float64(time.Millisecond))
	_ = c.WriteMessage(gws.OpcodeText, []byte(hello))
}

func (s *Server) OnClose(c *gws.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.sockets[c]; sk != nil && sk.sess != nil && sk.sess.ws == c {
		sk.sess.ws = nil
	}
	delete(s.sockets, c)
	s.notify()
}

func (s *Server) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (s *Server) OnPong(*gws.Conn, []byte)     {}

func (s *Server) OnMessage(c *gws.Conn, m *gws.Message) {
	data := append([]byte(nil), m.Bytes()...)
	bin := m.Opcode == gws.OpcodeBinary
	_ = m.Close()
	if bin {
		s.handleBinary(c, data)
		return
	}
	s.handleText(c, data)
}

func (s *Server) handleBinary(c *gws.Conn, data []byte) {
	s.mu.Lock()
	sk := s.sockets[c]
	if sk == nil || sk.sess == nil {
		s.violate("binary frame before identify")
		s.mu.Unlock()
		_ = c.WriteClose(4003, []byte("not authenticated"))
		return
	}
	if len(data) < 1 {
		s.violate("empty binary frame")
		s.mu.Unlock()
		_ = c.WriteClose(4002, []byte("decode error"))
		return
	}
	sess := sk.sess
	sess.ops = append(sess.ops, ClientOp{Op: int(data[0]), Payload: data[1:], Binary: true, At: time.Now()})
	s.notify()
	s.mu.Unlock()
	if s.opts.OnClientOp != nil {
		s.opts.OnClientOp(sess, int(data[0]), data[1:], true)
	}
}

// handleText runs the server side of the gateway (§1.5–1.8).
func (s *Server) handleText(c *gws.Conn, data []byte) {
	var f struct {
		Op *int            `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Op == nil {
		s.mu.Lock()
		s.violate("undecodable text frame %.80q", data)
		s.mu.Unlock()
		_ = c.WriteClose(4002, []byte("decode error"))
		return
	}
	op, d := *f.Op, []byte(f.D)

	s.mu.Lock()
	sk := s.sockets[c]
	if sk == nil {
		s.mu.Unlock()
		return
	}
	var closeCode int
	var closeReason string
	switch op {
	case 0:
		closeCode, closeReason = s.identify(sk, d)
	case 7:
		closeCode, closeReason = s.resume(sk, d)
	case 3:
		s.heartbeat(sk, d)
	default:
		if sk.sess == nil {
			s.violate("op %d before identify", op)
			closeCode, closeReason = 4003, "not authenticated"
			break
		}
		switch op {
		case 1:
			closeCode, closeReason = s.selectProtocol(sk.sess, d)
		case 5:
			s.speaking(sk.sess, d)
		}
	}
	sess := sk.sess
	if sess != nil {
		sess.ops = append(sess.ops, ClientOp{Op: op, Payload: d, At: time.Now()})
	}
	s.notify()
	s.mu.Unlock()
	if closeCode != 0 {
		_ = c.WriteClose(uint16(closeCode), []byte(closeReason))
		return
	}
	if sess != nil && s.opts.OnClientOp != nil {
		s.opts.OnClientOp(sess, op, d, false)
	}
}

func (s *Server) identify(sk *socket, d []byte) (int, string) {
	if sk.sess != nil {
		s.violate("second identify on one socket")
		return 4005, "already authenticated"
	}
	var id struct {
		ServerID  string `json:"server_id"`
		UserID    string `json:"user_id"`
		SessionID string `json:"session_id"`
		Token     string `json:"token"`
		MaxDAVE   *int   `json:"max_dave_protocol_version"`
	}
	if err := json.Unmarshal(d, &id); err != nil {
		s.violate("identify: %v", err)
		return 4002, "decode error"
	}
	if !snowflake(id.ServerID) || !snowflake(id.UserID) || id.SessionID == "" || id.Token == "" {
		s.violate("identify with missing fields: %s", d)
		return 4020, "bad request"
	}
	if s.opts.Token != "" && id.Token != s.opts.Token {
		return 4004, "authentication failed"
	}
	maxDAVE := 0
	if id.MaxDAVE != nil {
		maxDAVE = *id.MaxDAVE
	}
	if s.opts.RequireDAVE && maxDAVE < 1 {
		return 4017, "E2EE/DAVE protocol required"
	}
	sess := s.newSession(id.ServerID, id.UserID, id.SessionID, id.Token, maxDAVE)
	sess.ws = sk.conn
	sk.sess = sess
	s.identifies++
	sess.sendLocked(2, map[string]any{
		"ssrc": sess.ssrc, "ip": "127.0.0.1", "port": s.UDPAddr().Port,
		"modes": s.opts.Modes, "heartbeat_interval": 1,
	})
	return 0, ""
}

func (s *Server) resume(sk *socket, d []byte) (int, string) {
	var r struct {
		ServerID  string `json:"server_id"`
		SessionID string `json:"session_id"`
		Token     string `json:"token"`
		SeqAck    *int64 `json:"seq_ack"`
	}
	if err := json.Unmarshal(d, &r); err != nil {
		s.violate("resume: %v", err)
		return 4002, "decode error"
	}
	var sess *Session
	for _, ss := range slices.Backward(s.sessions) {
		if ss.sessionID == r.SessionID && ss.serverID == r.ServerID {
			sess = ss
			break
		}
	}
	if sess == nil || sess.token != r.Token {
		return 4006, "session no longer valid"
	}
	if r.SeqAck == nil {
		s.violate("resume without seq_ack")
		return 4020, "bad request"
	}
	from, ok := sess.replayFrom(*r.SeqAck)
	if !ok || sess.replayLost {
		sess.replayLost = false
		return 4006, "session no longer valid"
	}
	if old := sess.ws; old != nil && old != sk.conn {
		_ = old.NetConn().Close()
	}
	sess.ws = sk.conn
	sk.sess = sess
	sess.resumes++
	s.resumes++
	_ = sk.conn.WriteMessage(gws.OpcodeText, []byte(`{"op":9,"d":null}`))
	for _, m := range sess.log[from:] {
		sess.writeLocked(m)
	}
	sess.replayed += len(sess.log) - from
	return 0, ""
}

func (s *Server) heartbeat(sk *socket, d []byte) {
	var hb struct {
		T      json.RawMessage `json:"t"`
		SeqAck *int64          `json:"seq_ack"`
	}
	if err := json.Unmarshal(d, &hb); err != nil || len(hb.T) == 0 {
		s.violate("heartbeat %s: want {t, seq_ack}", d)
		return
	}
	if sess := sk.sess; sess != nil {
		sess.heartbeats++
		if hb.SeqAck != nil {
			if !sess.sent(*hb.SeqAck) {
				s.violate("heartbeat seq_ack %d was never sent (last %d)", *hb.SeqAck, sess.lastSeq())
			}
			sess.seqAck = *hb.SeqAck
		}
		if sess.dropACKs {
			return
		}
	}
	_ = sk.conn.WriteMessage(gws.OpcodeText, []byte(`{"op":6,"d":{"t":`+string(hb.T)+`}}`))
}

func (s *Server) selectProtocol(sess *Session, d []byte) (int, string) {
	var sp struct {
		Protocol string `json:"protocol"`
		Data     struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
			Mode    string `json:"mode"`
		} `json:"data"`
	}
	if err := json.Unmarshal(d, &sp); err != nil {
		s.violate("select protocol: %v", err)
		return 4002, "decode error"
	}
	if sp.Protocol != "udp" {
		s.violate("select protocol %q", sp.Protocol)
		return 4012, "unknown protocol"
	}
	if !slices.Contains(s.opts.Modes, sp.Data.Mode) {
		s.violate("mode %q not offered", sp.Data.Mode)
		return 4016, "unknown encryption mode"
	}
	if sess.discovered != nil && (sp.Data.Address != sess.discovered.IP.String() || sp.Data.Port != sess.discovered.Port) {
		s.violate("select protocol %s:%d, discovery said %s", sp.Data.Address, sp.Data.Port, sess.discovered)
	}
	aead, err := newAEAD(sp.Data.Mode, sess.key[:])
	if err != nil {
		return 4016, err.Error()
	}
	sess.mode, sess.aead = sp.Data.Mode, aead
	sess.nonceSet = false
	key := make([]int, len(sess.key))
	for i, b := range sess.key {
		key[i] = int(b)
	}
	sess.sendLocked(4, map[string]any{
		"mode": sp.Data.Mode, "secret_key": key,
		"dave_protocol_version": min(s.opts.DAVEVersion, sess.maxDAVE),
		"media_session_id":      "voicetest",
	})
	return 0, ""
}

func (s *Server) speaking(sess *Session, d []byte) {
	var sp struct {
		Speaking *int    `json:"speaking"`
		SSRC     *uint32 `json:"ssrc"`
	}
	if err := json.Unmarshal(d, &sp); err != nil || sp.Speaking == nil {
		s.violate("speaking %s", d)
		return
	}
	if sp.SSRC != nil && *sp.SSRC != sess.ssrc {
		s.violate("speaking with ssrc %d, ours is %d", *sp.SSRC, sess.ssrc)
	}
	on := *sp.Speaking != 0
	sess.speaking = append(sess.speaking, Speaking{On: on, Flags: *sp.Speaking, At: time.Now()})
	sess.speakingOn = on
}

func snowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// randomSSRC is a nonzero random SSRC.
func randomSSRC() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}
