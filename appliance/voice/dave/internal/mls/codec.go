package mls

import (
	"encoding/binary"
	"fmt"
)

// The TLS presentation language as RFC 9420 uses it (§2.1.2): big-endian
// fixed-width integers, and variable-length vectors whose length prefix is a
// QUIC-style varint restricted to 1, 2 or 4 bytes:
//
//	 0                   1                   2                   3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|0 0| len (6)   |                          (len < 64)
//	|0 1| len (14)                  |          (len < 16384)
//	|1 0| len (30)                                                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The prefix 11 is invalid, and so is a longer form than needed (§2.1.2:
// "the length MUST be encoded in the smallest number of bytes"). Because
// every decoder here rejects non-minimal forms and trailing bytes, decoding
// then re-encoding a message gives back the same bytes, which signature and
// hash checks over re-encoded structures rely on.

// maxVarint is the largest length a 4-byte varint carries.
const maxVarint = 1<<30 - 1

// writer appends encodings to b. It never fails: the only impossible input,
// a vector longer than 2^30-1 bytes, panics, since no caller builds one.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

func (w *writer) varint(n int) {
	switch {
	case n < 1<<6:
		w.b = append(w.b, byte(n))
	case n < 1<<14:
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(n)|0x4000)
	case n <= maxVarint:
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(n)|0x80000000)
	default:
		panic(fmt.Sprintf("mls: vector of %d bytes exceeds the varint range", n))
	}
}

// opaque writes opaque v<V>.
func (w *writer) opaque(v []byte) {
	w.varint(len(v))
	w.b = append(w.b, v...)
}

// vector writes a <V> vector whose body f appends.
func (w *writer) vector(f func(w *writer)) {
	var body writer
	f(&body)
	w.opaque(body.b)
}

// optional writes optional<T>: a presence byte, then the value.
func (w *writer) optional(present bool, f func(w *writer)) {
	if !present {
		w.u8(0)
		return
	}
	w.u8(1)
	f(w)
}

func (w *writer) u16s(v []uint16) {
	w.vector(func(w *writer) {
		for _, x := range v {
			w.u16(x)
		}
	})
}

func (w *writer) u32s(v []uint32) {
	w.vector(func(w *writer) {
		for _, x := range v {
			w.u32(x)
		}
	})
}

// reader consumes encodings from b. The first error sticks: later reads
// return zero values, so decoders read straight through and check err once.
type reader struct {
	b   []byte
	err error
}

func newReader(b []byte) *reader { return &reader{b: b} }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail(fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, len(r.b)))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) varint() int {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(fmt.Errorf("%w: missing vector length", ErrTruncated))
		return 0
	}
	var n, min int
	switch r.b[0] >> 6 {
	case 0:
		n, min = int(r.u8()), 0
	case 1:
		n, min = int(r.u16()&0x3fff), 1<<6
	case 2:
		n, min = int(r.u32()&0x3fffffff), 1<<14
	default:
		r.fail(fmt.Errorf("%w: length prefix 0x%02x uses the reserved 8-byte form", ErrVarint, r.b[0]))
		return 0
	}
	if n < min && r.err == nil {
		r.fail(fmt.Errorf("%w: length %d not in its shortest form", ErrVarint, n))
	}
	return n
}

// opaque reads opaque v<V> and returns a copy, so that decoded messages
// never alias the caller's buffer.
func (r *reader) opaque() []byte {
	v := r.take(r.varint())
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

// vector reads a <V> vector and calls f until its body is consumed.
func (r *reader) vector(f func(r *reader)) {
	body := r.take(r.varint())
	if r.err != nil {
		return
	}
	sub := &reader{b: body}
	for len(sub.b) > 0 && sub.err == nil {
		f(sub)
	}
	r.fail(sub.err)
}

// optional reads optional<T>.
func (r *reader) optional(f func(r *reader)) bool {
	switch p := r.u8(); {
	case r.err != nil:
		return false
	case p == 0:
		return false
	case p == 1:
		f(r)
		return r.err == nil
	default:
		r.fail(fmt.Errorf("%w: optional presence byte %d", ErrMalformed, p))
		return false
	}
}

func (r *reader) u16s() []uint16 {
	var v []uint16
	r.vector(func(r *reader) { v = append(v, r.u16()) })
	return v
}

func (r *reader) u32s() []uint32 {
	var v []uint32
	r.vector(func(r *reader) { v = append(v, r.u32()) })
	return v
}

// finish fails unless every byte was consumed.
func (r *reader) finish() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b)))
	}
	return r.err
}

// decode runs f over b and requires it to consume b exactly.
func decode(b []byte, f func(r *reader)) error {
	r := newReader(b)
	f(r)
	return r.finish()
}

// encode returns what f writes.
func encode(f func(w *writer)) []byte {
	var w writer
	f(&w)
	return w.b
}

// ReadOpaque reads one opaque<V> from the front of b and returns it
// (aliasing b) with the rest. DAVE frames its op 27 bodies this way.
func ReadOpaque(b []byte) (v, rest []byte, err error) {
	r := newReader(b)
	v = r.take(r.varint())
	return v, r.b, r.err
}

// AppendOpaque appends opaque<V> holding v to dst.
func AppendOpaque(dst, v []byte) []byte {
	w := writer{b: dst}
	w.opaque(v)
	return w.b
}
