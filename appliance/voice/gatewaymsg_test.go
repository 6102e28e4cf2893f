package voice

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseText(t *testing.T) {
	for _, tc := range []struct {
		in      string
		op      int
		d       string
		seq     int64
		wantErr bool
	}{
		{`{"op":8,"d":{"heartbeat_interval":13750}}`, 8, `{"heartbeat_interval":13750}`, -1, false},
		{`{"op":2,"d":{},"seq":65535}`, 2, `{}`, 65535, false},
		{`{"op":9,"d":null}`, 9, `null`, -1, false},
		{`{"op":16,"d":{"voice":"1"},"seq":7,"extra":true}`, 16, `{"voice":"1"}`, 7, false},
		{`{"d":{}}`, 0, "", -1, true},
		{`{"op":"2"}`, 0, "", -1, true},
		{`{"op":2,"seq":-1}`, 0, "", -1, true},
		{`[1]`, 0, "", -1, true},
		{``, 0, "", -1, true},
	} {
		op, d, seq, err := parseText([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseText(%s) error %v", tc.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("parseText(%s) = %v, want ErrMalformed", tc.in, err)
			}
			continue
		}
		if op != tc.op || string(d) != tc.d || seq != tc.seq {
			t.Errorf("parseText(%s) = %d %s %d", tc.in, op, d, seq)
		}
	}
}

func TestParseBinary(t *testing.T) {
	seq, op, body, err := parseBinary([]byte{0xFF, 0xFE, 25, 1, 2, 3})
	if err != nil || seq != 0xFFFE || op != 25 || string(body) != "\x01\x02\x03" {
		t.Errorf("parseBinary = %d %d % x %v", seq, op, body, err)
	}
	if _, op, body, err := parseBinary([]byte{0, 1, 30}); err != nil || op != 30 || len(body) != 0 {
		t.Errorf("empty body: %d % x %v", op, body, err)
	}
	for _, in := range [][]byte{nil, {1}, {1, 2}} {
		if _, _, _, err := parseBinary(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseBinary(% x) = %v", in, err)
		}
	}
}

