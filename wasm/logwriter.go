package wasm

import (
	"bytes"
	"sync"
	"time"
)

// Guest output (WASI fd_write to stdout or stderr) goes to the node's log
// line by line, through one token bucket per Host so that a chatty filter
// cannot flood the log: lineRate lines per second, bursts of lineBurst.
const (
	lineRate  = 10
	lineBurst = 20
	maxLine   = 512 // longer lines are cut
)

// lineLimiter is the Host's token bucket.
type lineLimiter struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

func (l *lineLimiter) init() { l.tokens = lineBurst }

// allow takes a token; it returns false when none is left, and the number
// of lines dropped since the last allowed one.
func (l *lineLimiter) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(lineBurst, l.tokens+now.Sub(l.last).Seconds()*lineRate)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// logWriter is the stdout and stderr of one instance. The guest writes from
// the goroutine that calls it, one call at a time.
type logWriter struct {
	h      *Host
	filter string
	line   []byte
}

func newLogWriter(h *Host, filter string) *logWriter {
	return &logWriter{h: h, filter: filter}
}

func (w *logWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLine - len(w.line)
			if len(p) < room {
				w.line = append(w.line, p...)
				break
			}
			w.line = append(w.line, p[:room]...)
			p = p[room:]
			w.flush()
			continue
		}
		w.line = append(w.line, p[:min(i, maxLine-len(w.line))]...)
		p = p[i+1:]
		w.flush()
	}
	return n, nil
}

// flush logs the pending line, if any.
func (w *logWriter) flush() {
	if len(w.line) == 0 {
		return
	}
	ok, dropped := w.h.lines.allow(time.Now())
	if ok {
		if dropped > 0 {
			w.h.log.Warn("wasm: filter output rate-limited", "dropped_lines", dropped)
		}
		w.h.log.Info("wasm: filter output", "filter", w.filter, "line", string(w.line))
	}
	w.line = w.line[:0]
}
