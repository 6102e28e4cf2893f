package voice

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultHeartbeatMisses   = 3
	DefaultReconnectDelay    = 1 * time.Second
	DefaultMaxReconnectDelay = 30 * time.Second
	DefaultMaxAttempts       = 5
	DefaultDiscoveryWait     = discoveryWait
)

// Config describes one Discord voice connection. Endpoint, GuildID,
// ChannelID, UserID, SessionID and Token are required; every other zero
// value means the default.
type Config struct {
	// Endpoint is VOICE_SERVER_UPDATE's endpoint: host[:port], dialled as
	// wss://host[:port]/?v=8; a ws:// or wss:// URL is dialled as given,
	// with v=8 added when its query has no v.
	Endpoint string
	// GuildID is sent as server_id.
	GuildID uint64
	// ChannelID is the voice channel: the DAVE group id. Required.
	ChannelID uint64
	// UserID is the bot's user id.
	UserID uint64
	// SessionID is the bot's voice session_id (VOICE_STATE_UPDATE).
	SessionID string
	// Token is VOICE_SERVER_UPDATE's token.
	Token string

	// Source is the initial frame source; nil sends nothing. See SetSource.
	Source FrameSource

	// NewE2EE builds the DAVE session at every fresh Identify. nil offers
	// max_dave_protocol_version 0 (tests only: Discord answers 4017).
	NewE2EE func(userID, channelID uint64, send func(op int, payload []byte, binary bool) error) (E2EE, error)

	// OnEvent receives connection events. It is called from one goroutine
	// of the connection, in order; events beyond a small queue are dropped
	// (and logged) rather than block the connection.
	OnEvent func(Event)

	// ObserveSend, when set, is called from the send loop after each
	// packet with how far from its slot of the 20 ms grid it left, early
	// or late (the loop aims timerLead early: see sender.go), for metrics.
	// It must be cheap and must not block or allocate.
	ObserveSend func(deviation time.Duration)

	// Logger defaults to discarding.
	Logger *slog.Logger

	// TLSConfig for wss:// endpoints; nil uses the system trust store
	// (SSL_CERT_FILE honoured). It is cloned, never modified.
	TLSConfig *tls.Config
	// DialContext dials the websocket's TCP connection; nil uses net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// HandshakeTimeout bounds dial + upgrade + Ready/Resumed + Session
	// Description, including IP discovery.
	HandshakeTimeout time.Duration
	// HeartbeatMisses is how many heartbeat ACKs in a row may be missing
	// before the socket is closed and resumed (§1.7).
	HeartbeatMisses int
	// ReconnectDelay is the first backoff step between failed attempts; it
	// doubles up to MaxReconnectDelay. The first retry after a working
	// session goes out at once.
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration
	// MaxAttempts is how many connection attempts in a row may fail
	// (no Ready/Resumed reached) before Run gives up with ErrGaveUp.
	MaxAttempts int
	// DiscoveryWait is how long one IP discovery attempt waits for its answer.
	DiscoveryWait time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.HeartbeatMisses <= 0 {
		c.HeartbeatMisses = DefaultHeartbeatMisses
	}
	if c.ReconnectDelay <= 0 {
		c.ReconnectDelay = DefaultReconnectDelay
	}
	if c.MaxReconnectDelay <= 0 {
		c.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	c.MaxReconnectDelay = max(c.MaxReconnectDelay, c.ReconnectDelay)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.DiscoveryWait <= 0 {
		c.DiscoveryWait = DefaultDiscoveryWait
	}
	if c.DialContext == nil {
		d := &net.Dialer{}
		c.DialContext = d.DialContext
	}
}

func (c *Config) validate() error {
	if c.ChannelID == 0 {
		return ErrNoChannel
	}
	switch {
	case c.GuildID == 0:
		return fmt.Errorf("%w: GuildID", ErrMissingField)
	case c.UserID == 0:
		return fmt.Errorf("%w: UserID", ErrMissingField)
	case c.SessionID == "":
		return fmt.Errorf("%w: SessionID", ErrMissingField)
	case c.Token == "":
		return fmt.Errorf("%w: Token", ErrMissingField)
	}
	_, err := gatewayURL(c.Endpoint)
	return err
}

// gatewayURL turns a VOICE_SERVER_UPDATE endpoint into the URL to dial
// (discord-voice.md §1.2, node-protocol.md "DISCORD_EVENT handling").
//
// Decision: a bare endpoint ending in ":80" is dialled on 443. Discord used
// to send ":80" with endpoints that only speak TLS on 443; wss to port 80
// never works. Any other port is kept.
func gatewayURL(endpoint string) (string, error) {
	endpoint = strings.TrimSpace(endpoint)
	if endpoint == "" {
		return "", ErrNoEndpoint
	}
	if strings.HasPrefix(endpoint, "ws://") || strings.HasPrefix(endpoint, "wss://") {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%w: %q", ErrBadEndpoint, endpoint)
		}
		q := u.Query()
		if !q.Has("v") {
			q.Set("v", "8")
			u.RawQuery = q.Encode()
		}
		if u.Path == "" {
			u.Path = "/"
		}
		return u.String(), nil
	}
	if strings.ContainsAny(endpoint, "/?#@ \t") || strings.Contains(endpoint, "://") {
		return "", fmt.Errorf("%w: %q is not host[:port]", ErrBadEndpoint, endpoint)
	}
	host := strings.TrimSuffix(endpoint, ":80")
	u, err := url.Parse("wss://" + host + "/?v=8")
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%w: %q", ErrBadEndpoint, endpoint)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", fmt.Errorf("%w: %q: port %q", ErrBadEndpoint, endpoint, p)
		}
	}
	return u.String(), nil
}
