package server

import (
	"encoding/binary"
	"net"
)

// frameGuard watches the websocket frame headers a client sends, as the
// bytes pass from the socket to gws, so that a message over the size limit
// gets an ERROR frame (FrameTooLarge) before gws closes the socket with
// 1009 (node-protocol.md section 4). gws itself rejects such a frame as soon
// as it parses the header, without a hook; the guard runs one step earlier,
// inside the Read that brings the header in.
//
// RFC 6455 section 5.2, client to server:
//
//	 0               1               2               3
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|     Extended payload length continued, if payload len == 127  |
//	+-------------------------------+-------------------------------+
//	|                               | Masking-key, if MASK set      |
//	+-------------------------------+-------------------------------+
//	| Masking-key (continued)       |          Payload Data         |
//	+---------------------------------------------------------------+
//
// Fragmented messages count the sum of their frames; control frames
// (opcode ≥ 8) are skipped. Compression is never negotiated, so payload
// length is message length.
type frameGuard struct {
	net.Conn
	prefix []byte // bytes net/http had already buffered at hijack time
	scan   frameScanner
}

func (g *frameGuard) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(g.prefix) > 0 {
		n = copy(p, g.prefix)
		g.prefix = g.prefix[n:]
	} else {
		n, err = g.Conn.Read(p)
	}
	g.scan.feed(p[:n])
	return n, err
}

// frameScanner is the header state machine of frameGuard, apart from I/O so
// that it can be fuzzed.
type frameScanner struct {
	limit     int
	onTooBig  func(size uint64)
	hdr       [14]byte
	hdrLen    int    // header bytes collected
	skip      uint64 // payload bytes still to pass
	msgLen    uint64 // bytes of the current (possibly fragmented) message
	triggered bool
}

func (s *frameScanner) feed(b []byte) {
	for len(b) > 0 && !s.triggered {
		if s.skip > 0 {
			k := uint64(len(b))
			if k > s.skip {
				k = s.skip
			}
			s.skip -= k
			b = b[k:]
			continue
		}
		s.hdr[s.hdrLen] = b[0]
		s.hdrLen++
		b = b[1:]
		need := headerSize(s.hdr[:s.hdrLen])
		if s.hdrLen < need {
			continue
		}
		s.frame()
		s.hdrLen = 0
	}
}

// headerSize returns the full header size once the first two bytes are in
// (2 before that).
func headerSize(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func (s *frameScanner) frame() {
	h := s.hdr[:s.hdrLen]
	opcode := h[0] & 0x0f
	size := uint64(h[1] & 0x7f)
	switch size {
	case 126:
		size = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		size = binary.BigEndian.Uint64(h[2:10])
	}
	s.skip = size
	if opcode >= 8 {
		return // control frame: ping, pong, close
	}
	if opcode != 0 {
		s.msgLen = 0 // a new message; 0 continues the current one
	}
	s.msgLen += size
	if s.msgLen > uint64(s.limit) {
		s.triggered = true
		if s.onTooBig != nil {
			s.onTooBig(s.msgLen)
		}
	}
}
