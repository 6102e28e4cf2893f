package dave

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/discodo-go/discodo/appliance/voice/dave/internal/mls"
)

// TestRatchetKnownAnswer is the known-answer test of voice spec 3.6
// (davey's hash_ratchet.rs).
func TestRatchetKnownAnswer(t *testing.T) {
	base, _ := hex.DecodeString("cedd61b1b8a1ca69046554282cf70b7b")
	r := newRatchet(base)
	nonce := mls.ExpandWithLabel(r.secret, "nonce", []byte{0, 0, 0, 0}, 12)
	if got := hex.EncodeToString(nonce); got != "301e5f4b74090f985e726bb2" {
		t.Fatalf("gen-0 nonce %s", got)
	}
	if got := hex.EncodeToString(r.key(0)); got != "7530f9a9945e2d2e06d0651f7b2a864b" {
		t.Fatalf("gen-0 key %s", got)
	}
	// Skipping ahead equals stepping.
	a, b := newRatchet(base), newRatchet(base)
	a.key(0)
	a.key(1)
	a.key(2)
	if !bytes.Equal(a.key(3), b.key(3)) {
		t.Fatal("ratchet skip differs from steps")
	}
}

func TestULEB(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 300, 1 << 21, 1<<32 - 1} {
		b := appendULEB(nil, v)
		if len(b) != ulebLen(v) {
			t.Fatalf("%d: %d bytes, ulebLen %d", v, len(b), ulebLen(v))
		}
		got, n, err := readULEB(b)
		if err != nil || got != v || n != len(b) {
			t.Fatalf("%d: read %d, %d, %v", v, got, n, err)
		}
	}
	for _, bad := range [][]byte{{0x80}, {0x80, 0x00}, {0xff, 0xff, 0xff, 0xff, 0x1f}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		if _, _, err := readULEB(bad); !errors.Is(err, ErrFrame) {
			t.Fatalf("%x accepted", bad)
		}
	}
}

var testOpus = bytes.Repeat([]byte{0xFC, 0x01, 0x02, 0x03}, 30)

// TestFrameRoundTrip seals frames and opens them with a receiver of the
// same base: layout, counter from 1, replay, reordering, tampering.
func TestFrameRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := bytes.Repeat([]byte{7}, 16)
		e := newEncryptor(base)
		var r receiver
		r.add(base, time.Now())

		f1 := e.seal(nil, testOpus)
		if len(f1) != len(testOpus)+12 || !bytes.Equal(f1[len(f1)-4:], []byte{0x01, 0x0C, 0xFA, 0xFA}) {
			t.Fatalf("first frame tail %x, len %d", f1[len(f1)-4:], len(f1))
		}
		f2 := e.seal(nil, testOpus)
		f3 := e.seal(nil, testOpus)
		for _, f := range [][]byte{f1, f3, f2} { // f2 late, inside the window
			out, err := r.open(nil, f, time.Now())
			if err != nil || !bytes.Equal(out, testOpus) {
				t.Fatalf("open: %v", err)
			}
		}
		if _, err := r.open(nil, f2, time.Now()); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
		f4 := e.seal(nil, testOpus)
		bad := bytes.Clone(f4)
		bad[0] ^= 1
		if out, err := r.open([]byte("x"), bad, time.Now()); !errors.Is(err, ErrAuth) || string(out) != "x" {
			t.Fatalf("tampered: %q %v", out, err)
		}
		if _, err := r.open(nil, f4, time.Now()); err != nil {
			t.Fatalf("genuine frame after a forged one: %v", err)
		}
		// Another key fails.
		var other receiver
		other.add(bytes.Repeat([]byte{8}, 16), time.Now())
		if _, err := other.open(nil, e.seal(nil, testOpus), time.Now()); !errors.Is(err, ErrAuth) {
			t.Fatalf("wrong key: %v", err)
		}
	})
}

// TestGenerationLimit checks the receiver's time bound: a frame of
// generation 1 right after the ratchet began is refused.
func TestGenerationLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := bytes.Repeat([]byte{1}, 16)
		e := newEncryptor(base)
		e.counter = 1<<24 - 1 // the next frame is generation 1
		var r receiver
		r.add(base, time.Now())
		if _, err := r.open(nil, e.seal(nil, testOpus), time.Now()); !errors.Is(err, ErrGeneration) {
			t.Fatalf("generation 1 at t=0: %v", err)
		}
	})
}

