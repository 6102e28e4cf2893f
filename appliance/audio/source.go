package audio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// SourceConfig configures a Resolver. The zero value works: http(s) URLs
// only.
type SourceConfig struct {
	// MediaDirs are the directories local queries may read (--media-dir).
	MediaDirs []string
	// HTTPClient fetches http(s) sources; nil means a client with dial and
	// response-header timeouts and no overall timeout (streams are long).
	HTTPClient *http.Client
	// Extractor is the yt-dlp binary (a path, or a name looked up in PATH);
	// "" disables page URLs and searches.
	Extractor string
	// ExtractorTimeout bounds one extractor run; 0 means 30 s.
	ExtractorTimeout time.Duration
	// IdleTimeout is how long an HTTP stream may deliver no byte before it
	// reconnects (and, after retries, fails); 0 means 15 s.
	IdleTimeout time.Duration
	// SearchLimit is the number of results of Search; 0 means 10.
	SearchLimit int
}

// Metadata is what resolving a query learns about one source; the node
// turns it into an AudioData.
type Metadata struct {
	ID          string
	Title       string
	URL         string // what Open plays: an http(s) URL or a media-dir path
	WebpageURL  string // the page it came from (extractor), or URL
	Thumbnail   string
	Uploader    string
	Description string
	Duration    time.Duration
	HasDuration bool
	IsLive      bool
	IsFile      bool
	// Headers are HTTP headers the extractor says URL needs.
	Headers map[string]string
	// Resolver is "http", "file" or "extractor".
	Resolver string
}

// Resolver turns queries into sources (node-protocol.md section 8,
// "Queries and sources") and opens them. It holds the media directories
// open (os.Root) until Close. It is safe for concurrent use.
type Resolver struct {
	cfg       SourceConfig
	client    *http.Client
	extractor string // resolved binary, "" when disabled or missing
	roots     []mediaRoot
}

type mediaRoot struct {
	dir  string // as configured, made absolute
	real string // with symlinks resolved
	root *os.Root
}

const (
	defaultExtractorTimeout = 30 * time.Second
	defaultSearchLimit      = 10
	probeTimeout            = 10 * time.Second
)

// NewResolver opens the media directories; it fails when one cannot be
// opened. The extractor is used only when the binary is found.
func NewResolver(cfg SourceConfig) (*Resolver, error) {
	if cfg.ExtractorTimeout <= 0 {
		cfg.ExtractorTimeout = defaultExtractorTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.SearchLimit <= 0 {
		cfg.SearchLimit = defaultSearchLimit
	}
	r := &Resolver{cfg: cfg, client: cfg.HTTPClient}
	if r.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 15 * time.Second
		r.client = &http.Client{Transport: t}
	}
	if cfg.Extractor != "" {
		if p, err := exec.LookPath(cfg.Extractor); err == nil {
			r.extractor = p
		}
	}
	for _, d := range cfg.MediaDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("audio: media dir %q: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("audio: media dir %q: %w", d, err)
		}
		root, err := os.OpenRoot(real)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("audio: media dir %q: %w", d, err)
		}
		r.roots = append(r.roots, mediaRoot{dir: abs, real: real, root: root})
	}
	return r, nil
}

// ExtractorEnabled reports whether the external extractor is in use.
func (r *Resolver) ExtractorEnabled() bool { return r.extractor != "" }

// Close closes the media directories. It is idempotent.
func (r *Resolver) Close() error {
	var errs []error
	for _, m := range r.roots {
		errs = append(errs, m.root.Close())
	}
	r.roots = nil
	return errors.Join(errs...)
}

