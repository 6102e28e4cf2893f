package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// mediaServer serves a fixture four ways: with ranges (ServeContent),
// without ranges, behind a header check, and as a broken stream that drops
// the connection every 64 KB; plus an HTML page, 404 and 500.
func mediaServer(t *testing.T, data []byte, name string) *httptest.Server {
	t.Helper()
	var drops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ranges/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
	mux.HandleFunc("/plain/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
	mux.HandleFunc("/protected/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "secret" {
			http.Error(w, "no token", http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
	mux.HandleFunc("/broken/", func(w http.ResponseWriter, r *http.Request) {
		// Serve ranges, but cut every response after 64 KB.
		rec := httptest.NewRecorder()
		http.ServeContent(rec, r, name, time.Time{}, bytes.NewReader(data))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		if len(body) > 64<<10 {
			w.Write(body[:64<<10])
			drops.Add(1)
			panic(http.ErrAbortHandler)
		}
		w.Write(body)
	})
	mux.HandleFunc("/page/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>a page</title>")
	})
	mux.HandleFunc("/error/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestHTTPStreamDecodeAndSeek plays fixtures over HTTP, with and without
// range support and through a connection that breaks every 64 KB, and
// checks seeks land exactly.
func TestHTTPStreamDecodeAndSeek(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	for _, format := range []string{"wav16", "opus", "flac", "vorbis", "mp3"} {
		fx := fixture{format: format, rate: 44100, channels: 2, signal: "chirp", secs: 4}
		if format == "opus" {
			fx.rate = 48000
		}
		path := fx.make(t, dir)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		srv := mediaServer(t, data, filepath.Base(path))
		res, err := NewResolver(SourceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"ranges", "broken", "plain"} {
			t.Run(format+"/"+mode, func(t *testing.T) {
				u := srv.URL + "/" + mode + "/" + filepath.Base(path)
				mds, err := res.Resolve(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				md := mds[0]
				if md.URL != u || md.IsFile || md.Title == "" {
					t.Errorf("metadata %+v", md)
				}
				if mode != "plain" && format != "mp3" && (!md.HasDuration || md.Duration < 3990*time.Millisecond || md.Duration > 4010*time.Millisecond) {
					t.Errorf("duration %v %v, want 4s", md.Duration, md.HasDuration)
				}
				s, err := res.Open(context.Background(), md)
				if err != nil {
					t.Fatal(err)
				}
				if s.Seekable() != (mode != "plain") {
					t.Errorf("Seekable %v", s.Seekable())
				}
				d, err := Open(context.Background(), s, OpenOptions{Name: u})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				buf := make([]float32, 2*3000)
				check := func(at time.Duration) {
					t.Helper()
					if _, err := io.ReadFull(decoderReader{d}, f32bytes(buf)); err != nil {
						t.Fatalf("read at %v: %v", at, err)
					}
					lag, corr := chirpLag(channel(buf[960:], 0), at.Seconds()+0.01, FrameSamples+48)
					if corr < 0.9 || lag < -FrameSamples || lag > FrameSamples {
						t.Errorf("at %v: lag %d, correlation %.3f", at, lag, corr)
					}
				}
				check(0)
				err = d.Seek(2500 * time.Millisecond)
				if mode == "plain" {
					if !errors.Is(err, ErrNotSeekable) {
						t.Errorf("Seek without ranges: %v, want ErrNotSeekable", err)
					}
					// Plays to the end anyway.
					all := readAll(t, d)
					if n := len(all)/2 + 3000; n < 4*SampleRate-4800 {
						t.Errorf("only %d samples", n)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				check(2500 * time.Millisecond)
				if err := d.Seek(1 * time.Second); err != nil {
					t.Fatal(err)
				}
				check(time.Second)
				all := readAll(t, d)
				if got := len(all)/2 + 3000; got < 3*SampleRate-480 || got > 3*SampleRate+480 {
					t.Errorf("%d samples from 1 s to the end, want %d", got, 3*SampleRate)
				}
			})
		}
		res.Close()
	}
}

// decoderReader lets io.ReadFull fill a float32 buffer through a Decoder.
type decoderReader struct{ d Decoder }

func (r decoderReader) Read(p []byte) (int, error) {
	f := bytesF32(p)
	n, err := r.d.Read(f)
	return 4 * n, err
}

func TestHTTPErrors(t *testing.T) {
	srv := mediaServer(t, []byte("RIFF"), "x.wav")
	res, err := NewResolver(SourceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		q    string
		want error
	}{
		{srv.URL + "/nope", ErrNotFound},
		{srv.URL + "/error/x", ErrSourceUnavailable},
		{srv.URL + "/page/x", ErrNotAudio},
		{"http://127.0.0.1:1/x.mp3", ErrSourceUnavailable},
		{"ytsearch:some song", ErrUnsupportedQuery},
		{"some song", ErrUnsupportedQuery},
		{"ftp://example.com/x.mp3", ErrUnsupportedQuery},
		{"", ErrUnsupportedQuery},
		{"music/x.mp3", ErrUnsupportedQuery},
	} {
		_, err := res.Resolve(ctx, tc.q)
		if !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.q, err, tc.want)
		}
		if err != nil && errors.Is(err, ErrUnsupportedQuery) && !strings.Contains(err.Error(), "http(s) URL") {
			t.Errorf("Resolve(%q): %q does not name what is supported", tc.q, err)
		}
	}
	if _, err := res.Search(ctx, "x"); !errors.Is(err, ErrUnsupportedQuery) {
		t.Errorf("Search without extractor or media dirs: %v", err)
	}
}

// TestHTTPStall: a server that stops sending makes Read fail after the
// idle timeout (with reconnect attempts) rather than hang, and Close from
// another goroutine unblocks a Read at once.
func TestHTTPStall(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := openHTTP(context.Background(), srv.Client(), srv.URL, nil, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	start := time.Now()
	n := 0
	for {
		k, err := s.Read(buf)
		n += k
		if err != nil {
			if !errors.Is(err, ErrSourceUnavailable) {
				t.Errorf("stalled read: %v", err)
			}
			break
		}
	}
	if n != 1000 || time.Since(start) > 3*time.Second {
		t.Errorf("read %d bytes in %v", n, time.Since(start))
	}
	s.Close()

	s, err = openHTTP(context.Background(), srv.Client(), srv.URL, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(s, make([]byte, 1000))
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Read after Close succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

func TestMediaDirs(t *testing.T) {
	requireTool(t, "ffmpeg")
	base := t.TempDir()
	media := filepath.Join(base, "media")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{media, filepath.Join(media, "sub"), outside} {
		os.MkdirAll(d, 0o755)
	}
	fx := fixture{format: "flac", rate: 48000, channels: 2, signal: "tone", secs: 2}
	src := fx.make(t, base)
	data, _ := os.ReadFile(src)
	os.WriteFile(filepath.Join(media, "sub", "Song One.flac"), data, 0o644)
	os.WriteFile(filepath.Join(outside, "secret.flac"), data, 0o644)
	os.Symlink(filepath.Join(outside, "secret.flac"), filepath.Join(media, "escape.flac"))
	os.Symlink(outside, filepath.Join(media, "escapedir"))
	os.Symlink(filepath.Join(media, "sub", "Song One.flac"), filepath.Join(media, "inside.flac"))
	// The media dir given through a symlink works too.
	linkDir := filepath.Join(base, "medialink")
	os.Symlink(media, linkDir)

	res, err := NewResolver(SourceConfig{MediaDirs: []string{linkDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx := context.Background()
	for _, q := range []string{
		"sub/Song One.flac",
		"./sub/../sub/Song One.flac",
		filepath.Join(linkDir, "sub", "Song One.flac"),
		filepath.Join(media, "sub", "Song One.flac"),
		"file://" + filepath.Join(linkDir, "sub", "Song One.flac"),
		"inside.flac",
	} {
		mds, err := res.Resolve(ctx, q)
		if err != nil {
			t.Errorf("Resolve(%q): %v", q, err)
			continue
		}
		md := mds[0]
		if !md.IsFile || !md.HasDuration || md.Duration != 2*time.Second {
			t.Errorf("Resolve(%q) = %+v", q, md)
		}
		s, err := res.Open(ctx, md)
		if err != nil {
			t.Errorf("Open(%q): %v", md.URL, err)
			continue
		}
		d, err := Open(ctx, s, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(readAll(t, d)) / 2; n != 2*SampleRate {
			t.Errorf("%q: %d samples", q, n)
		}
		d.Close()
	}
	for _, tc := range []struct {
		q    string
		want error
	}{
		{"../outside/secret.flac", ErrOutsideMediaDir},
		{"sub/../../outside/secret.flac", ErrOutsideMediaDir},
		{filepath.Join(outside, "secret.flac"), ErrOutsideMediaDir},
		{"/etc/passwd", ErrOutsideMediaDir},
		{"escape.flac", ErrOutsideMediaDir},
		{"escapedir/secret.flac", ErrOutsideMediaDir},
		{"sub/missing.flac", ErrNotFound},
		{"missing words", ErrNotFound},
	} {
		if _, err := res.Resolve(ctx, tc.q); !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.q, err, tc.want)
		}
		// Open refuses the same paths (a forged AudioData url).
		if _, err := res.Open(ctx, Metadata{URL: tc.q}); err == nil {
			t.Errorf("Open(%q) succeeded", tc.q)
		}
	}
	mds, err := res.Search(ctx, "FLAC")
	if err != nil || len(mds) != 2 {
		t.Fatalf("Search = %+v, %v; want the file and its in-dir symlink, not the escaping link", mds, err)
	}
	if mds, err := res.Search(ctx, "song one"); err != nil || len(mds) != 1 || mds[0].Title != "Song One" {
		t.Fatalf("Search = %+v, %v", mds, err)
	}
}

func TestExtractor(t *testing.T) {
	requireTool(t, "ffmpeg")
	checkLeaks(t)
	fake, err := filepath.Abs("testdata/fake-yt-dlp")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := fixture{format: "wav16", rate: 48000, channels: 2, signal: "tone", secs: 3}.make(t, dir)
	data, _ := os.ReadFile(path)
	srv := mediaServer(t, data, "tone.wav")
	t.Setenv("FAKE_YTDLP_BASE", srv.URL)
	res, err := NewResolver(SourceConfig{Extractor: fake, ExtractorTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if !res.ExtractorEnabled() {
		t.Fatal("extractor not enabled")
	}
	ctx := context.Background()

	// A search gives flat entries whose url is the page; Open resolves
	// the page through the extractor and sends its headers.
	for _, q := range []string{"ytsearch:tone", "plain words"} {
		mds, err := res.Resolve(ctx, q)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", q, err)
		}
		if len(mds) != 2 || mds[0].Title != "Tone A" || mds[0].Duration != 3*time.Second || mds[1].HasDuration || mds[1].Uploader != "Chan" {
			t.Fatalf("Resolve(%q) = %+v", q, mds)
		}
		s, err := res.Open(ctx, mds[0])
		if err != nil {
			t.Fatalf("Open(%+v): %v", mds[0], err)
		}
		d, err := Open(ctx, s, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(readAll(t, d)) / 2; n != 3*SampleRate {
			t.Errorf("%d samples", n)
		}
		d.Close()
	}
	// A page URL (HTML) goes to the extractor.
	mds, err := res.Resolve(ctx, srv.URL+"/page/a1")
	if err != nil {
		t.Fatal(err)
	}
	if md := mds[0]; md.URL != srv.URL+"/protected/tone.wav" || md.Headers["X-Token"] != "secret" || md.WebpageURL != srv.URL+"/page/a1" || md.Thumbnail == "" {
		t.Errorf("page metadata %+v", md)
	}
	if mds, err := res.Search(ctx, "tone"); err != nil || len(mds) != 2 {
		t.Errorf("Search = %+v, %v", mds, err)
	}
	for _, tc := range []struct {
		q    string
		want error
	}{
		{"ytsearch:fail", ErrExtractor},
		{"ytsearch:garbage", ErrExtractor},
		{"ytsearch:nothing", ErrNotFound},
		{"ytsearch:slow", ErrExtractor},
		{"rtmp://unsupported/x", ErrUnsupportedQuery},
	} {
		if _, err := res.Resolve(ctx, tc.q); !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.q, err, tc.want)
		}
	}
	// A missing binary disables the extractor.
	res2, _ := NewResolver(SourceConfig{Extractor: filepath.Join(dir, "no-such-yt-dlp")})
	defer res2.Close()
	if res2.ExtractorEnabled() {
		t.Error("missing extractor enabled")
	}
}
