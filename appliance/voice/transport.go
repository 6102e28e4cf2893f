package voice

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/pion/rtp"
	"golang.org/x/crypto/chacha20poly1305"
)

// Transport encryption modes (discord-voice.md §2.3), most preferred first.
const (
	ModeAES256GCM         = "aead_aes256_gcm_rtpsize"
	ModeXChaCha20Poly1305 = "aead_xchacha20_poly1305_rtpsize"
)

// chooseMode picks aead_aes256_gcm_rtpsize when offered, otherwise
// aead_xchacha20_poly1305_rtpsize (§1.6 step 4).
func chooseMode(offered []string) (string, error) {
	for _, m := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		if slices.Contains(offered, m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: offered %q", ErrNoMode, offered)
}

// newAEAD returns the cipher of mode keyed with key (32 bytes).
func newAEAD(mode string, key []byte) (cipher.AEAD, error) {
	switch mode {
	case ModeAES256GCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		return cipher.NewGCM(block)
	case ModeXChaCha20Poly1305:
		a, err := chacha20poly1305.NewX(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("%w: unsupported mode %q", ErrNoMode, mode)
}

// RTP constants of discord-voice.md §2.2.
const (
	rtpHeaderLen      = 12
	rtpPayloadType    = 0x78
	samplesPerFrame   = 960 // 20 ms at 48 kHz
	transportTagLen   = 16
	transportNonceLen = 4
)

// MaxOpusFrame is the size of the buffer handed to FrameSource.NextFrame.
const MaxOpusFrame = 4000

// maxPayload bounds what goes into one RTP payload: an Opus frame plus the
// DAVE trailer (at most 8 + 5 + 1 + 2 bytes) with room to spare.
const maxPayload = MaxOpusFrame + 64

// maxPacket is the largest packet the packetizer builds.
const maxPacket = rtpHeaderLen + maxPayload + transportTagLen + transportNonceLen

// packetizer turns payloads into encrypted RTP packets (§2.2, §2.3):
//
//	+-----------------------+------------------------------+---------+-----------+
//	| RTP header (12 bytes) | AEAD ciphertext of payload   | tag (16)| nonce (4) |
//	| clear, = AAD          |                              |         | BE counter|
//	+-----------------------+------------------------------+---------+-----------+
//
// The nonce is the 32-bit counter big-endian, zero-padded to 12 bytes
// (AES-GCM) or 24 bytes (XChaCha20-Poly1305). The sequence number goes up
// by 1 and the timestamp by 960 per packet, both wrapping. The counter
// wraps at 2^32 too, but never repeats under one key: after 2^32 packets
// seal returns ErrNonceExhausted. A packetizer belongs to one goroutine.
type packetizer struct {
	aead   cipher.AEAD
	header rtp.Header
	aad    [rtpHeaderLen]byte
	nonce  [chacha20poly1305.NonceSizeX]byte

	counter uint32 // nonce of the next packet
	sealed  uint64 // packets sealed under this key
	limit   uint64 // packets allowed under this key: 2^32
}

// nonceSpace is how many packets one key may seal: every 32-bit nonce once.
const nonceSpace = 1 << 32

func newPacketizer(mode string, key []byte, ssrc uint32, seq uint16, timestamp, counter uint32) (*packetizer, error) {
	a, err := newAEAD(mode, key)
	if err != nil {
		return nil, err
	}
	return &packetizer{
		aead: a,
		header: rtp.Header{
			Version:        2,
			PayloadType:    rtpPayloadType,
			SequenceNumber: seq,
			Timestamp:      timestamp,
			SSRC:           ssrc,
		},
		counter: counter,
		limit:   nonceSpace,
	}, nil
}

// seal appends one packet carrying payload to dst and advances sequence
// number, timestamp and counter. It does not allocate when dst has room
// for len(payload) + 32 bytes.
func (p *packetizer) seal(dst, payload []byte) ([]byte, error) {
	if p.sealed >= p.limit {
		return dst, ErrNonceExhausted
	}
	if len(payload) > maxPayload {
		return dst, fmt.Errorf("%w: %d bytes, max %d", ErrFrameTooLarge, len(payload), maxPayload)
	}
	if _, err := p.header.MarshalTo(p.aad[:]); err != nil {
		return dst, err
	}
	binary.BigEndian.PutUint32(p.nonce[:], p.counter)
	dst = append(dst, p.aad[:]...)
	dst = p.aead.Seal(dst, p.nonce[:p.aead.NonceSize()], payload, p.aad[:])
	dst = binary.BigEndian.AppendUint32(dst, p.counter)

	p.sealed++
	p.counter++
	p.header.SequenceNumber++
	p.header.Timestamp += samplesPerFrame
	return dst, nil
}