// Resolve resolves a query of getSource/loadSource, in the order of
// node-protocol.md section 8: an http(s) URL serving audio; a file in a
// media directory (a path relative to one, an absolute path inside one,
// or a file: URL); with the extractor enabled, a page URL, a
// "ytsearch:..."-style query or plain words (searched as "ytsearch1:").
// It returns one Metadata, or several for a playlist. Errors wrap
// ErrUnsupportedQuery, ErrNotFound, ErrOutsideMediaDir, ErrNotAudio,
// ErrSourceUnavailable or ErrExtractor.
func (r *Resolver) Resolve(ctx context.Context, query string) ([]Metadata, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, fmt.Errorf("%w: empty query", ErrUnsupportedQuery)
	}
	u, err := url.Parse(q)
	scheme := ""
	if err == nil {
		scheme = strings.ToLower(u.Scheme)
	}
	switch {
	case scheme == "http" || scheme == "https":
		md, err := r.resolveHTTP(ctx, q)
		if errors.Is(err, ErrNotAudio) && r.extractor != "" {
			return r.extract(ctx, q, false)
		}
		if err != nil {
			return nil, err
		}
		return []Metadata{md}, nil
	case scheme == "file":
		md, err := r.resolveFile(ctx, u.Path)
		if err != nil {
			return nil, err
		}
		return []Metadata{md}, nil
	case isSearchQuery(q):
		if r.extractor == "" {
			return nil, fmt.Errorf("%w: %q is a search, which needs yt-dlp", ErrUnsupportedQuery, q)
		}
		return r.extract(ctx, q, false)
	case len(scheme) > 1 && !filepath.IsAbs(q):
		// "rtmp://...", "ftp://...": not ours ("C:" is no concern here).
		if r.extractor != "" {
			return r.extract(ctx, q, false)
		}
		return nil, fmt.Errorf("%w: scheme %q", ErrUnsupportedQuery, scheme)
	}
	if len(r.roots) > 0 {
		md, err := r.resolveFile(ctx, q)
		if err == nil {
			return []Metadata{md}, nil
		}
		if !errors.Is(err, ErrNotFound) || r.extractor == "" || looksLikePath(q) {
			return nil, err
		}
	}
	if r.extractor != "" {
		return r.extract(ctx, "ytsearch1:"+q, false)
	}
	if looksLikePath(q) {
		return nil, fmt.Errorf("%w: no media directory is configured for %q", ErrUnsupportedQuery, q)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedQuery, q)
}

// Search answers searchSources: media-dir files whose path contains the
// query (case-insensitive), then, with the extractor, "ytsearchN:" results
// (or the query as given when it names its own search prefix).
func (r *Resolver) Search(ctx context.Context, query string) ([]Metadata, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, fmt.Errorf("%w: empty query", ErrUnsupportedQuery)
	}
	var out []Metadata
	if !isSearchQuery(q) {
		out = r.searchFiles(q, r.cfg.SearchLimit)
	}
	if r.extractor != "" && len(out) < r.cfg.SearchLimit {
		sq := q
		if !isSearchQuery(q) {
			sq = fmt.Sprintf("ytsearch%d:%s", r.cfg.SearchLimit-len(out), q)
		}
		more, err := r.extract(ctx, sq, true)
		if err != nil && len(out) == 0 {
			return nil, err
		}
		out = append(out, more...)
	}
	if r.extractor == "" && len(r.roots) == 0 {
		return nil, fmt.Errorf("%w: search needs a --media-dir or yt-dlp", ErrUnsupportedQuery)
	}
	return out, nil
}

// Open opens the bytes of a resolved source: a media-dir file, or an
// http(s) URL (with the extractor's headers). A page URL (HTML) is run
// through the extractor when it is enabled. ctx bounds the opening only;
// the Stream lives until Close.
func (r *Resolver) Open(ctx context.Context, md Metadata) (Stream, error) {
	target := md.URL
	if target == "" {
		target = md.WebpageURL
	}
	if target == "" {
		return nil, fmt.Errorf("%w: source has no url", ErrUnsupportedQuery)
	}
	u, err := url.Parse(target)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		s, err := openHTTP(ctx, r.client, target, toHeader(md.Headers), r.cfg.IdleTimeout)
		if err == nil && !isPage(s.ContentType()) {
			return s, nil
		}
		if s != nil {
			s.Close()
		}
		// A page, or a stream URL that expired: ask the extractor again.
		page := md.WebpageURL
		if page == "" {
			page = target
		}
		if r.extractor == "" || !(err == nil || errors.Is(err, ErrSourceUnavailable) || errors.Is(err, ErrNotFound)) {
			if err == nil {
				err = fmt.Errorf("%w: %s", ErrNotAudio, redactURL(target))
			}
			return nil, err
		}
		mds, xerr := r.extract(ctx, page, false)
		if xerr != nil {
			return nil, errors.Join(err, xerr)
		}
		if len(mds) == 0 || mds[0].URL == "" || mds[0].URL == page {
			return nil, fmt.Errorf("%w: no stream URL for %s", ErrExtractor, redactURL(page))
		}
		return openHTTP(ctx, r.client, mds[0].URL, toHeader(mds[0].Headers), r.cfg.IdleTimeout)
	}
	if err == nil && u.Scheme == "file" {
		target = u.Path
	}
	f, _, err := r.openFile(target)
	if err != nil {
		return nil, err
	}
	return fileStream{f}, nil
}

// fileStream is a media-dir file as a Stream.
type fileStream struct{ *os.File }

func (f fileStream) Seekable() bool { return true }
func (f fileStream) Size() int64 {
	st, err := f.Stat()
	if err != nil {
		return -1
	}
	return st.Size()
}

