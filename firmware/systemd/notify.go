package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says where notifications go. The zero value sends nothing.
type Config struct {
	// Socket is $NOTIFY_SOCKET: an absolute path or "@abstract-name"; ""
	// disables every notification.
	Socket string
	// Watchdog is $WATCHDOG_USEC as a duration; 0 disables the watchdog
	// (Run only waits).
	Watchdog time.Duration
	// Logger gets failed sends and health checks; nil discards.
	Logger *slog.Logger
}

// ConfigFromEnv reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID
// through getenv (os.Getenv). A $WATCHDOG_PID other than ours disables the
// watchdog; a malformed $WATCHDOG_USEC disables it too and returns
// ErrWatchdogUsec with the config, so that the caller can log it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Socket: getenv("NOTIFY_SOCKET")}
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return cfg, nil
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return cfg, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 || n > uint64(time.Duration(1<<62)/time.Microsecond) {
		return cfg, fmt.Errorf("%w: %q", ErrWatchdogUsec, usec)
	}
	cfg.Watchdog = time.Duration(n) * time.Microsecond
	return cfg, nil
}

// Notifier sends notifications to the service manager.
type Notifier struct {
	addr     *net.UnixAddr // nil: disabled
	watchdog time.Duration
	log      *slog.Logger
}

// New checks cfg.Socket; it opens nothing. On error the Notifier it
// returns is disabled but usable, so a caller may log and carry on.
func New(cfg Config) (*Notifier, error) {
	n := &Notifier{watchdog: cfg.Watchdog, log: cfg.Logger}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Socket == "" {
		return n, nil
	}
	// Go's net package maps a leading "@" to Linux's abstract namespace
	// (a leading NUL byte), as sd_notify(3) specifies.
	if !strings.HasPrefix(cfg.Socket, "/") && !(strings.HasPrefix(cfg.Socket, "@") && len(cfg.Socket) > 1) {
		return n, fmt.Errorf("%w: %q", ErrSocketAddress, cfg.Socket)
	}
	n.addr = &net.UnixAddr{Name: cfg.Socket, Net: "unixgram"}
	return n, nil
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n.addr != nil }

// Watchdog is the watchdog timeout, 0 when there is none.
func (n *Notifier) Watchdog() time.Duration {
	if n.addr == nil {
		return 0
	}
	return n.watchdog
}

// Notify sends the assignments ("READY=1", "STATUS=...") in one datagram.
// Newlines inside a STATUS value would start a new assignment: they are
// replaced by spaces.
func (n *Notifier) Notify(assignments ...string) error {
	if n.addr == nil {
		return nil
	}
	var b strings.Builder
	for i, a := range assignments {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.ReplaceAll(a, "\n", " "))
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("systemd: notifying %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("systemd: notifying %s: %w", n.addr.Name, err)
	}
	return nil
}

// Ready says the service is serving (READY=1), with a status line.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1", "STATUS="+status)
}

// Stopping says the service is shutting down (STOPPING=1).
func (n *Notifier) Stopping(status string) error {
	return n.Notify("STOPPING=1", "STATUS="+status)
}

// Status sets the status line shown by systemctl status.
func (n *Notifier) Status(status string) error {
	return n.Notify("STATUS=" + status)
}

// Run pets the watchdog every Watchdog/2 while healthy returns nil within
// Watchdog/2, until ctx ends; it returns nil then. Without a watchdog it
// only waits for ctx. A failing check sends STATUS=unhealthy: <err> once
// (and again when the reason changes), the first passing check after it
// STATUS=serving.
func (n *Notifier) Run(ctx context.Context, healthy func(context.Context) error) error {
	wd := n.Watchdog()
	if wd <= 0 {
		<-ctx.Done()
		return nil
	}
	period := wd / 2
	tick := time.NewTicker(period)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		checkCtx, cancel := context.WithTimeout(ctx, period)
		err := healthy(checkCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				n.log.Error("health check failed: not petting the systemd watchdog", "err", err, "watchdog", wd)
				n.send(fmt.Sprintf("STATUS=unhealthy: %v", err))
			}
			continue
		}
		if lastErr != "" {
			lastErr = ""
			n.log.Info("health check passes again")
			n.send("WATCHDOG=1", "STATUS=serving")
			continue
		}
		n.send("WATCHDOG=1")
	}
}

// send notifies and logs a failure; the watchdog loop carries on (a
// missing manager socket is systemd's problem to report).
func (n *Notifier) send(assignments ...string) {
	if err := n.Notify(assignments...); err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("systemd notification failed", "err", err)
	}
}
