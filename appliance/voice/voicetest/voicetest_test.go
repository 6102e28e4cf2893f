package voicetest

import (
	"crypto/cipher"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// dialRaw opens a raw websocket to srv and identifies.
type rawClient struct {
	gws.BuiltinEventHandler
	msgs   chan []byte
	closed chan int // close code from the server, 0 without one
}

func (r *rawClient) OnClose(_ *gws.Conn, err error) {
	code := 0
	if ce, ok := err.(*gws.CloseError); ok {
		code = int(ce.Code)
	}
	select {
	case r.closed <- code:
	default:
	}
}

func (r *rawClient) closeCode(t *testing.T) int {
	t.Helper()
	select {
	case m := <-r.msgs:
		t.Errorf("answered %s", m)
		return r.closeCode(t)
	case code := <-r.closed:
		return code
	case <-time.After(5 * time.Second):
		t.Fatal("not closed")
		return 0
	}
}

func (r *rawClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	r.msgs <- append([]byte(nil), m.Bytes()...)
	_ = m.Close()
}

func dialRaw(t *testing.T, srv *Server) (*gws.Conn, *rawClient) {
	t.Helper()
	rc := &rawClient{msgs: make(chan []byte, 64), closed: make(chan int, 1)}
	c, _, err := gws.NewClient(rc, &gws.ClientOption{Addr: srv.Endpoint() + "/?v=8"})
	if err != nil {
		t.Fatal(err)
	}
	go c.ReadLoop()
	t.Cleanup(func() { _ = c.NetConn().Close() })
	return c, rc
}

func (r *rawClient) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return string(m)
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

// TestHandshakeAndPackets drives the server by hand: Hello, Ready,
// discovery, Session Description, then packets it must accept or flag.
func TestHandshakeAndPackets(t *testing.T) {
	srv := New(t, Options{Modes: []string{ModeXChaCha20Poly1305}, SeqStart: 65535})
	c, rc := dialRaw(t, srv)
	if m := rc.next(t); !strings.HasPrefix(m, `{"op":8,"d":{"heartbeat_interval":1000}`) {
		t.Fatalf("hello %s", m)
	}
	_ = c.WriteString(`{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"s","token":"t","max_dave_protocol_version":1}}`)
	if m := rc.next(t); !strings.Contains(m, `"op":2`) || !strings.HasSuffix(m, `"seq":65535}`) {
		t.Fatalf("ready %s", m)
	}
	ss := srv.Session()

	udp, err := net.DialUDP("udp", nil, srv.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	req := make([]byte, 74)
	binary.BigEndian.PutUint16(req, 1)
	binary.BigEndian.PutUint16(req[2:], 70)
	binary.BigEndian.PutUint32(req[4:], ss.SSRC())
	_, _ = udp.Write(req)
	resp := make([]byte, 100)
	_ = udp.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := udp.Read(resp)
	if err != nil || n != 74 || binary.BigEndian.Uint16(resp) != 2 || binary.BigEndian.Uint32(resp[4:]) != ss.SSRC() {
		t.Fatalf("discovery response % x (%v)", resp[:n], err)
	}
	local := udp.LocalAddr().(*net.UDPAddr)
	if ip := strings.TrimRight(string(resp[8:72]), "\x00"); ip != "127.0.0.1" || int(binary.BigEndian.Uint16(resp[72:])) != local.Port {
		t.Fatalf("discovery says %s:%d, want %s", ip, binary.BigEndian.Uint16(resp[72:]), local)
	}

	_ = c.WriteString(`{"op":1,"d":{"protocol":"udp","data":{"address":"127.0.0.1","port":` + itoa(local.Port) + `,"mode":"` + ModeXChaCha20Poly1305 + `"}}}`)
	if m := rc.next(t); !strings.Contains(m, `"op":4`) || !strings.HasSuffix(m, `"seq":0}`) {
		t.Fatalf("session description %s", m)
	}
	_ = c.WriteString(`{"op":5,"d":{"speaking":1,"delay":0,"ssrc":` + itoa(int(ss.SSRC())) + `}}`)
	_ = c.WriteString(`{"op":3,"d":{"t":1,"seq_ack":0}}`)
	if m := rc.next(t); m != `{"op":6,"d":{"t":1}}` {
		t.Fatalf("ack %s", m)
	}

	key := ss.Key()
	aead, _ := newAEAD(ModeXChaCha20Poly1305, key[:])
	send := func(seq uint16, ts, nonce uint32, payload []byte, mutate func([]byte)) {
		pkt := seal(aead, ss.SSRC(), seq, ts, nonce, payload)
		if mutate != nil {
			mutate(pkt)
		}
		_, _ = udp.Write(pkt)
	}
	send(65535, 1<<32-960, 1<<32-1, silenceFrame, nil)
	send(0, 0, 0, silenceFrame, nil)
	send(1, 960, 1, silenceFrame, func(p []byte) { p[len(p)-6] ^= 1 }) // bad tag
	send(2, 960*2, 2, silenceFrame, func(p []byte) { p[1] = 0x60 })    // bad payload type
	send(3, 960*4, 3, silenceFrame, nil)                               // seq jumps: violation
	if !srv.Wait(5*time.Second, func() bool { return ss.PacketCount() == 3 && len(srv.Violations()) >= 3 }) {
		t.Fatalf("packets %d violations %q", ss.PacketCount(), srv.Violations())
	}
	want := []string{"does not decrypt", "payload type 0x60", "seq 3 after 0"}
	v := strings.Join(srv.Violations(), "\n")
	for _, w := range want {
		if !strings.Contains(v, w) {
			t.Errorf("violations %q lack %q", v, w)
		}
	}
	if ss.SilenceFrames() != 3 || ss.Mode() != ModeXChaCha20Poly1305 {
		t.Errorf("silence %d mode %s", ss.SilenceFrames(), ss.Mode())
	}
}

// TestReplay: resume replays exactly what follows seq_ack, across the
// uint16 wrap; an unknown seq_ack or a lost buffer gets 4006.
func TestReplay(t *testing.T) {
	srv := New(t, Options{SeqStart: 65534})
	c, rc := dialRaw(t, srv)
	rc.next(t)
	_ = c.WriteString(`{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"s","token":"t"}}`)
	rc.next(t) // ready, seq 65534
	ss := srv.Session()
	_ = ss.SendJSON(11, map[string]any{"user_ids": []string{"5"}}) // 65535
	_ = ss.SendBinary(25, []byte{1, 2})                            // 0
	rc.next(t)
	rc.next(t)
	_ = c.NetConn().Close()
	srv.Wait(5*time.Second, func() bool { return !ss.Connected() })
	_ = ss.SendJSON(13, map[string]any{"user_id": "5"}) // 1, kept for replay

	c2, rc2 := dialRaw(t, srv)
	rc2.next(t)
	_ = c2.WriteString(`{"op":7,"d":{"server_id":"1","session_id":"s","token":"t","seq_ack":65535}}`)
	if m := rc2.next(t); m != `{"op":9,"d":null}` {
		t.Fatalf("resumed %s", m)
	}
	if m := rc2.next(t); m != "\x00\x00\x19\x01\x02" {
		t.Fatalf("replay 1 %q", m)
	}
	if m := rc2.next(t); m != `{"op":13,"d":{"user_id":"5"},"seq":1}` {
		t.Fatalf("replay 2 %s", m)
	}

	for _, tc := range []struct{ d string }{
		{`{"server_id":"1","session_id":"s","token":"t","seq_ack":40000}`}, // never sent
		{`{"server_id":"1","session_id":"other","token":"t","seq_ack":1}`}, // unknown session
		{`{"server_id":"1","session_id":"s","token":"bad","seq_ack":1}`},   // wrong token
	} {
		c3, rc3 := dialRaw(t, srv)
		rc3.next(t)
		_ = c3.WriteString(`{"op":7,"d":` + tc.d + `}`)
		if code := rc3.closeCode(t); code != 4006 {
			t.Errorf("resume %s: closed with %d, want 4006", tc.d, code)
		}
	}
	ss.LoseReplayBuffer()
	c4, rc4 := dialRaw(t, srv)
	rc4.next(t)
	_ = c4.WriteString(`{"op":7,"d":{"server_id":"1","session_id":"s","token":"t","seq_ack":1}}`)
	if code := rc4.closeCode(t); code != 4006 {
		t.Errorf("resume after a lost buffer: closed with %d, want 4006", code)
	}
	if ss.Resumes() != 1 {
		t.Errorf("resumes %d", ss.Resumes())
	}
}

func seal(aead cipher.AEAD, ssrc uint32, seq uint16, ts, nonce uint32, payload []byte) []byte {
	hdr := make([]byte, 12)
	hdr[0], hdr[1] = 0x80, 0x78
	binary.BigEndian.PutUint16(hdr[2:], seq)
	binary.BigEndian.PutUint32(hdr[4:], ts)
	binary.BigEndian.PutUint32(hdr[8:], ssrc)
	n := make([]byte, aead.NonceSize())
	binary.BigEndian.PutUint32(n, nonce)
	pkt := aead.Seal(append([]byte(nil), hdr...), n, payload, hdr)
	return binary.BigEndian.AppendUint32(pkt, nonce)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLevel(t *testing.T) {
	tone, err := NewTone(1000, 0.5, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4000)
	if n := tone.NextFrame(buf); n == 0 || tone.NextFrame(buf) != 0 {
		t.Fatal("tone of one frame")
	}
	if l := Level(tone.pcm, 1000); l < 0.45 || l > 0.55 {
		t.Errorf("level of a 0.5 sine: %v", l)
	}
	if l := Level(tone.pcm, 3000); l > 0.05 {
		t.Errorf("level at another frequency: %v", l)
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(append([]byte{0x90, 0x78}, make([]byte, 40)...))
	f.Add(append([]byte{0x8F, 0x78}, make([]byte, 90)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, aad, ct, err := parseRTP(b)
		if err != nil {
			return
		}
		if len(aad) < 12 || len(ct) < 16 || len(aad)+len(ct)+4 != len(b) || b[1]&0x7F != 0x78 || p.Nonce != binary.BigEndian.Uint32(b[len(b)-4:]) {
			t.Fatalf("accepted % x", b)
		}
	})
}
