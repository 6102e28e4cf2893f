// Package server is the node's front door: one http.Handler serving the
// websocket /ws (with github.com/lxzan/gws) and the REST API of
// node-protocol.md section 8 on the same port.
//
// # Lifecycle
//
// [New] builds the handler; [Server.ServeHTTP] runs in the http.Server's
// goroutines. Each websocket lives in the goroutine of its upgrade request:
// that goroutine runs gws's read loop and owns the socket's one writer
// goroutine, which it stops and waits for before returning. [Server.Close]
// closes every socket with 1001 and waits until their goroutines are gone;
// http.Server.Shutdown does not track hijacked connections, so main calls
// both.
//
// # Why a bounded queue and "too slow → drop"
//
// Events of one manager fan out to every socket watching it, from under the
// manager's lock. A socket whose client stops reading must not stall the
// node or the other sockets, so each socket has a bounded outbound queue
// (Config.OutboundQueue frames); when it is full the socket is closed with
// 4008 and a reason, as centrifuge does, rather than waited on.
//
// # Why the password is checked before the upgrade but told after it
//
// The seed wants FORBIDDEN as a websocket frame. The node decides before
// upgrading (nothing of the session is created for a stranger), upgrades
// anyway, sends {"op":"FORBIDDEN","d":"<why>"} and closes with 4001.
// discodo left such sockets open forever.
package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/sysstat"
)

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultHeartbeatTimeout  = 60 * time.Second
	DefaultOutboundQueue     = 1024
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxBodyBytes      = 1 << 20
)

// Config configures the server. The zero value works except for Password,
// which must be set.
type Config struct {
	Password          string
	HeartbeatInterval time.Duration // sent in HELLO
	HeartbeatTimeout  time.Duration // a silent socket is closed (4009)
	MaxFrameBytes     int           // larger frames: ERROR FrameTooLarge, then 1009
	OutboundQueue     int           // frames queued per socket before 4008
	WriteTimeout      time.Duration // per frame written
	Version           string        // sent in HELLO and GET /
	Logger            *slog.Logger
	// Metrics serves GET /metrics (behind Authorization); nil answers 404.
	Metrics http.Handler
}

// Server serves /ws and the REST API.
type Server struct {
	cfg      Config
	node     *appliance.Node
	log      *slog.Logger
	password [32]byte
	stats    *sysstat.Sampler
	mux      *http.ServeMux
	upgrader *gws.Upgrader

	mu      sync.Mutex
	sockets map[*socket]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// New returns the handler for node.
func New(cfg Config, node *appliance.Node) (*Server, error) {
	if cfg.Password == "" {
		return nil, fmt.Errorf("server: a password is required")
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = protocol.MaxFrameBytes
	}
	if cfg.OutboundQueue <= 0 {
		cfg.OutboundQueue = DefaultOutboundQueue
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		node:     node,
		log:      cfg.Logger,
		password: sha256.Sum256([]byte(cfg.Password)),
		stats:    sysstat.New(),
		sockets:  make(map[*socket]struct{}),
	}
	s.upgrader = newUpgrader(s)
	s.routes()
	return s, nil
}

// ServeHTTP routes /ws and the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serveMux(w, r)
}

// authorized compares the Authorization header with the password in
// constant time (over SHA-256 digests, so the length leaks nothing either).
// "Bearer <password>" is accepted too, for Prometheus scrapers.
func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	plain := sha256.Sum256([]byte(got))
	bearer := sha256.Sum256([]byte(strings.TrimPrefix(got, "Bearer ")))
	return subtle.ConstantTimeCompare(plain[:], s.password[:])|subtle.ConstantTimeCompare(bearer[:], s.password[:]) == 1
}

// Close closes every websocket with 1001 ("going away") and waits for their
// goroutines. Later upgrades are refused. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	socks := make([]*socket, 0, len(s.sockets))
	for so := range s.sockets {
		socks = append(socks, so)
	}
	s.mu.Unlock()
	for _, so := range socks {
		so.kill(protocol.CloseGoingAway, "the node is shutting down")
	}
	s.wg.Wait()
}

// status builds the STATUS object.
func (s *Server) status() map[string]any {
	f := s.stats.Read()
	n := s.node.Snapshot()
	st := map[string]any{
		"UsedMemory": f.UsedMemory, "TotalMemory": f.TotalMemory,
		"ProcessLoad": f.ProcessLoad, "TotalLoad": f.TotalLoad,
		"Cores": f.Cores, "Threads": f.Threads,
		"NetworkInbound": f.NetworkInbound, "NetworkOutbound": f.NetworkOutbound,
		"Players": n.Players, "PlayingPlayers": n.Playing,
		"Uptime":     time.Since(startTime).Seconds(),
		"FrameStats": map[string]uint64{"sent": n.Frames, "nulled": n.Nulled, "deficit": n.Deficit},
	}
	if f.Temperature != nil {
		st["Temperature"] = *f.Temperature
	}
	return st
}

var startTime = time.Now()