func toHeader(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// isSearchQuery recognises yt-dlp search prefixes: "ytsearch:", "ytsearch5:",
// "ytsearchall:", "scsearch:"...
func isSearchQuery(q string) bool {
	prefix, _, ok := strings.Cut(q, ":")
	if !ok {
		return false
	}
	i := strings.Index(prefix, "search")
	if i <= 0 {
		return false
	}
	rest := prefix[i+len("search"):]
	if rest == "" || rest == "all" || rest == "date" {
		return true
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func looksLikePath(q string) bool {
	return strings.ContainsRune(q, '/') || strings.HasPrefix(q, ".") || filepath.Ext(q) != ""
}

// isPage reports whether a Content-Type is a web page rather than media.
func isPage(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// resolveHTTP fetches the start of an http(s) URL: audio (by its bytes or
// its Content-Type) gives a Metadata, a web page ErrNotAudio.
func (r *Resolver) resolveHTTP(ctx context.Context, q string) (Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	s, err := openHTTP(ctx, r.client, q, nil, r.cfg.IdleTimeout)
	if err != nil {
		return Metadata{}, err
	}
	defer s.Close()
	if isPage(s.ContentType()) {
		return Metadata{}, fmt.Errorf("%w: %s", ErrNotAudio, redactURL(q))
	}
	md := Metadata{URL: q, WebpageURL: q, ID: q, Resolver: "http", Title: titleFromURL(q)}
	// Learn the duration from the headers when the format has it there.
	if d, err := Open(ctx, s, OpenOptions{Name: redactURL(q), FFmpeg: "-"}); err == nil {
		md.Duration, md.HasDuration = d.Duration()
		d.Close()
	}
	return md, nil
}

func titleFromURL(q string) string {
	u, err := url.Parse(q)
	if err != nil {
		return q
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == "" {
		return u.Host
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

// resolveFile finds q in the media directories.
func (r *Resolver) resolveFile(ctx context.Context, q string) (Metadata, error) {
	f, abs, err := r.openFile(q)
	if err != nil {
		return Metadata{}, err
	}
	defer f.Close()
	base := filepath.Base(abs)
	md := Metadata{
		ID: abs, URL: abs, WebpageURL: abs, IsFile: true, Resolver: "file",
		Title: strings.TrimSuffix(base, filepath.Ext(base)),
	}
	if d, err := Open(ctx, f, OpenOptions{Name: base, FFmpeg: "-"}); err == nil {
		md.Duration, md.HasDuration = d.Duration()
		d.Close()
	}
	return md, nil
}

// openFile opens q inside a media directory: relative to one (first match
// wins), or absolute inside one. os.Root refuses ".." and symlinks that
// leave the directory.
func (r *Resolver) openFile(q string) (*os.File, string, error) {
	if len(r.roots) == 0 {
		return nil, "", fmt.Errorf("%w: no media directory is configured for %q", ErrUnsupportedQuery, q)
	}
	type candidate struct {
		m   mediaRoot
		rel string
	}
	var cands []candidate
	if filepath.IsAbs(q) {
		clean := filepath.Clean(q)
		for _, m := range r.roots {
			for _, base := range []string{m.dir, m.real} {
				if rel, err := filepath.Rel(base, clean); err == nil && filepath.IsLocal(rel) {
					cands = append(cands, candidate{m, rel})
					break
				}
			}
		}
		if len(cands) == 0 {
			return nil, "", fmt.Errorf("%w: %q", ErrOutsideMediaDir, q)
		}
	} else {
		if !filepath.IsLocal(q) {
			return nil, "", fmt.Errorf("%w: %q", ErrOutsideMediaDir, q)
		}
		for _, m := range r.roots {
			cands = append(cands, candidate{m, filepath.Clean(q)})
		}
	}
	var escaped bool
	for _, c := range cands {
		f, err := c.m.root.Open(c.rel)
		if err == nil {
			st, err := f.Stat()
			if err == nil && st.Mode().IsRegular() {
				return f, filepath.Join(c.m.dir, c.rel), nil
			}
			f.Close()
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			// os.Root refuses symlinks leaving the root, and absolute
			// symlinks even when they point inside: resolve those, and
			// open the resolved path through the root again (so a link
			// swapped meanwhile is still refused).
			if real, serr := filepath.EvalSymlinks(filepath.Join(c.m.real, c.rel)); serr == nil {
				if rel, rerr := filepath.Rel(c.m.real, real); rerr == nil && filepath.IsLocal(rel) {
					if f, err := c.m.root.Open(rel); err == nil {
						if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
							return f, filepath.Join(c.m.dir, c.rel), nil
						}
						f.Close()
					}
				}
				escaped = true
			}
		}
	}
	if escaped {
		return nil, "", fmt.Errorf("%w: %q leads out of its media directory", ErrOutsideMediaDir, q)
	}
	return nil, "", fmt.Errorf("%w: no file %q in the media directories", ErrNotFound, q)
}

// searchFiles walks the media directories for regular files whose relative
// path contains q.
func (r *Resolver) searchFiles(q string, limit int) []Metadata {
	var out []Metadata
	needle := strings.ToLower(q)
	for _, m := range r.roots {
		fs.WalkDir(m.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || len(out) >= limit {
				if len(out) >= limit {
					return fs.SkipAll
				}
				return nil
			}
			if !strings.Contains(strings.ToLower(p), needle) {
				return nil
			}
			abs := filepath.Join(m.dir, filepath.FromSlash(p))
			if !d.Type().IsRegular() {
				if d.Type()&fs.ModeSymlink == 0 {
					return nil
				}
				f, _, err := r.openFile(abs) // only links that stay inside
				if err != nil {
					return nil
				}
				f.Close()
			}
			base := path.Base(p)
			out = append(out, Metadata{
				ID: abs, URL: abs, WebpageURL: abs, IsFile: true, Resolver: "file",
				Title: strings.TrimSuffix(base, path.Ext(base)),
			})
			return nil
		})
	}
	return out
}

// ytdlpInfo is the part of yt-dlp's --dump-single-json output used here.
type ytdlpInfo struct {
	Type        string            `json:"_type"`
	ID          string            `json:"id"`
	Title       string            `json:"title"`
	URL         string            `json:"url"`
	WebpageURL  string            `json:"webpage_url"`
	OriginalURL string            `json:"original_url"`
	Thumbnail   string            `json:"thumbnail"`
	Uploader    string            `json:"uploader"`
	Channel     string            `json:"channel"`
	Description string            `json:"description"`
	Duration    *float64          `json:"duration"`
	IsLive      bool              `json:"is_live"`
	Headers     map[string]string `json:"http_headers"`
	Entries     []ytdlpInfo       `json:"entries"`
}

const maxExtractorOutput = 16 << 20

// extract runs the extractor on q. flat lists search results without
// resolving their stream URLs (Open resolves them later from WebpageURL).
func (r *Resolver) extract(ctx context.Context, q string, flat bool) ([]Metadata, error) {
	if r.extractor == "" {
		return nil, fmt.Errorf("%w: %q needs yt-dlp", ErrUnsupportedQuery, q)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ExtractorTimeout)
	defer cancel()
	args := []string{"--dump-single-json", "--no-warnings", "--no-progress", "--skip-download",
		"--format", "bestaudio/best", "--no-playlist"}
	if flat {
		args = append(args, "--flat-playlist")
	}
	cmd := exec.CommandContext(ctx, r.extractor, append(args, "--", q)...)
	cmd.WaitDelay = time.Second
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrExtractor, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting %s: %v", ErrExtractor, r.extractor, err)
	}
	body, rerr := io.ReadAll(io.LimitReader(out, maxExtractorOutput))
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %q: timed out after %v", ErrExtractor, q, r.cfg.ExtractorTimeout)
	}
	if werr != nil || rerr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = errors.Join(werr, rerr).Error()
		}
		if strings.Contains(msg, "Unsupported URL") {
			return nil, fmt.Errorf("%w: yt-dlp: %s", ErrUnsupportedQuery, msg)
		}
		return nil, fmt.Errorf("%w: %q: %s", ErrExtractor, q, msg)
	}
	var info ytdlpInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("%w: %q: output is not JSON: %v", ErrExtractor, q, err)
	}
	var mds []Metadata
	if info.Type == "playlist" || info.Entries != nil {
		for _, e := range info.Entries {
			mds = append(mds, e.metadata())
		}
	} else {
		mds = append(mds, info.metadata())
	}
	if len(mds) == 0 {
		return nil, fmt.Errorf("%w: %q found nothing", ErrNotFound, q)
	}
	return mds, nil
}

func (i ytdlpInfo) metadata() Metadata {
	md := Metadata{
		ID: i.ID, Title: i.Title, URL: i.URL, WebpageURL: i.WebpageURL,
		Thumbnail: i.Thumbnail, Uploader: i.Uploader, Description: i.Description,
		IsLive: i.IsLive, Headers: i.Headers, Resolver: "extractor",
	}
	if md.WebpageURL == "" {
		md.WebpageURL = i.OriginalURL
	}
	if md.WebpageURL == "" && i.Type == "url" {
		md.WebpageURL = i.URL
	}
	if i.Type == "url" {
		// A flat entry: its url is the page, resolved when opened.
		md.URL = md.WebpageURL
	}
	if md.Uploader == "" {
		md.Uploader = i.Channel
	}
	if i.Duration != nil && *i.Duration >= 0 {
		md.Duration = time.Duration(*i.Duration * float64(time.Second))
		md.HasDuration = true
	}
	return md
}