func TestParseHello(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`{"heartbeat_interval":13750}`:   13750 * time.Millisecond,
		`{"heartbeat_interval":41250.5}`: 41250500 * time.Microsecond,
		`{"heartbeat_interval":1e12}`:    maxHeartbeatInterval,
		`{"heartbeat_interval":0.001}`:   minHeartbeatInterval,
	} {
		if got, err := parseHello([]byte(in)); err != nil || got != want {
			t.Errorf("parseHello(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{`{}`, `{"heartbeat_interval":0}`, `{"heartbeat_interval":-5}`, `{"heartbeat_interval":"5"}`, `null`, `5`} {
		if _, err := parseHello([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseHello(%s) = %v", in, err)
		}
	}
}

func TestParseReady(t *testing.T) {
	r, err := parseReady([]byte(`{"ssrc":4294967295,"ip":"203.0.113.7","port":50001,"modes":["aead_aes256_gcm_rtpsize"],"heartbeat_interval":1,"experiments":[]}`))
	if err != nil || r.SSRC != 1<<32-1 || r.Addr != netip.MustParseAddrPort("203.0.113.7:50001") || len(r.Modes) != 1 {
		t.Errorf("parseReady = %+v, %v", r, err)
	}
	for _, in := range []string{
		`{"ip":"1.2.3.4","port":1,"modes":[]}`,
		`{"ssrc":1,"ip":"host","port":1}`,
		`{"ssrc":1,"ip":"1.2.3.4","port":0}`,
		`{"ssrc":1,"ip":"1.2.3.4","port":65536}`,
		`{"ssrc":-1,"ip":"1.2.3.4","port":5}`,
	} {
		if _, err := parseReady([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseReady(%s) = %v", in, err)
		}
	}
}

func TestParseSessionDescription(t *testing.T) {
	key := make([]int, 32)
	for i := range key {
		key[i] = 255 - i
	}
	d, _ := json.Marshal(map[string]any{"mode": ModeAES256GCM, "secret_key": key, "dave_protocol_version": 1, "media_session_id": "x"})
	sd, err := parseSessionDescription(d)
	if err != nil || sd.Mode != ModeAES256GCM || sd.DAVEVersion != 1 || sd.Key[0] != 255 || sd.Key[31] != 224 {
		t.Errorf("parseSessionDescription = %+v, %v", sd, err)
	}
	for _, in := range []string{
		`{"mode":"m","secret_key":[1,2,3]}`,
		`{"mode":"m","secret_key":[` + strings.Repeat("256,", 31) + `256]}`,
		`{"mode":"m","secret_key":[` + strings.Repeat("-1,", 31) + `1]}`,
		`{"mode":"m"}`,
	} {
		if _, err := parseSessionDescription([]byte(in)); !errors.Is(err, ErrBadKey) {
			t.Errorf("parseSessionDescription(%s) = %v, want ErrBadKey", in, err)
		}
	}
}

func TestParseHeartbeatACK(t *testing.T) {
	for in, want := range map[string]int64{`{"t":1712}`: 1712, `1712`: 1712, ` 99 `: 99} {
		if got, err := parseHeartbeatACK([]byte(in)); err != nil || got != want {
			t.Errorf("parseHeartbeatACK(%s) = %d, %v", in, got, err)
		}
	}
	if _, err := parseHeartbeatACK([]byte(`{"x":1}`)); err == nil {
		t.Error("ack without t accepted")
	}
}

func TestWrapOp(t *testing.T) {
	if got := string(wrapOp(23, []byte(`{"transition_id":3}`))); got != `{"op":23,"d":{"transition_id":3}}` {
		t.Error(got)
	}
	if got := string(wrapOp(9, nil)); got != `{"op":9,"d":null}` {
		t.Error(got)
	}
	b, _ := marshalOp(opHeartbeat, heartbeatData{T: 5, SeqAck: -1})
	if string(b) != `{"op":3,"d":{"t":5,"seq_ack":-1}}` {
		t.Error(string(b))
	}
}

func discoveryResponseBytes(ip string, port uint16, ssrc uint32) []byte {
	b := make([]byte, discoveryLen)
	binary.BigEndian.PutUint16(b, discoveryResponse)
	binary.BigEndian.PutUint16(b[2:], discoveryBodyLen)
	binary.BigEndian.PutUint32(b[4:], ssrc)
	copy(b[8:72], ip)
	binary.BigEndian.PutUint16(b[72:], port)
	return b
}

func TestDiscovery(t *testing.T) {
	var req [discoveryLen]byte
	marshalDiscovery(&req, 0x01020304)
	if req[0] != 0 || req[1] != 1 || req[2] != 0 || req[3] != 70 || req[4] != 1 || req[7] != 4 {
		t.Errorf("request % x", req[:8])
	}
	addr, ssrc, err := parseDiscovery(discoveryResponseBytes("198.51.100.23", 61234, 77))
	if err != nil || addr != netip.MustParseAddrPort("198.51.100.23:61234") || ssrc != 77 {
		t.Errorf("parseDiscovery = %v %d %v", addr, ssrc, err)
	}
	if addr, _, err := parseDiscovery(discoveryResponseBytes("2001:db8::1", 5, 1)); err != nil || addr.Addr().String() != "2001:db8::1" {
		t.Errorf("IPv6: %v %v", addr, err)
	}
	bad := map[string][]byte{
		"short":     discoveryResponseBytes("1.2.3.4", 5, 1)[:73],
		"long":      append(discoveryResponseBytes("1.2.3.4", 5, 1), 0),
		"no NUL":    discoveryResponseBytes(strings.Repeat("1", 64), 5, 1),
		"empty":     discoveryResponseBytes("", 5, 1),
		"not an IP": discoveryResponseBytes("example.com", 5, 1),
		"port 0":    discoveryResponseBytes("1.2.3.4", 0, 1),
		"zone":      discoveryResponseBytes("fe80::1%eth0", 5, 1),
	}
	bad["request type"] = append([]byte(nil), bad["port 0"]...)
	binary.BigEndian.PutUint16(bad["request type"], discoveryRequest)
	binary.BigEndian.PutUint16(bad["request type"][72:], 5)
	bad["length"] = discoveryResponseBytes("1.2.3.4", 5, 1)
	bad["length"][3] = 71
	for name, b := range bad {
		if _, _, err := parseDiscovery(b); !errors.Is(err, ErrDiscovery) {
			t.Errorf("%s: %v, want ErrDiscovery", name, err)
		}
	}
}

// FuzzParseText feeds server text frames through every JSON parser.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		`{"op":8,"d":{"heartbeat_interval":13750.25}}`,
		`{"op":2,"d":{"ssrc":1,"ip":"127.0.0.1","port":5000,"modes":["aead_aes256_gcm_rtpsize"]},"seq":1}`,
		`{"op":4,"d":{"mode":"aead_aes256_gcm_rtpsize","secret_key":[1,2,3],"dave_protocol_version":1},"seq":2}`,
		`{"op":6,"d":{"t":123}}`,
		`{"op":9,"d":null}`,
		`{"op":21,"d":{"transition_id":1,"protocol_version":1},"seq":65535}`,
		`{"op":1e3}`, `{"op":null}`, `{}`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, d, seq, err := parseText(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if seq < -1 {
			t.Fatalf("seq %d", seq)
		}
		_ = op
		if iv, err := parseHello(d); err == nil && (iv < minHeartbeatInterval || iv > maxHeartbeatInterval) {
			t.Fatalf("interval %v out of bounds", iv)
		}
		if r, err := parseReady(d); err == nil && (!r.Addr.IsValid() || r.Addr.Port() == 0) {
			t.Fatalf("ready %+v", r)
		}
		if sd, err := parseSessionDescription(d); err == nil && (sd.DAVEVersion < 0 || sd.DAVEVersion > 255) {
			t.Fatalf("description %+v", sd)
		}
		_, _ = parseHeartbeatACK(d)
	})
}

func FuzzParseBinary(f *testing.F) {
	f.Add([]byte{0, 1, 25, 0x40, 0x41})
	f.Add([]byte{0xFF, 0xFF, 30, 0, 3})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, op, body, err := parseBinary(b)
		if err != nil {
			if len(b) >= 3 {
				t.Fatalf("rejected %d bytes", len(b))
			}
			return
		}
		if int(seq) != int(b[0])<<8|int(b[1]) || op != int(b[2]) || len(body) != len(b)-3 {
			t.Fatalf("parsed %d %d %d from % x", seq, op, len(body), b)
		}
	})
}

