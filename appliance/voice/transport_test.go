package voice

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
)

func BenchmarkSeal(b *testing.B) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(mode, func(b *testing.B) {
			key := make([]byte, 32)
			rand.Read(key)
			p, err := newPacketizer(mode, key, 1234, 0, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 160)
			buf := make([]byte, 0, maxPacket)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := p.seal(buf[:0], payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPacketizerWrap: sequence numbers wrap at 2^16, timestamps at 2^32,
// the nonce counter at 2^32, each by exactly +1 / +960 / +1.
func TestPacketizerWrap(t *testing.T) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		key := bytes.Repeat([]byte{3}, 32)
		p, err := newPacketizer(mode, key, 0xCAFE, 65534, 1<<32-960*2, 1<<32-2)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := newAEAD(mode, key)
		wantSeq := []uint16{65534, 65535, 0, 1}
		wantTS := []uint32{1<<32 - 1920, 1<<32 - 960, 0, 960}
		wantNonce := []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}
		for i := range 4 {
			payload := []byte{byte(i), 0xFC, 0xFF}
			pkt, err := p.seal(nil, payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) != 12+len(payload)+16+4 || pkt[0] != 0x80 || pkt[1] != 0x78 {
				t.Fatalf("%s: header % x, len %d", mode, pkt[:2], len(pkt))
			}
			seq, ts := binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[4:])
			ssrc, nonce := binary.BigEndian.Uint32(pkt[8:]), binary.BigEndian.Uint32(pkt[len(pkt)-4:])
			if seq != wantSeq[i] || ts != wantTS[i] || nonce != wantNonce[i] || ssrc != 0xCAFE {
				t.Errorf("%s packet %d: seq %d ts %d nonce %d ssrc %#x", mode, i, seq, ts, nonce, ssrc)
			}
			n := make([]byte, a.NonceSize())
			copy(n, pkt[len(pkt)-4:])
			got, err := a.Open(nil, n, pkt[12:len(pkt)-4], pkt[:12])
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("%s packet %d: open = % x, %v", mode, i, got, err)
			}
		}
	}
}

// TestPacketizerExhausted: after 2^32 packets under one key the next
// nonce would repeat; seal refuses.
func TestPacketizerExhausted(t *testing.T) {
	p, err := newPacketizer(ModeAES256GCM, make([]byte, 32), 1, 0, 0, 12345)
	if err != nil {
		t.Fatal(err)
	}
	p.sealed = nonceSpace - 1 // as if 2^32-1 packets went out
	if _, err := p.seal(nil, []byte{1}); err != nil {
		t.Fatalf("last nonce: %v", err)
	}
	if _, err := p.seal(nil, []byte{1}); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("nonce 2^32+1: %v, want ErrNonceExhausted", err)
	}
	if _, err := p.seal(nil, make([]byte, maxPayload+1)); err == nil {
		t.Fatal("oversized payload accepted")
	}
}

func TestChooseMode(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
	}{
		{[]string{"xsalsa20_poly1305", ModeXChaCha20Poly1305, ModeAES256GCM}, ModeAES256GCM},
		{[]string{ModeXChaCha20Poly1305, "aead_aes256_gcm"}, ModeXChaCha20Poly1305},
		{[]string{"aead_aes256_gcm", "xsalsa20_poly1305_lite_rtpsize"}, ""},
		{nil, ""},
	} {
		got, err := chooseMode(tc.offered)
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrNoMode) {
			t.Errorf("chooseMode(%q) = %q, %v", tc.offered, got, err)
		}
	}
}

// BenchmarkSlot is one grid slot of the send path: frame from the source,
// E2EE passthrough, RTP, AEAD, UDP write to a loopback socket.
func BenchmarkSlot(b *testing.B) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(mode, func(b *testing.B) {
			sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			udp, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer udp.Close()
			go func() {
				buf := make([]byte, 2048)
				for {
					if _, err := sink.Read(buf); err != nil {
						return
					}
				}
			}()
			pk, _ := newPacketizer(mode, testKey, 1, 0, 0, 0)
			var src FrameSource = constSource(160)
			var p atomic.Pointer[FrameSource]
			p.Store(&src)
			l := newSendLoop(&sendLoop{
				source: &p, pk: pk, e2ee: passE2EE{}, stats: &counters{}, log: slog.New(slog.DiscardHandler),
				write:    func(pkt []byte) error { _, err := udp.Write(pkt); return err },
				speaking: func(bool) error { return nil },
			})
			b.ReportAllocs()
			for b.Loop() {
				if err := l.slot(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type constSource int

func (n constSource) NextFrame(buf []byte) int { return int(n) }

// passE2EE is DAVE in passthrough: it copies the frame into dst.
type passE2EE struct{}

func (passE2EE) Start(int) error          { return nil }
func (passE2EE) Handle(int, []byte) error { return nil }
func (passE2EE) EncryptOpus(dst, opus []byte) ([]byte, error) {
	return append(dst, opus...), nil
}