// TestRetention checks that a previous epoch's frames open for 10 s after
// a new epoch begins, and not after.
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old, next := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
		eOld, eNew := newEncryptor(old), newEncryptor(next)
		var r receiver
		r.add(old, time.Now())
		r.add(next, time.Now())
		for _, f := range [][]byte{eOld.seal(nil, testOpus), eNew.seal(nil, testOpus)} {
			if _, err := r.open(nil, f, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(retention + time.Second)
		if _, err := r.open(nil, eOld.seal(nil, testOpus), time.Now()); !errors.Is(err, ErrAuth) {
			t.Fatalf("old epoch after retention: %v", err)
		}
		if _, err := r.open(nil, eNew.seal(nil, testOpus), time.Now()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseFrameErrors(t *testing.T) {
	e := newEncryptor(bytes.Repeat([]byte{3}, 16))
	good := e.seal(nil, testOpus)
	for name, f := range map[string][]byte{
		"short":      good[:5],
		"no marker":  append(bytes.Clone(good[:len(good)-1]), 0),
		"supp big":   append(bytes.Clone(good[:len(good)-3]), 0xff, 0xFA, 0xFA),
		"supp small": append(bytes.Clone(good[:len(good)-3]), 3, 0xFA, 0xFA),
		"ranges": func() []byte {
			b := bytes.Clone(good[:len(good)-3])
			b = append(b, 0x00, 0x01) // one range pair
			return append(b, good[len(good)-3]+2, 0xFA, 0xFA)
		}(),
	} {
		if _, _, _, err := parseFrame(f); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	e := newEncryptor(bytes.Repeat([]byte{3}, 16))
	f.Add(e.seal(nil, testOpus))
	f.Add([]byte{0xF8, 0xFF, 0xFE})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x01, 0x0d, 0xFA, 0xFA})
	var r receiver
	r.add(bytes.Repeat([]byte{3}, 16), time.Now())
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, tag, _, err := parseFrame(b)
		if err == nil && len(ct)+len(tag) > len(b) {
			t.Fatal("parts longer than the frame")
		}
		_, _ = r.open(nil, b, time.Now())
	})
}

// BenchmarkEncryptOpus measures the per-frame send path: it must not
// allocate.
func BenchmarkEncryptOpus(b *testing.B) {
	s, err := New(Config{UserID: 1, ChannelID: 2, Send: func(int, []byte, bool) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	s.setSender(newEncryptor(bytes.Repeat([]byte{9}, 16)))
	opus := bytes.Repeat([]byte{0xFC, 0xAA}, 80) // a 160-byte frame
	dst := make([]byte, 0, 4000)
	b.ReportAllocs()
	b.SetBytes(int64(len(opus)))
	for b.Loop() {
		out, err := s.EncryptOpus(dst[:0], opus)
		if n := len(out) - len(opus); err != nil || n < 12 || n > 16 {
			b.Fatalf("%d bytes, %v", len(out), err)
		}
	}
}

// TestEncryptOpusAllocs asserts what the benchmark shows.
func TestEncryptOpusAllocs(t *testing.T) {
	s, _ := New(Config{UserID: 1, ChannelID: 2, Send: func(int, []byte, bool) error { return nil }})
	s.setSender(newEncryptor(bytes.Repeat([]byte{9}, 16)))
	dst := make([]byte, 0, 4000)
	if n := testing.AllocsPerRun(1000, func() { _, _ = s.EncryptOpus(dst[:0], testOpus) }); n != 0 {
		t.Fatalf("EncryptOpus allocates %.1f times per frame", n)
	}
}

// BenchmarkDecrypt measures the receive path (CTR + tag recomputation).
func BenchmarkDecrypt(b *testing.B) {
	base := bytes.Repeat([]byte{9}, 16)
	e := newEncryptor(base)
	var r receiver
	r.add(base, time.Now())
	opus := bytes.Repeat([]byte{0xFC, 0xAA}, 80)
	frames := make([][]byte, 1<<12)
	for i := range frames {
		frames[i] = e.seal(nil, opus)
	}
	dst := make([]byte, 0, 4000)
	b.ReportAllocs()
	b.SetBytes(int64(len(opus)))
	i := 0
	for b.Loop() {
		if i == len(frames) {
			b.StopTimer()
			r = receiver{}
			r.add(base, time.Now())
			i = 0
			b.StartTimer()
		}
		if _, err := r.open(dst[:0], frames[i], time.Now()); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
