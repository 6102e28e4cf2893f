package protocol

import "errors"

// Decoding errors, returned (wrapped with the facts) by DecodeFrame, ID and
// the request decoders.
var (
	// ErrNotJSON is returned when a frame is not a JSON object.
	ErrNotJSON = errors.New("frame is not JSON")
	// ErrBadFrame is returned when a JSON object lacks a string op.
	ErrBadFrame = errors.New("malformed frame")
	// ErrBadID is returned when an id is not a 64-bit decimal integer.
	ErrBadID = errors.New("malformed id")
	// ErrBadRequest is returned when d or a REST body has the wrong shape.
	ErrBadRequest = errors.New("bad request")
)

// Traceback is the d of a failed op (section 5):
//
//	{"traceback": {"<Kind>": "<message>"}, "guild_id": "<when the request had one>"}
type Traceback struct {
	Traceback map[string]string `json:"traceback"`
	GuildID   ID                `json:"guild_id,omitempty"`
}

// NewTraceback builds the d of an error frame.
func NewTraceback(kind, message string, guild ID) Traceback {
	return Traceback{Traceback: map[string]string{kind: message}, GuildID: guild}
}

// RESTError is the body of every REST error (section 8).
type RESTError struct {
	Status      int    `json:"status"`
	Description string `json:"description"`
	Message     string `json:"message"`
}
