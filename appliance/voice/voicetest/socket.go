package voicetest

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// udpSocket is the server's UDP socket: a net.UDPConn, or with
// Options.PollUDP a socket outside Go's netpoller that is drained
// periodically.
type udpSocket interface {
	ReadFromUDP(b []byte) (int, *net.UDPAddr, error)
	WriteToUDP(b []byte, to *net.UDPAddr) (int, error)
	LocalAddr() *net.UDPAddr
	Close() error
}

func listenUDP(poll time.Duration, readBuffer int) (udpSocket, error) {
	if poll > 0 {
		return listenPolled(poll, readBuffer)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if readBuffer > 0 {
		if err := c.SetReadBuffer(readBuffer); err != nil {
			c.Close()
			return nil, err
		}
	}
	return netUDP{c}, nil
}

type netUDP struct{ *net.UDPConn }

func (n netUDP) LocalAddr() *net.UDPAddr { return n.UDPConn.LocalAddr().(*net.UDPAddr) }

// polledUDP is a non-blocking socket that no thread ever waits on: a
// datagram that arrives wakes nobody. ReadFromUDP drains what is queued
// and sleeps the interval when nothing is. Only the server's UDP
// goroutine reads and writes it (discovery answers are written from that
// goroutine); Close marks it closed and that goroutine closes the
// descriptor when it sees the mark, so the number is never reused under
// it.
type polledUDP struct {
	fd       int
	addr     *net.UDPAddr
	interval time.Duration
	closing  atomic.Bool
	closed   bool // the descriptor is closed (reader goroutine only)
}

func listenPolled(interval time.Duration, readBuffer int) (*polledUDP, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("voicetest: socket: %w", err)
	}
	fail := func(what string, err error) (*polledUDP, error) {
		syscall.Close(fd)
		return nil, fmt.Errorf("voicetest: %s: %w", what, err)
	}
	if readBuffer > 0 {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, readBuffer); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	in, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return fail("getsockname", fmt.Errorf("address %T", sa))
	}
	return &polledUDP{fd: fd, interval: interval, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: in.Port}}, nil
}

func (p *polledUDP) LocalAddr() *net.UDPAddr { return p.addr }

func (p *polledUDP) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	for {
		if p.closing.Load() {
			if !p.closed {
				p.closed = true
				syscall.Close(p.fd)
			}
			return 0, nil, net.ErrClosed
		}
		n, from, err := syscall.Recvfrom(p.fd, b, 0)
		switch {
		case err == nil:
			in, ok := from.(*syscall.SockaddrInet4)
			if !ok {
				continue
			}
			return n, &net.UDPAddr{IP: net.IP(in.Addr[:]).To16(), Port: in.Port}, nil
		case err == syscall.EAGAIN || err == syscall.EINTR:
			time.Sleep(p.interval)
		default:
			return 0, nil, err
		}
	}
}

func (p *polledUDP) WriteToUDP(b []byte, to *net.UDPAddr) (int, error) {
	ip := to.IP.To4()
	if ip == nil {
		return 0, fmt.Errorf("voicetest: %v is not IPv4", to)
	}
	sa := &syscall.SockaddrInet4{Port: to.Port}
	copy(sa.Addr[:], ip)
	return len(b), syscall.Sendto(p.fd, b, 0, sa)
}

// Close marks the socket closed; the reading goroutine closes it within
// one interval.
func (p *polledUDP) Close() error {
	p.closing.Store(true)
	return nil
}
