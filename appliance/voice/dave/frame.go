package dave

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// The media frame of DAVE v1 for Opus (voice spec 3.7):
//
//	+---------------------+---------+---------------+----------+-------+
//	| ciphertext (= opus) | tag[0:8]| ULEB128 nonce | supp (1) | FA FA |
//	+---------------------+---------+---------------+----------+-------+
//	                      |<------------- supp bytes ----------------->|
//
// supp = 8 + len(ULEB128(nonce)) + 1 + 2 (Opus has no unencrypted
// ranges). The cipher is AES-128-GCM with the sender's key of generation
// nonce>>24 and the IV 00×8 ‖ LE32(nonce), the AAD is empty, and only the
// first 8 bytes of the 16-byte tag are sent.
//
// # Why seal with a 16-byte tag and cut it?
//
// Go's GCM refuses tags shorter than 12 bytes. A GCM tag truncated to 8
// bytes is the first 8 bytes of the full tag, so sealing normally and
// keeping 8 bytes gives the same frame. Opening runs AES-CTR from counter
// block 2 (what GCM does for a 96-bit IV), then re-seals the plaintext to
// recompute the tag and compares its first 8 bytes in constant time.

const (
	tagSize      = 8
	fullTagSize  = 16
	markerByte   = 0xFA
	minSuppSize  = tagSize + 1 + 1 + 2
	maxULEB32    = 5
	maxOverhead  = fullTagSize // ≥ tag + ULEB + supp + marker (8+5+1+2)
	retention    = 10 * time.Second
	maxFramesSec = 170  // receivers' bound on a sender's frame rate
	maxMissing   = 1000 // nonces below the newest still accepted once
)

// silenceFrame is the Opus silence frame sent after audio stops; it
// crosses DAVE untouched in both directions (spec 2.2).
var silenceFrame = []byte{0xF8, 0xFF, 0xFE}

