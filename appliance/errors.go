package appliance

import (
	"errors"
	"fmt"

	"github.com/discodo-go/discodo/appliance/protocol"
)

// Errors of node operations. The server maps them to tracebacks and HTTP
// statuses through Kind and Status.
var (
	// ErrManagerNotFound is returned when no manager has the given tag.
	ErrManagerNotFound = errors.New("ClientManager not found")
	// ErrVoiceClientNotFound is returned when the manager has no voice
	// client for the guild.
	ErrVoiceClientNotFound = errors.New("VoiceClient not found")
	// ErrVoiceClientMismatch is returned when a REST VoiceClient-ID header
	// names another voice client than the guild's.
	ErrVoiceClientMismatch = errors.New("VoiceClient ID mismatch")
	// ErrNotPlaying is returned by operations that need a current source.
	ErrNotPlaying = errors.New("nothing is playing")
	// ErrBadRequest is returned for input the client got wrong.
	ErrBadRequest = protocol.ErrBadRequest
	// ErrQueueFull is returned when a putSource would exceed the queue cap.
	ErrQueueFull = errors.New("queue is full")
	// ErrQueueItemNotFound is returned when an index or tag names no entry.
	ErrQueueItemNotFound = errors.New("queue item not found")
	// ErrTooManySessions is returned by Identify beyond Config.MaxSessions.
	ErrTooManySessions = errors.New("too many sessions")
	// ErrNotSupported is returned when a feature needs a part of the node
	// that is not configured (a source resolver, the player).
	ErrNotSupported = errors.New("not supported")
	// ErrSourceNotFound is returned when a query names nothing that exists.
	ErrSourceNotFound = errors.New("source not found")
	// ErrUpstream is returned when a source's server or the extractor
	// failed: not the client's fault, not the node's.
	ErrUpstream = errors.New("upstream failure")
	// ErrFilterNotFound is returned when no uploaded filter has the name.
	ErrFilterNotFound = errors.New("filter not found")
	// ErrClosed is returned after the node shut down.
	ErrClosed = errors.New("node is shutting down")
)

// Kind returns the traceback kind (node-protocol.md section 5) of err.
func Kind(err error) string {
	switch {
	case errors.Is(err, ErrVoiceClientNotFound), errors.Is(err, ErrVoiceClientMismatch):
		return protocol.KindVoiceClientMissing
	case errors.Is(err, ErrNotPlaying):
		return protocol.KindNotPlaying
	case errors.Is(err, ErrNotSupported):
		return protocol.KindNotSupported
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrQueueFull), errors.Is(err, ErrQueueItemNotFound),
		errors.Is(err, ErrTooManySessions), errors.Is(err, ErrManagerNotFound), errors.Is(err, ErrSourceNotFound):
		return protocol.KindBadRequest
	case errors.Is(err, ErrUpstream):
		return "SourceUnavailable"
	}
	return protocol.KindInternal
}

// Status returns the HTTP status for err (node-protocol.md section 8): 4xx
// for everything the client got wrong, 500 only for the node's own faults.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrManagerNotFound), errors.Is(err, ErrVoiceClientNotFound), errors.Is(err, ErrQueueItemNotFound),
		errors.Is(err, ErrSourceNotFound), errors.Is(err, ErrFilterNotFound):
		return 404
	case errors.Is(err, ErrUpstream):
		return 502
	case errors.Is(err, ErrVoiceClientMismatch):
		return 403
	case errors.Is(err, ErrNotSupported):
		return 501
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrNotPlaying), errors.Is(err, ErrQueueFull), errors.Is(err, ErrTooManySessions):
		return 400
	case errors.Is(err, ErrClosed):
		return 503
	}
	return 500
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}
