package dave

import "errors"

// Gateway message errors: returned by Handle.
var (
	// ErrNotStarted is returned by Handle before Start.
	ErrNotStarted = errors.New("dave: session not started")
	// ErrPayload is returned for a gateway message whose JSON or binary
	// body does not parse.
	ErrPayload = errors.New("dave: malformed gateway payload")
	// ErrExternalSender is returned when op 25 tries to replace the
	// external sender of an established group.
	ErrExternalSender = errors.New("dave: external sender change in an established group")
	// ErrProposal is returned when an op 27 proposal is refused: not from
	// the external sender, not Add or Remove, an Add for an unknown user,
	// or a revoke of an unknown reference.
	ErrProposal = errors.New("dave: proposal refused")
	// ErrUnknownTransition is returned for op 22 naming a transition that
	// was never prepared.
	ErrUnknownTransition = errors.New("dave: unknown transition")
	// ErrVersion is returned for a protocol version other than 0 and 1.
	ErrVersion = errors.New("dave: unsupported protocol version")
)

// Media frame errors: returned by EncryptOpus and Decrypt.
var (
	// ErrFrame is returned for a frame that is not a well-formed DAVE
	// frame (§3.7 of the voice spec): short, no FA FA marker, bad
	// supplemental size, bad ULEB128, unencrypted ranges in audio.
	ErrFrame = errors.New("dave: malformed media frame")
	// ErrNoKey is returned when no key ratchet is known for the sender.
	ErrNoKey = errors.New("dave: no key for sender")
	// ErrGeneration is returned for a generation outside the accepted
	// window: older than the kept ratchets, or further ahead than time
	// allows.
	ErrGeneration = errors.New("dave: generation out of range")
	// ErrReplay is returned for a nonce already received.
	ErrReplay = errors.New("dave: replayed nonce")
	// ErrAuth is returned when a frame's tag does not verify under any
	// kept key.
	ErrAuth = errors.New("dave: frame authentication failed")
	// ErrPlaintext is returned for a frame without the DAVE marker outside
	// a passthrough window.
	ErrPlaintext = errors.New("dave: unencrypted frame outside passthrough")
)
