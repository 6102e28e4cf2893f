package bench

import "errors"

var (
	// ErrConfig is returned when a run's configuration or the command
	// line cannot work (unknown mode, a filter without PCM, a bad list).
	ErrConfig = errors.New("bench: bad configuration")
	// ErrMedia is returned when the media files cannot be written.
	ErrMedia = errors.New("bench: cannot prepare media")
	// ErrSink is returned when the fake voice server's process does not
	// start or answer.
	ErrSink = errors.New("bench: fake voice server")
	// ErrStartup is returned when streams do not all send (and encrypt,
	// with DAVE) within the start-up limit.
	ErrStartup = errors.New("bench: streams did not start")
	// ErrProc is returned when /proc cannot be read (not Linux).
	ErrProc = errors.New("bench: /proc unreadable")
	// ErrNode is returned when the node binary of a latency run does not
	// start, serve or play.
	ErrNode = errors.New("bench: node")
)