func FuzzParseDiscovery(f *testing.F) {
	f.Add(discoveryResponseBytes("127.0.0.1", 5000, 1))
	f.Add(discoveryResponseBytes("2001:db8::1", 1, 2))
	f.Add(discoveryResponseBytes("1.2.3.4\x00junk", 1, 2))
	f.Add([]byte{0, 2, 0, 70})
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, _, err := parseDiscovery(b)
		if err != nil {
			if !errors.Is(err, ErrDiscovery) {
				t.Fatalf("error %v does not wrap ErrDiscovery", err)
			}
			return
		}
		if len(b) != discoveryLen || !addr.IsValid() || addr.Port() == 0 || addr.Addr().Zone() != "" {
			t.Fatalf("accepted %v from % x", addr, b)
		}
	})
}

// TestDiscoverRetries: junk is skipped, a lost request is retried.
func TestDiscoverRetries(t *testing.T) {
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.DialUDP("udp", nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 100)
		for i := 0; ; i++ {
			n, from, err := peer.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n != discoveryLen || i == 0 {
				continue // the first request is "lost"
			}
			_, _ = peer.WriteToUDP([]byte("junk"), from)
			_, _ = peer.WriteToUDP(discoveryResponseBytes("192.0.2.9", 4242, 1), from)
			return
		}
	}()
	addr, err := discover(t.Context(), conn, 1, 100*time.Millisecond)
	if err != nil || addr != netip.MustParseAddrPort("192.0.2.9:4242") {
		t.Fatalf("discover = %v, %v", addr, err)
	}
	<-done

	// Nobody answers: ErrDiscovery after the attempts; a cancelled
	// context ends it at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := discover(ctx, conn, 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled discover = %v", err)
	}
	if _, err := discover(t.Context(), conn, 1, 10*time.Millisecond); !errors.Is(err, ErrDiscovery) {
		t.Errorf("unanswered discover = %v", err)
	}
}
