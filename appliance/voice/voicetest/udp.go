package voicetest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hraban/opus"
	"golang.org/x/crypto/chacha20poly1305"
)

func newAEAD(mode string, key []byte) (cipher.AEAD, error) {
	switch mode {
	case ModeAES256GCM:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	case ModeXChaCha20Poly1305:
		return chacha20poly1305.NewX(key)
	}
	return nil, fmt.Errorf("voicetest: unknown mode %q", mode)
}

var silenceFrame = []byte{0xF8, 0xFF, 0xFE}

// readUDP answers IP discovery and takes in RTP until the socket closes.
func (s *Server) readUDP() {
	buf := make([]byte, 65536)
	for {
		n, from, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		arrival := time.Now()
		b := buf[:n]
		switch {
		case n == 74 && binary.BigEndian.Uint16(b) == 1:
			s.discovery(b, from)
		case n == 8:
			// @discordjs/voice keep-alive: ignored (§2.1).
		default:
			s.rtp(append([]byte(nil), b...), arrival)
		}
	}
}

// discovery answers a 74-byte request (§2.1).
func (s *Server) discovery(req []byte, from *net.UDPAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ssrc := binary.BigEndian.Uint32(req[4:])
	if binary.BigEndian.Uint16(req[2:]) != 70 || !bytes.Equal(req[8:], make([]byte, 66)) {
		s.violate("malformed discovery request % x", req)
	}
	ss := s.bySSRC[ssrc]
	if ss == nil {
		s.violate("discovery for unknown ssrc %d", ssrc)
	} else {
		ss.discovered = from
	}
	resp := make([]byte, 74)
	binary.BigEndian.PutUint16(resp, 2)
	binary.BigEndian.PutUint16(resp[2:], 70)
	binary.BigEndian.PutUint32(resp[4:], ssrc)
	copy(resp[8:72], from.IP.String())
	binary.BigEndian.PutUint16(resp[72:], uint16(from.Port))
	_, _ = s.udp.WriteToUDP(resp, from)
}

// rtp decrypts and checks one packet (§2.2, §2.3):
//
//	| RTP header (12 + 4·CC [+ 4 if X], = AAD) | ciphertext | tag 16 | nonce 4 (BE) |
//
// With X set, the first 4·len bytes of the plaintext are the extension
// body; with P set, the plaintext ends in padding.
func (s *Server) rtp(b []byte, arrival time.Time) {
	p, aad, ct, err := parseRTP(b)
	s.mu.Lock()
	if err != nil {
		s.violate("%v", err)
		s.mu.Unlock()
		return
	}
	ss := s.bySSRC[p.SSRC]
	if ss == nil || ss.aead == nil {
		s.violate("packet for ssrc %d without session description", p.SSRC)
		s.mu.Unlock()
		return
	}
	nonce := make([]byte, ss.aead.NonceSize())
	copy(nonce, b[len(b)-4:])
	plain, err := ss.aead.Open(nil, nonce, ct, aad)
	if err != nil {
		s.violate("ssrc %d seq %d: %s does not decrypt: %v", p.SSRC, p.Seq, ss.mode, err)
		s.mu.Unlock()
		return
	}
	if b[0]&0x10 != 0 {
		extLen := 4 * int(binary.BigEndian.Uint16(aad[len(aad)-2:]))
		if extLen > len(plain) {
			s.violate("ssrc %d: extension longer than payload", p.SSRC)
			s.mu.Unlock()
			return
		}
		plain = plain[extLen:]
	}
	if b[0]&0x20 != 0 && len(plain) > 0 {
		pad := int(plain[len(plain)-1])
		if pad == 0 || pad > len(plain) {
			s.violate("ssrc %d: bad padding", p.SSRC)
			s.mu.Unlock()
			return
		}
		plain = plain[:len(plain)-pad]
	}
	p.Payload, p.Arrival = plain, arrival
	p.Silence = bytes.Equal(plain, silenceFrame)
	ss.check(p)
	ss.received++
	if !s.opts.DiscardPackets {
		ss.packets = append(ss.packets, p)
	}
	if ss.firstPkt.IsZero() {
		ss.firstPkt = arrival
	}
	if p.Silence {
		ss.silence++
	}
	s.notify()
	s.mu.Unlock()

	if s.opts.OnPayload != nil {
		s.opts.OnPayload(ss, p)
	}
	if p.Silence || s.opts.SkipDecode {
		return
	}
	frame := plain
	if s.opts.DecryptFrame != nil {
		if frame, err = s.opts.DecryptFrame(ss, plain); err != nil {
			s.mu.Lock()
			s.violate("ssrc %d seq %d: frame decrypt: %v", p.SSRC, p.Seq, err)
			s.mu.Unlock()
			return
		}
	}
	s.decode(ss, p, frame)
}

func (s *Server) decode(ss *Session, p Packet, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.dec == nil {
		dec, err := opus.NewDecoder(48000, 2)
		if err != nil {
			s.violate("opus decoder: %v", err)
			return
		}
		ss.dec, ss.decBuf = dec, make([]int16, 5760*2)
	}
	n, err := ss.dec.Decode(frame, ss.decBuf)
	if err != nil {
		s.violate("ssrc %d seq %d: opus does not decode: %v", p.SSRC, p.Seq, err)
		return
	}
	ss.decoded++
	if !s.opts.DiscardPCM {
		ss.pcm = append(ss.pcm, ss.decBuf[:2*n]...)
	}
}

// check compares a packet with the previous one of its session; srv.mu held.
func (ss *Session) check(p Packet) {
	s := ss.srv
	if ss.nonceSet {
		prev := ss.last
		if p.Seq != prev.Seq+1 {
			s.violate("ssrc %d: seq %d after %d", p.SSRC, p.Seq, prev.Seq)
		}
		if d := p.Timestamp - prev.Timestamp; d == 0 || d%960 != 0 || d > 1<<31 {
			s.violate("ssrc %d: timestamp %d after %d", p.SSRC, p.Timestamp, prev.Timestamp)
		}
		if p.Nonce != prev.Nonce+1 {
			s.violate("ssrc %d: nonce %d after %d", p.SSRC, p.Nonce, prev.Nonce)
		}
	}
	ss.nonceSet, ss.last = true, p
}

// parseRTP checks the fixed header and splits a packet into AAD and
// ciphertext (with tag); the nonce is the last 4 bytes.
func parseRTP(b []byte) (p Packet, aad, ct []byte, err error) {
	if len(b) < 12+16+4 {
		return p, nil, nil, fmt.Errorf("packet of %d bytes", len(b))
	}
	if b[0]>>6 != 2 {
		return p, nil, nil, fmt.Errorf("RTP version %d", b[0]>>6)
	}
	if pt := b[1] & 0x7F; pt != 0x78 {
		return p, nil, nil, fmt.Errorf("payload type %#x, want 0x78", pt)
	}
	hdr := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		hdr += 4
	}
	if len(b) < hdr+16+4 {
		return p, nil, nil, fmt.Errorf("packet of %d bytes with a %d-byte header", len(b), hdr)
	}
	p = Packet{
		Seq:       binary.BigEndian.Uint16(b[2:]),
		Timestamp: binary.BigEndian.Uint32(b[4:]),
		SSRC:      binary.BigEndian.Uint32(b[8:]),
		Nonce:     binary.BigEndian.Uint32(b[len(b)-4:]),
	}
	return p, b[:hdr], b[hdr : len(b)-4], nil
}
