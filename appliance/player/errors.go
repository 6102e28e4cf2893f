package player

import "errors"

// Errors returned by New and Run.
var (
	// ErrNoHost is returned by New when Config.Host is nil.
	ErrNoHost = errors.New("player: Config.Host is required")
	// ErrNoOpener is returned by New when Config.Opener is nil.
	ErrNoOpener = errors.New("player: Config.Opener is required")
	// ErrRunning is returned by Run when it is called a second time.
	ErrRunning = errors.New("player: Run was already called")
)

// Errors returned by the controls (Seek, Skip).
var (
	// ErrNotPlaying is returned by Seek and Skip when no source is
	// audible.
	ErrNotPlaying = errors.New("player: nothing is playing")
	// ErrNotSeekable is returned by Seek when the current source's stream
	// cannot seek (an HTTP server without range requests, a pipe).
	ErrNotSeekable = errors.New("player: the current source cannot seek")
	// ErrNegativeSeek is returned by Seek for an offset below zero.
	ErrNegativeSeek = errors.New("player: negative seek offset")
)

// Errors handed to Host.SourceTraceback and Host.PlayerTraceback (wrapped
// with the facts).
var (
	// ErrOpen wraps why a source could not be opened (Opener.Open or the
	// container/decoder setup).
	ErrOpen = errors.New("player: cannot open source")
	// ErrDecode wraps an error of a source's decoder after it opened.
	ErrDecode = errors.New("player: source failed while decoding")
	// ErrEmpty is returned for a source that opened but holds no audio.
	ErrEmpty = errors.New("player: source holds no audio")
	// ErrSeek wraps a seek that failed on a seekable source; the source is
	// dropped like one that fails while decoding.
	ErrSeek = errors.New("player: seek failed")
	// ErrPanic wraps a panic recovered in one of the player's goroutines
	// or in NextFrame.
	ErrPanic = errors.New("player: recovered panic")
	// ErrEncode wraps an Opus encoder error (the frame is dropped).
	ErrEncode = errors.New("player: Opus encoder failed")
)
