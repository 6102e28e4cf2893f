package server

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// frame builds a client frame header (masked) followed by size payload bytes.
func frame(fin bool, opcode byte, size int) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	var h []byte
	switch {
	case size < 126:
		h = []byte{b0, 0x80 | byte(size)}
	case size < 1<<16:
		h = []byte{b0, 0x80 | 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(size))
	default:
		h = make([]byte, 10)
		h[0], h[1] = b0, 0x80|127
		binary.BigEndian.PutUint64(h[2:], uint64(size))
	}
	h = append(h, 1, 2, 3, 4)
	return append(h, bytes.Repeat([]byte{'x'}, size)...)
}

func TestFrameScanner(t *testing.T) {
	for _, c := range []struct {
		name   string
		stream []byte
		want   uint64 // 0: no trigger
	}{
		{"small frames", append(frame(true, 1, 10), frame(true, 1, 1000)...), 0},
		{"exactly the limit", frame(true, 1, 4096), 0},
		{"one over", frame(true, 1, 4097), 4097},
		{"16-bit length", append(frame(true, 9, 100), frame(true, 2, 60000)...), 60000},
		{"fragments add up", bytes.Join([][]byte{frame(false, 1, 2000), frame(true, 9, 50), frame(false, 0, 2000), frame(true, 0, 200)}, nil), 4200},
		{"new message resets", bytes.Join([][]byte{frame(true, 1, 3000), frame(true, 1, 3000)}, nil), 0},
	} {
		// Feed byte by byte and all at once: the same verdict.
		for _, chunk := range []int{1, 3, len(c.stream)} {
			var got uint64
			s := frameScanner{limit: 4096, onTooBig: func(n uint64) { got = n }}
			for i := 0; i < len(c.stream); i += chunk {
				s.feed(c.stream[i:min(i+chunk, len(c.stream))])
			}
			if got != c.want {
				t.Errorf("%s (chunks of %d): triggered at %d, want %d", c.name, chunk, got, c.want)
			}
		}
	}
	// A 64-bit length header triggers before any payload arrives.
	var got uint64
	s := frameScanner{limit: 4096, onTooBig: func(n uint64) { got = n }}
	s.feed([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	if got != 1<<63-1 {
		t.Errorf("huge header: %d", got)
	}
}

func FuzzFrameScanner(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, uint16(3))
	f.Add(frame(false, 1, 300), uint16(100))
	f.Fuzz(func(t *testing.T, b []byte, limit uint16) {
		var calls int
		s := frameScanner{limit: int(limit), onTooBig: func(uint64) { calls++ }}
		// Any split gives the same result as one feed.
		s.feed(b[:len(b)/2])
		s.feed(b[len(b)/2:])
		var calls2 int
		s2 := frameScanner{limit: int(limit), onTooBig: func(uint64) { calls2++ }}
		s2.feed(b)
		if calls > 1 || calls != calls2 {
			t.Fatalf("calls %d vs %d", calls, calls2)
		}
	})
}
