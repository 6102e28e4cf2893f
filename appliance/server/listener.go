package server

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// LimitListener caps open connections in total and per client address.
// A connection over a limit is answered "503 Service Unavailable" and
// closed at once, so that a flood from one address cannot starve the bots
// on others. The counts drop when a connection is closed, hijacked
// websockets included.
func LimitListener(ln net.Listener, total, perAddr int) net.Listener {
	return &limitListener{Listener: ln, total: total, perAddr: perAddr, byAddr: make(map[string]int)}
}

type limitListener struct {
	net.Listener
	total, perAddr int

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

var overLimitResponse = func() string {
	body := `{"status":503,"description":"TooManyConnections","message":"connection limit reached: try later"}`
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		l.mu.Lock()
		over := (l.total > 0 && l.open >= l.total) || (l.perAddr > 0 && l.byAddr[addr] >= l.perAddr)
		if !over {
			l.open++
			l.byAddr[addr]++
		}
		l.mu.Unlock()
		if over {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(overLimitResponse))
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	addr string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		if c.l.byAddr[c.addr]--; c.l.byAddr[c.addr] <= 0 {
			delete(c.l.byAddr, c.addr)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
