package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Stream is the byte stream of a source: what Resolver.Open returns and
// Open decodes. Seek works when Seekable says so (a media-dir file, an
// HTTP server with range requests); Size is -1 when unknown.
type Stream interface {
	io.ReadSeekCloser
	Seekability
	Size() int64
}

const (
	defaultIdleTimeout = 15 * time.Second // no byte for this long: reconnect
	httpRetries        = 3                // reconnects per failure before giving up
	maxForwardDiscard  = 1 << 20          // forward "seek" by reading, without ranges
)

// httpStream reads an http(s) URL. With range support it seeks by
// reconnecting with "Range: bytes=N-" and reconnects at the current offset
// when the connection breaks or stalls (no byte for IdleTimeout). Close
// cancels an ongoing request, so it unblocks a Read from another goroutine.
type httpStream struct {
	client *http.Client
	url    string
	header http.Header
	idle   time.Duration

	ctx    context.Context // cancelled by Close; not the caller's
	cancel context.CancelFunc

	body     io.ReadCloser
	reqStop  context.CancelFunc
	watchdog *time.Timer
	off      int64
	size     int64
	ranges   bool
	ctype    string
}

// openHTTP connects to url (ctx bounds this first request) and returns the
// stream positioned at 0.
func openHTTP(ctx context.Context, client *http.Client, url string, header http.Header, idle time.Duration) (*httpStream, error) {
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	s := &httpStream{client: client, url: url, header: header, idle: idle, size: -1}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, s.cancel) // the caller gives up while connecting
	err := s.connect(0, true)
	if !stop() || ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// connect opens a request for the bytes from off on.
func (s *httpStream) connect(off int64, first bool) error {
	rctx, stop := context.WithCancel(s.ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.url, nil)
	if err != nil {
		stop()
		return fmt.Errorf("%w: %v", ErrUnsupportedQuery, err)
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	if first || s.ranges {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	watchdog := time.AfterFunc(s.idle, stop)
	resp, err := s.client.Do(req)
	if err != nil {
		watchdog.Stop()
		stop()
		return fmt.Errorf("%w: %s: %v", ErrSourceUnavailable, redactURL(s.url), err)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		s.ranges = true
		if total := contentRangeTotal(resp.Header.Get("Content-Range")); total >= 0 {
			s.size = total
		}
	case resp.StatusCode == http.StatusOK:
		if first {
			s.ranges = false
			s.size = resp.ContentLength
		}
		if off > 0 {
			// The server ignored the range: skip to off.
			if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
				resp.Body.Close()
				watchdog.Stop()
				stop()
				return fmt.Errorf("%w: %s: %v", ErrSourceUnavailable, redactURL(s.url), err)
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && !first:
		resp.Body.Close()
		watchdog.Stop()
		stop()
		return io.EOF
	default:
		resp.Body.Close()
		watchdog.Stop()
		stop()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			return fmt.Errorf("%w: %s answered %s", ErrNotFound, redactURL(s.url), resp.Status)
		}
		return fmt.Errorf("%w: %s answered %s", ErrSourceUnavailable, redactURL(s.url), resp.Status)
	}
	if first {
		s.ctype = resp.Header.Get("Content-Type")
	}
	s.body, s.reqStop, s.watchdog, s.off = resp.Body, stop, watchdog, off
	return nil
}

func (s *httpStream) disconnect() {
	if s.body == nil {
		return
	}
	s.watchdog.Stop()
	s.reqStop()
	s.body.Close()
	s.body = nil
}

func (s *httpStream) Read(p []byte) (int, error) {
	if s.ctx.Err() != nil {
		return 0, ErrClosed
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if s.body == nil {
			if s.size >= 0 && s.off >= s.size {
				return 0, io.EOF
			}
			if err := s.connect(s.off, false); err != nil {
				if errors.Is(err, io.EOF) {
					return 0, io.EOF
				}
				return 0, errors.Join(err, lastErr)
			}
		}
		s.watchdog.Reset(s.idle)
		n, err := s.body.Read(p)
		s.off += int64(n)
		if n > 0 {
			return n, nil
		}
		if err == nil {
			continue
		}
		s.disconnect()
		if s.ctx.Err() != nil {
			return 0, ErrClosed
		}
		if errors.Is(err, io.EOF) && (s.size < 0 || s.off >= s.size) {
			return 0, io.EOF
		}
		// A broken or stalled connection, or an early end: reconnect at
		// off when the server takes ranges.
		if !s.ranges || attempt >= httpRetries {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("%w: %s at byte %d: %v", ErrSourceUnavailable, redactURL(s.url), s.off, err)
		}
		lastErr = err
	}
}

func (s *httpStream) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		if s.size < 0 {
			return 0, fmt.Errorf("%w: size unknown", ErrNotSeekable)
		}
		offset += s.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: offset %d", ErrNegativeSeek, offset)
	}
	if offset == s.off {
		return offset, nil
	}
	if !s.ranges {
		if d := offset - s.off; d > 0 && d <= maxForwardDiscard {
			if _, err := io.CopyN(io.Discard, s, d); err != nil {
				return s.off, err
			}
			return s.off, nil
		}
		return s.off, fmt.Errorf("%w: %s takes no range requests", ErrNotSeekable, redactURL(s.url))
	}
	s.disconnect()
	s.off = offset
	return offset, nil
}

func (s *httpStream) Seekable() bool { return s.ranges }
func (s *httpStream) Size() int64    { return s.size }

// ContentType returns the first response's Content-Type.
func (s *httpStream) ContentType() string { return s.ctype }

// Close cancels the stream's context: an ongoing request or body read
// fails at once and the transport drops the connection. It is safe to call
// while another goroutine is in Read, and idempotent.
func (s *httpStream) Close() error {
	s.cancel()
	return nil
}

// contentRangeTotal parses "bytes a-b/total"; -1 when absent or "*".
func contentRangeTotal(v string) int64 {
	_, total, ok := strings.Cut(v, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// redactURL drops the query of a URL for messages: stream URLs carry
// signatures and tokens.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
