package voice

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// IP discovery (discord-voice.md §2.1). Request and response are 74 bytes,
// all integers big-endian:
//
//	 0       2       4               8                                 72      74
//	+-------+-------+---------------+---------------- - - - ----------+-------+
//	| type  |  len  |     SSRC      |  address: ASCII, NUL-terminated  | port  |
//	+-------+-------+---------------+---------------- - - - ----------+-------+
//	type 0x0001 request, 0x0002 response; len = 70 (bytes after the len field)
//	request: address and port are zero
const (
	discoveryLen      = 74
	discoveryRequest  = 0x0001
	discoveryResponse = 0x0002
	discoveryBodyLen  = 70
)

// marshalDiscovery writes a discovery request for ssrc into b.
func marshalDiscovery(b *[discoveryLen]byte, ssrc uint32) {
	*b = [discoveryLen]byte{}
	binary.BigEndian.PutUint16(b[0:], discoveryRequest)
	binary.BigEndian.PutUint16(b[2:], discoveryBodyLen)
	binary.BigEndian.PutUint32(b[4:], ssrc)
}

// parseDiscovery parses a discovery response: our public address as the
// voice server sees it, and the SSRC it echoes.
func parseDiscovery(b []byte) (addr netip.AddrPort, ssrc uint32, err error) {
	if len(b) != discoveryLen {
		return addr, 0, fmt.Errorf("%w: response of %d bytes, want %d", ErrDiscovery, len(b), discoveryLen)
	}
	if t := binary.BigEndian.Uint16(b); t != discoveryResponse {
		return addr, 0, fmt.Errorf("%w: type %#04x, want %#04x", ErrDiscovery, t, discoveryResponse)
	}
	if l := binary.BigEndian.Uint16(b[2:]); l != discoveryBodyLen {
		return addr, 0, fmt.Errorf("%w: length field %d, want %d", ErrDiscovery, l, discoveryBodyLen)
	}
	field := b[8:72]
	end := bytes.IndexByte(field, 0)
	if end < 0 {
		return addr, 0, fmt.Errorf("%w: address not NUL-terminated", ErrDiscovery)
	}
	ip, err := netip.ParseAddr(string(field[:end]))
	if err != nil {
		return addr, 0, fmt.Errorf("%w: address %q: %v", ErrDiscovery, field[:end], err)
	}
	if ip.Zone() != "" {
		return addr, 0, fmt.Errorf("%w: address %q has a zone", ErrDiscovery, field[:end])
	}
	port := binary.BigEndian.Uint16(b[72:])
	if port == 0 {
		return addr, 0, fmt.Errorf("%w: port 0", ErrDiscovery)
	}
	return netip.AddrPortFrom(ip.Unmap(), port), binary.BigEndian.Uint32(b[4:]), nil
}

// discoveryAttempts and discoveryWait: a lost datagram is retried, a dead
// server costs about discoveryAttempts × discoveryWait.
const (
	discoveryAttempts = 5
	discoveryWait     = 1 * time.Second
)

// discover runs IP discovery on conn (connected to the voice server).
// Datagrams that are not a valid response are skipped until the wait ends.
func discover(ctx context.Context, conn *net.UDPConn, ssrc uint32, wait time.Duration) (netip.AddrPort, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var req [discoveryLen]byte
	marshalDiscovery(&req, ssrc)
	buf := make([]byte, 1500)
	var last error = fmt.Errorf("%w: no answer", ErrDiscovery)
	for range discoveryAttempts {
		if _, err := conn.Write(req[:]); err != nil {
			last = fmt.Errorf("%w: send: %v", ErrDiscovery, err)
		}
		deadline := time.Now().Add(wait)
		if err := conn.SetReadDeadline(deadline); err != nil {
			return netip.AddrPort{}, err
		}
		// A cancel after this check runs the AfterFunc, whose past
		// deadline then overrides the one just set.
		if ctx.Err() != nil {
			return netip.AddrPort{}, ctx.Err()
		}
		for {
			n, err := conn.Read(buf)
			if ctx.Err() != nil {
				return netip.AddrPort{}, ctx.Err()
			}
			if err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					last = fmt.Errorf("%w: receive: %v", ErrDiscovery, err)
					// ICMP errors surface here: wait out the slot, then retry.
					if !sleepCtx(ctx, time.Until(deadline)) {
						return netip.AddrPort{}, ctx.Err()
					}
				}
				break
			}
			addr, _, err := parseDiscovery(buf[:n])
			if err != nil {
				last = err
				continue
			}
			_ = conn.SetReadDeadline(time.Time{})
			return addr, nil
		}
	}
	return netip.AddrPort{}, last
}

// sleepCtx sleeps for d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
