package voice

import (
	"errors"
	"fmt"
)

// Configuration errors, returned by New.
var (
	// ErrNoEndpoint is returned when Config.Endpoint is empty: Discord sent
	// a null endpoint, which means "wait for another VOICE_SERVER_UPDATE".
	ErrNoEndpoint = errors.New("voice: no endpoint")
	// ErrBadEndpoint is returned when Config.Endpoint is not host[:port] nor a ws:// or wss:// URL.
	ErrBadEndpoint = errors.New("voice: bad endpoint")
	// ErrNoChannel is returned when Config.ChannelID (or SetChannel's id) is 0:
	// the channel id is the DAVE group id and cannot be left out.
	ErrNoChannel = errors.New("voice: channel id required")
	// ErrMissingField is returned when GuildID, UserID, SessionID or Token is empty.
	ErrMissingField = errors.New("voice: missing field")
)

// Lifecycle errors.
var (
	// ErrClosed is returned by Run after Close, and by methods that need a running connection.
	ErrClosed = errors.New("voice: connection closed")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("voice: Run called twice")
	// ErrNotConnected is returned by the E2EE send function while no websocket is open.
	ErrNotConnected = errors.New("voice: gateway not connected")
	// ErrGaveUp is returned by Run when MaxAttempts connection attempts in a
	// row failed without reaching Ready or Resumed (network down, voice server gone).
	ErrGaveUp = errors.New("voice: gave up reconnecting")
)

// Protocol errors: what the voice server sent could not be used. They are
// wrapped with the facts and logged; the ones that end a session say so.
var (
	// ErrMalformed is returned by the gateway payload parsers for bytes that
	// do not have the shape of discord-voice.md §1.3–1.5.
	ErrMalformed = errors.New("voice: malformed gateway payload")
	// ErrDiscovery is returned when IP discovery (§2.1) got no valid answer.
	ErrDiscovery = errors.New("voice: IP discovery failed")
	// ErrNoMode is returned when Ready offers neither supported encryption mode.
	ErrNoMode = errors.New("voice: no supported encryption mode offered")
	// ErrBadKey is returned when Session Description's secret_key is not 32 bytes.
	ErrBadKey = errors.New("voice: bad secret key")
	// ErrHeartbeatLost is the reason of a reconnect after HeartbeatMisses missing ACKs.
	ErrHeartbeatLost = errors.New("voice: heartbeat ACKs missing")
	// ErrHandshakeTimeout is the reason of a reconnect when Ready/Resumed did not come in time.
	ErrHandshakeTimeout = errors.New("voice: handshake timed out")
)

// Send path errors.
var (
	// ErrNonceExhausted is returned by the packetizer when 2^32 packets were
	// sealed under one key: the next nonce would repeat. The connection then
	// identifies afresh, which brings a new key.
	ErrNonceExhausted = errors.New("voice: transport nonce exhausted")
	// ErrFrameTooLarge is returned when a frame does not fit a packet.
	ErrFrameTooLarge = errors.New("voice: frame too large")
)

// CloseError is what Run returns when the voice server ended the
// connection for good with a close code (discord-voice.md §1.9).
type CloseError struct {
	Code   int    // the websocket close code, e.g. 4014
	Reason string // the close reason the server gave, may be empty
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("voice: closed with %d (%s)", e.Code, CloseCodeText(e.Code))
	}
	return fmt.Sprintf("voice: closed with %d (%s): %s", e.Code, CloseCodeText(e.Code), e.Reason)
}

// Reconnectable reports whether a new VOICE_SERVER_UPDATE (a new Conn)
// may bring the connection back: bad token (4004), session gone after a
// failed re-identify (4006), server not found (4011), session timeout (4009).
// The bot is asked for a fresh voice server update.
func (e *CloseError) Reconnectable() bool {
	switch e.Code {
	case 4004, 4006, 4009, 4011:
		return true
	}
	return false
}

// SessionOver reports whether the call is over for this bot: disconnected,
// kicked or moved (4014) or call terminated (4022). The node reports
// VC_DESTROYED for these, after VC_ERROR.
func (e *CloseError) SessionOver() bool {
	return e.Code == 4014 || e.Code == 4022
}

// OurBug reports whether the code says the node sent something wrong
// (4001, 4002, 4003, 4005, 4012, 4016, 4017, 4020): never retried in a loop.
func (e *CloseError) OurBug() bool {
	switch e.Code {
	case 4001, 4002, 4003, 4005, 4012, 4016, 4017, 4020:
		return true
	}
	return false
}
