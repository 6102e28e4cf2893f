// Package systemd speaks the sd_notify protocol to the service manager:
// READY=1 once the node serves, WATCHDOG=1 while a health check passes,
// STOPPING=1 at shutdown and STATUS= lines for `systemctl status`. It is
// pure Go (no libsystemd) and imports nothing from the project.
//
// # Basics
//
//	sd, err := systemd.New(systemd.ConfigFromEnv(os.Getenv))
//	// ... once the listener serves:
//	sd.Ready("serving on :8000")
//	go sd.Run(ctx, node.Healthy) // pets the watchdog while healthy
//	// ... at shutdown:
//	sd.Stopping("shutting down")
//
// Outside systemd (no $NOTIFY_SOCKET) every method does nothing and Run
// just waits for its context, so main calls them unconditionally.
//
// # The protocol
//
// A message is one datagram of newline-separated KEY=VALUE assignments
// sent to the AF_UNIX SOCK_DGRAM socket named by $NOTIFY_SOCKET: an
// absolute path, or an abstract name written with a leading "@"
// (sd_notify(3)). The kernel attaches our credentials, by which systemd
// checks NotifyAccess=main. The vsock: addresses of systemd 254 and later
// are refused with ErrSocketAddress (the node's unit does not need them).
//
// The watchdog: with WatchdogSec= set, systemd exports $WATCHDOG_USEC (and
// $WATCHDOG_PID, which must be ours, else the watchdog is someone else's)
// and kills the service when no WATCHDOG=1 arrives within that time after
// READY=1. Run checks health every WatchdogSec/2, as sd_watchdog_enabled(3)
// advises, each check bounded by WatchdogSec/2, and pets only when it
// passed.
//
// # Lifecycle and goroutines
//
// New starts nothing and opens nothing. Each notification opens a socket,
// sends one datagram and closes it, as libsystemd does: a manager that
// re-executes (systemctl daemon-reexec) gets a new socket inode under the
// same name, which a long-lived connected socket would miss. That costs a
// few microseconds every WatchdogSec/2. Run blocks until its context ends
// and starts no goroutine; the health function runs on Run's goroutine.
// There is nothing to close.
//
// # Why no WATCHDOG=trigger on a failed check
//
// A failed check (the node's loop is stuck, the store cannot be read) only
// stops the petting and says why in STATUS=. If the node recovers within
// WatchdogSec (a slow SD card, a long garbage collection on a small
// board), nothing happens; if not, systemd kills and restarts it, which is
// what Restart=always is for. Triggering at once would turn one slow read
// into a restart and a lost voice session.
package systemd