func appendULEB(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func ulebLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// readULEB reads one ULEB128 value of at most 32 bits in its shortest
// form and returns it with the bytes it used.
func readULEB(b []byte) (uint32, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < maxULEB32; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 0xffffffff || (i > 0 && b[i] == 0) {
				return 0, 0, fmt.Errorf("%w: ULEB128 out of range or overlong", ErrFrame)
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: unterminated ULEB128", ErrFrame)
}

// parseFrame splits a DAVE frame into ciphertext, truncated tag and nonce.
func parseFrame(frame []byte) (ct, tag []byte, nonce uint32, err error) {
	n := len(frame)
	if n < minSuppSize {
		return nil, nil, 0, fmt.Errorf("%w: %d bytes", ErrFrame, n)
	}
	if frame[n-1] != markerByte || frame[n-2] != markerByte {
		return nil, nil, 0, fmt.Errorf("%w: no FA FA marker", ErrFrame)
	}
	supp := int(frame[n-3])
	if supp < minSuppSize || supp > n {
		return nil, nil, 0, fmt.Errorf("%w: supplemental size %d in a %d-byte frame", ErrFrame, supp, n)
	}
	body := frame[n-supp : n-3]
	nonce, used, err := readULEB(body[tagSize:])
	if err != nil {
		return nil, nil, 0, err
	}
	if tagSize+used != len(body) {
		return nil, nil, 0, fmt.Errorf("%w: %d bytes of unencrypted ranges in an audio frame", ErrFrame, len(body)-tagSize-used)
	}
	return frame[:n-supp], body[:tagSize], nonce, nil
}

// gcmKey is one generation's AES-128-GCM key.
type gcmKey struct {
	block cipher.Block
	aead  cipher.AEAD
}

func newGCMKey(key []byte) gcmKey {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // 16-byte keys only
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return gcmKey{block: b, aead: a}
}

// encryptor seals our outgoing frames under one sender ratchet. Its
// counter restarts with each ratchet, so the first frame uses nonce 1.
type encryptor struct {
	ratchet *ratchet
	counter uint64 // frames sealed; the wire nonce is its low 32 bits
	gen     uint32
	key     gcmKey
	iv      [12]byte // kept here so that passing it to Seal does not allocate
}

func newEncryptor(base []byte) *encryptor {
	e := &encryptor{ratchet: newRatchet(base)}
	e.key = newGCMKey(e.ratchet.key(0))
	return e
}

// seal appends the DAVE frame of opus to dst. It allocates only when dst
// lacks len(opus)+16 bytes of capacity, or once per 2^24 frames when the
// generation moves on.
func (e *encryptor) seal(dst, opus []byte) []byte {
	e.counter++
	nonce := uint32(e.counter)
	if gen := uint32(e.counter >> 24); gen != e.gen {
		e.gen = gen
		e.key = newGCMKey(e.ratchet.key(gen))
	}
	binary.LittleEndian.PutUint32(e.iv[8:], nonce)
	start := len(dst)
	dst = slices.Grow(dst, len(opus)+maxOverhead)
	e.key.aead.Seal(dst[start:start], e.iv[:], opus, nil)
	dst = dst[:start+len(opus)+tagSize]
	dst = appendULEB(dst, nonce)
	return append(dst, byte(tagSize+ulebLen(nonce)+3), markerByte, markerByte)
}

// epochKeys is what a receiver holds for one sender in one epoch.
type epochKeys struct {
	ratchet *ratchet
	created time.Time
	expires time.Time // zero while current
	keys    map[uint32]gcmKey
	newest  uint64   // highest authenticated nonce (wrap-expanded); 0 = none
	missing []uint64 // nonces below newest not received yet
	scratch []byte
}

func newEpochKeys(base []byte, now time.Time) *epochKeys {
	return &epochKeys{ratchet: newRatchet(base), created: now, keys: map[uint32]gcmKey{}}
}

// expand turns a 32-bit wire nonce into the counter value closest to the
// newest one seen, so generations keep counting across a counter wrap.
func expand(newest uint64, n uint32) uint64 {
	c := newest&^0xffffffff | uint64(n)
	switch {
	case c+(1<<31) < newest:
		c += 1 << 32
	case c > newest+(1<<31) && c >= 1<<32:
		c -= 1 << 32
	}
	return c
}

// open authenticates and decrypts one frame's parts, appending the
// plaintext to dst.
func (k *epochKeys) open(dst, ct, tag []byte, nonce uint32, now time.Time) ([]byte, error) {
	full := expand(k.newest, nonce)
	gen := full >> 24
	if limit := uint64(maxFramesSec*now.Sub(k.created).Seconds()) >> 24; gen > limit {
		return dst, fmt.Errorf("%w: generation %d, at most %d allowed %v after the ratchet began", ErrGeneration, gen, limit, now.Sub(k.created))
	}
	if full == 0 || full == k.newest || (full < k.newest && !slices.Contains(k.missing, full)) {
		return dst, fmt.Errorf("%w: nonce %d (newest %d)", ErrReplay, full, k.newest)
	}
	key, ok := k.keys[uint32(gen)]
	if !ok {
		if uint32(gen) < k.ratchet.next {
			return dst, fmt.Errorf("%w: generation %d is gone", ErrGeneration, gen)
		}
		key = newGCMKey(k.ratchet.key(uint32(gen)))
		k.keys[uint32(gen)] = key
		for g := range k.keys {
			if g+1 < uint32(gen) {
				delete(k.keys, g)
			}
		}
	}
	var iv [12]byte
	binary.LittleEndian.PutUint32(iv[8:], nonce)
	var ctr [16]byte
	copy(ctr[:], iv[:])
	ctr[15] = 2
	start := len(dst)
	dst = slices.Grow(dst, len(ct))[:start+len(ct)]
	pt := dst[start:]
	cipher.NewCTR(key.block, ctr[:]).XORKeyStream(pt, ct)
	k.scratch = key.aead.Seal(k.scratch[:0], iv[:], pt, nil)
	if subtle.ConstantTimeCompare(k.scratch[len(pt):len(pt)+tagSize], tag) != 1 {
		clear(pt)
		return dst[:start], ErrAuth
	}
	k.accept(full)
	return dst, nil
}

// accept records an authenticated nonce in the replay window.
func (k *epochKeys) accept(full uint64) {
	if full < k.newest {
		k.missing = slices.DeleteFunc(k.missing, func(n uint64) bool { return n == full })
		return
	}
	from := k.newest + 1
	if full-from > maxMissing {
		from = full - maxMissing
	}
	for n := from; n < full; n++ {
		k.missing = append(k.missing, n)
	}
	if len(k.missing) > maxMissing {
		k.missing = k.missing[len(k.missing)-maxMissing:]
	}
	k.newest = full
}

// receiver holds one sender's keys across epochs, newest first.
type receiver struct {
	epochs []*epochKeys
}

// add installs a new epoch's ratchet; older ones expire after retention.
func (r *receiver) add(base []byte, now time.Time) {
	for _, e := range r.epochs {
		if e.expires.IsZero() {
			e.expires = now.Add(retention)
		}
	}
	r.epochs = append([]*epochKeys{newEpochKeys(base, now)}, r.epochs...)
}

// retire expires every epoch (the sender left, or DAVE was turned off).
func (r *receiver) retire(now time.Time) {
	for _, e := range r.epochs {
		if e.expires.IsZero() {
			e.expires = now.Add(retention)
		}
	}
}

// open tries the kept epochs, newest first.
func (r *receiver) open(dst, frame []byte, now time.Time) ([]byte, error) {
	ct, tag, nonce, err := parseFrame(frame)
	if err != nil {
		return dst, err
	}
	r.epochs = slices.DeleteFunc(r.epochs, func(e *epochKeys) bool { return !e.expires.IsZero() && now.After(e.expires) })
	if len(r.epochs) == 0 {
		return dst, ErrNoKey
	}
	var first error
	for _, e := range r.epochs {
		out, err := e.open(dst, ct, tag, nonce, now)
		if err == nil {
			return out, nil
		}
		if first == nil || (err == ErrAuth && first != ErrAuth) {
			first = err
		}
	}
	return dst, first
}

// hasMarker reports whether a frame ends in the DAVE marker.
func hasMarker(frame []byte) bool {
	return len(frame) >= 2 && frame[len(frame)-1] == markerByte && frame[len(frame)-2] == markerByte
}

func isSilence(frame []byte) bool { return bytes.Equal(frame, silenceFrame) }
