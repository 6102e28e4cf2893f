package systemd

import "errors"

var (
	// ErrSocketAddress is returned by New when $NOTIFY_SOCKET is neither
	// an absolute path nor an abstract name ("@name"), such as the vsock:
	// addresses of newer systemd versions.
	ErrSocketAddress = errors.New("systemd: unsupported NOTIFY_SOCKET address")
	// ErrWatchdogUsec is returned by ConfigFromEnv when $WATCHDOG_USEC is
	// set but is not a positive number of microseconds.
	ErrWatchdogUsec = errors.New("systemd: bad WATCHDOG_USEC")
)
