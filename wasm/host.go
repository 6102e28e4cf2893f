package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

// Defaults of Config (wasm-filter-abi.md, "Limits the node enforces").
const (
	DefaultMaxModuleBytes = 8 << 20
	DefaultMaxMemoryPages = 256
	// DefaultCallBudget is the time one process call may take with the
	// compiler engine; DefaultInterpreterBudget applies where wazero
	// interprets (32-bit ARM), which is about 50 times slower.
	DefaultCallBudget        = 2 * time.Millisecond
	DefaultInterpreterBudget = 20 * time.Millisecond
)

// Audio format of ABI version 1.
const (
	Channels = 2
	Rate     = 48000
	// Cap is the cap argument of process: the most frames a call may
	// return, and the most the node passes in.
	Cap = dsp.MaxFrames
	// audioBytes is the size of the audio buffer each instance allocates.
	audioBytes = Cap * Channels * 4
)

// Config configures a Host. Its zero value works: no on-disk cache, the
// spec's limits.
type Config struct {
	// CacheDir holds compiled modules so that a restart does not compile
	// again (the node passes a directory under --state-dir). Empty means
	// compile at every start.
	CacheDir string
	// MaxModuleBytes is the largest module Register accepts.
	MaxModuleBytes int
	// MaxMemoryPages is the most 64 KiB pages an instance's memory may
	// have. The built-ins need 32 at least.
	MaxMemoryPages uint32
	// CallBudget is the time one process call may take; set_param and
	// reset get the same. Instantiation (_initialize, abi_version, alloc)
	// gets 100 budgets, at least one second and at most ten.
	CallBudget time.Duration
	// Interpreter forces wazero's interpreter, which is what 32-bit ARM
	// gets anyway; for tests and benchmarks of that path.
	Interpreter bool
	// Logger gets the host's warnings and the filters' stdout and stderr
	// (rate-limited). Nil discards them.
	Logger *slog.Logger
}

// Info describes a registered filter (GET /filters, PUT /filters answers).
type Info struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	// Builtin marks the ten built-ins; they share one module, hence one
	// sha256 and size.
	Builtin bool `json:"builtin"`
}

// Host compiles and runs filter modules. Its methods are safe for
// concurrent use.
type Host struct {
	cfg         Config
	log         *slog.Logger
	initBudget  time.Duration
	interpreter bool
	lines       lineLimiter

	// The module of the ten built-ins is compiled at its first use, not by
	// New: an idle node then carries no WASM runtime (about 14 MB of
	// compiled code and metadata), which matters on a 512 MB board.
	builtinMu    sync.Mutex
	builtin      map[*builtinModule]*entry
	builtinTrust bool

	gen    atomic.Uint64
	closed atomic.Bool

	mu    sync.Mutex
	names map[string]*entry   // uploaded filters by name
	bySHA map[[32]byte]*entry // uploaded modules by content
	all   map[*entry]struct{} // every open entry, for Close
}

// entry is one compiled module: the built-ins' or an upload's. An upload's
// entry has its own runtime (and cache directory) and lives while a name or
// an instance refers to it.
type entry struct {
	sha      [32]byte
	size     int
	builtin  bool // the built-ins' module: has builtin_select
	trusted  bool // compiled without termination checks: cannot be stopped
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	compiled wazero.CompiledModule
	dir      string // the upload's cache directory; "" without CacheDir
	refs     int    // names and instances; guarded by Host.mu
}

// New returns a Host. It compiles nothing yet: the built-in filters are
// compiled (or loaded from the cache) at their first use, or by Warm. It
// starts no goroutine.
func New(ctx context.Context, cfg Config) (*Host, error) {
	return newHost(ctx, cfg, false)
}

// newHost is New; sandboxBuiltins runs the built-ins like uploads, with
// wazero's termination checks (the benchmarks measure what that costs).
func newHost(ctx context.Context, cfg Config, sandboxBuiltins bool) (*Host, error) {
	h := &Host{
		cfg:   cfg,
		log:   cfg.Logger,
		names: map[string]*entry{},
		bySHA: map[[32]byte]*entry{},
		all:   map[*entry]struct{}{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.interpreter = cfg.Interpreter || !compilerSupported()
	if h.cfg.MaxModuleBytes <= 0 {
		h.cfg.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if h.cfg.MaxMemoryPages == 0 {
		h.cfg.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if h.cfg.MaxMemoryPages > 65536 {
		return nil, fmt.Errorf("wasm: MaxMemoryPages %d over the 65536 of a 32-bit memory", h.cfg.MaxMemoryPages)
	}
	if h.cfg.CallBudget <= 0 {
		h.cfg.CallBudget = DefaultCallBudget
		if h.interpreter {
			h.cfg.CallBudget = DefaultInterpreterBudget
		}
	}
	h.initBudget = min(max(100*h.cfg.CallBudget, time.Second), 10*time.Second)
	h.lines.init()

	h.builtinTrust = !sandboxBuiltins
	return h, nil
}

// Warm compiles the built-in filters now (from the cache when it holds
// them) instead of at their first use.
func (h *Host) Warm(ctx context.Context) error {
	for _, m := range builtinModules {
		if _, err := h.builtins(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// builtins returns the compiled built-in module m, compiling it the first
// time. A failed compile is retried at the next use.
func (h *Host) builtins(ctx context.Context, m *builtinModule) (*entry, error) {
	h.builtinMu.Lock()
	defer h.builtinMu.Unlock()
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if e := h.builtin[m]; e != nil {
		return e, nil
	}
	e, err := h.compile(context.WithoutCancel(ctx), m.bytes, m.sum(), h.builtinCacheDir(m), true, h.builtinTrust)
	if err != nil {
		return nil, fmt.Errorf("wasm: the built-in filters: %w", err)
	}
	if h.builtin == nil {
		h.builtin = make(map[*builtinModule]*entry, len(builtinModules))
	}
	h.builtin[m] = e
	return e, nil
}

// compilerSupported mirrors wazero's choice of engine closely enough to
// pick the default budget.
func compilerSupported() bool {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "windows":
		return runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"
	}
	return false
}

// wazeroVersion is the wazero module version this binary was built with
// ("dev" in tests), part of the built-ins' cache directory name.
func wazeroVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/tetratelabs/wazero" && dep.Version != "" {
				return dep.Version
			}
		}
	}
	return "dev"
}

// builtinCacheDir returns the cache directory of built-in module m (""
// without a cache), named for its hash and wazero's version, and removes
// those of other versions.
func (h *Host) builtinCacheDir(m *builtinModule) string {
	if h.cfg.CacheDir == "" {
		return ""
	}
	dirOf := func(m *builtinModule) string {
		sum := m.sum()
		return filepath.Join(h.cfg.CacheDir, "builtin-"+hex.EncodeToString(sum[:8])+"-"+wazeroVersion())
	}
	keep := make(map[string]bool, 2*len(builtinModules))
	for _, m := range builtinModules {
		keep[dirOf(m)], keep[dirOf(m)+"-sandboxed"] = true, true
	}
	h.pruneBuiltinCaches(keep)
	dir := dirOf(m)
	if !h.builtinTrust {
		dir += "-sandboxed"
	}
	return dir
}

// pruneBuiltinCaches removes the cache directories of other versions of the
// built-ins (an upgrade leaves them behind).
func (h *Host) pruneBuiltinCaches(keep map[string]bool) {
	old, _ := filepath.Glob(filepath.Join(h.cfg.CacheDir, "builtin-*"))
	for _, d := range old {
		if !keep[d] {
			if err := os.RemoveAll(d); err != nil {
				h.log.Warn("wasm: cannot remove a stale cache", "dir", d, "err", err)
			}
		}
	}
}

// Close closes every runtime, which stops every instance. Close the chains
// first: a chain of a closed host passes audio through. Close is idempotent.
// The cache directories are kept: that is their point.
func (h *Host) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return nil
	}
	h.mu.Lock()
	entries := make([]*entry, 0, len(h.all)+1)
	for e := range h.all {
		entries = append(entries, e)
	}
	h.all = map[*entry]struct{}{}
	h.mu.Unlock()
	h.builtinMu.Lock()
	for _, e := range h.builtin {
		entries = append(entries, e)
	}
	h.builtinMu.Unlock()
	var errs []error
	for _, e := range entries {
		errs = append(errs, e.close(ctx))
	}
	return errors.Join(errs...)
}

func (e *entry) close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// IsBuiltin reports whether name is one of the ten built-in filters.
func IsBuiltin(name string) bool { return slices.Contains(dsp.Names[:], name) }

// validName reports whether name matches [a-z0-9_-]{1,64}.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Register compiles and checks an uploaded module (PUT /filters/{name}) and
// binds it to name, replacing what name was bound to: chains using the old
// module switch to the new one at their next Process. A module identical to
// one already registered is not compiled again. It is Prepare then Bind.
func (h *Host) Register(ctx context.Context, name string, module []byte) (Info, error) {
	p, err := h.Prepare(ctx, name, module)
	if err != nil {
		return Info{}, err
	}
	return p.Bind(ctx)
}

// Prepared is an uploaded module compiled and checked by Prepare but not
// yet bound to its name: nothing uses it until Bind. The node stores the
// module between the two, so that a failed commit leaves the host as it
// was.
type Prepared struct {
	h    *Host
	name string
	sum  [32]byte
	info Info
	e    *entry // nil when an identical module was registered already
	done bool
}

// Prepare checks name and size and compiles and checks the module, like
// Register, without binding it. Bind or Discard the result.
func (h *Host) Prepare(ctx context.Context, name string, module []byte) (*Prepared, error) {
	switch {
	case h.closed.Load():
		return nil, ErrClosed
	case IsBuiltin(name):
		return nil, fmt.Errorf("%w: %q", ErrBuiltinName, name)
	case !validName(name):
		return nil, fmt.Errorf("%w: %q is not [a-z0-9_-]{1,64}", ErrInvalidName, name)
	case len(module) > h.cfg.MaxModuleBytes:
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrModuleTooLarge, len(module), h.cfg.MaxModuleBytes)
	}
	sum := sha256.Sum256(module)
	p := &Prepared{h: h, name: name, sum: sum, info: Info{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(module)}}
	h.mu.Lock()
	_, known := h.bySHA[sum]
	h.mu.Unlock()
	if known {
		return p, nil
	}
	dir := ""
	if h.cfg.CacheDir != "" {
		dir = filepath.Join(h.cfg.CacheDir, "modules", p.info.SHA256)
	}
	e, err := h.compile(ctx, module, sum, dir, false, false)
	if err != nil {
		return nil, err
	}
	p.e = e
	return p, nil
}

// Bind binds the prepared module to its name. It may be called once.
func (p *Prepared) Bind(ctx context.Context) (Info, error) {
	h := p.h
	if p.done {
		return Info{}, fmt.Errorf("wasm: %q was bound or discarded already", p.name)
	}
	p.done = true
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		if p.e != nil {
			return Info{}, errors.Join(ErrClosed, p.e.close(ctx))
		}
		return Info{}, ErrClosed
	}
	e, ok := h.bySHA[p.sum]
	switch {
	case ok && p.e != nil: // registered concurrently: use the twin
		h.mu.Unlock()
		_ = p.e.close(ctx) // the twin uses the same cache directory: keep it
		h.mu.Lock()
	case ok:
	case p.e == nil: // the identical module we counted on is gone
		h.mu.Unlock()
		return Info{}, fmt.Errorf("%w: %q changed while it was prepared; upload it again", ErrInvalidModule, p.name)
	default:
		e = p.e
		h.bySHA[p.sum] = e
		h.all[e] = struct{}{}
	}
	h.bind(p.name, e)
	h.mu.Unlock()
	h.log.Info("wasm: filter registered", "name", p.name, "sha256", p.info.SHA256, "size", p.info.Size)
	return p.info, nil
}

// Discard drops a prepared module that will not be bound.
func (p *Prepared) Discard(ctx context.Context) {
	if p.done {
		return
	}
	p.done = true
	if p.e != nil {
		_ = p.e.close(ctx)
	}
}

// bind points name at e and releases what it pointed at. h.mu is held.
func (h *Host) bind(name string, e *entry) {
	e.refs++
	old := h.names[name]
	h.names[name] = e
	h.gen.Add(1)
	if old != nil {
		h.unref(old)
	}
}

// Remove unbinds an uploaded filter (DELETE /filters/{name}); chains using
// it drop it at their next Process and report ErrRemoved.
func (h *Host) Remove(ctx context.Context, name string) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if IsBuiltin(name) {
		return fmt.Errorf("%w: %q", ErrBuiltinName, name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.names[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	delete(h.names, name)
	h.gen.Add(1)
	h.unref(e)
	h.log.Info("wasm: filter removed", "name", name)
	return nil
}

// List returns the built-ins, in the spec's order, then the uploaded filters
// by name.
func (h *Host) List() []Info {
	out := make([]Info, 0, len(dsp.Names)+len(h.names))
	for _, name := range dsp.Names {
		m := moduleOf(name)
		sum := m.sum()
		out = append(out, Info{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(m.bytes), Builtin: true})
	}
	h.mu.Lock()
	uploads := make([]Info, 0, len(h.names))
	for name, e := range h.names {
		uploads = append(uploads, Info{Name: name, SHA256: hex.EncodeToString(e.sha[:]), Size: e.size})
	}
	h.mu.Unlock()
	slices.SortFunc(uploads, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return append(out, uploads...)
}

// PruneCache removes the cache directories of modules that are no longer
// registered. The node calls it once it has registered the stored modules
// at boot; it catches what a crash between a Remove and its cleanup left.
func (h *Host) PruneCache() error {
	if h.cfg.CacheDir == "" {
		return nil
	}
	dirs, err := filepath.Glob(filepath.Join(h.cfg.CacheDir, "modules", "*"))
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, d := range dirs {
		b, err := hex.DecodeString(filepath.Base(d))
		if err == nil && len(b) == 32 {
			if _, live := h.bySHA[[32]byte(b)]; live {
				continue
			}
		}
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// acquire returns the entry name is bound to now, referenced.
func (h *Host) acquire(ctx context.Context, name string) (*entry, error) {
	if IsBuiltin(name) {
		return h.builtins(ctx, moduleOf(name))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.names[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFilter, name)
	}
	e.refs++
	return e, nil
}

// release drops a reference taken by acquire.
func (h *Host) release(e *entry) {
	if e == nil || e.builtin {
		return
	}
	h.mu.Lock()
	h.unref(e)
	h.mu.Unlock()
}

// unref drops a reference; the last one closes the entry and deletes its
// cache directory, unless the host is closed (then the cache stays for the
// next start). h.mu is held.
func (h *Host) unref(e *entry) {
	e.refs--
	if e.refs > 0 || h.closed.Load() {
		return
	}
	delete(h.bySHA, e.sha)
	delete(h.all, e)
	// Closing a runtime without instances is quick; doing it under the
	// lock keeps a concurrent Register of the same bytes from reusing the
	// directory while it is being deleted.
	if err := e.close(context.Background()); err != nil {
		h.log.Warn("wasm: closing a module", "err", err)
	}
	if e.dir != "" {
		if err := os.RemoveAll(e.dir); err != nil {
			h.log.Warn("wasm: cannot remove a module's cache", "dir", e.dir, "err", err)
		}
	}
}

// runtimeConfig is the configuration of a runtime for trusted (built-in) or
// untrusted (uploaded) code.
func (h *Host) runtimeConfig(trusted bool) wazero.RuntimeConfig {
	rc := wazero.NewRuntimeConfig()
	if h.interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	return rc.WithMemoryLimitPages(h.cfg.MaxMemoryPages).
		WithCloseOnContextDone(!trusted).
		WithCustomSections(false)
}

// compile builds an entry: a runtime with WASI, the compiled module, and the
// checks of Register. It removes dir again if the module is rejected.
func (h *Host) compile(ctx context.Context, module []byte, sum [32]byte, dir string, builtin, trusted bool) (*entry, error) {
	module, err := h.checkHeader(module)
	if err != nil {
		return nil, err
	}
	e := &entry{sha: sum, size: len(module), builtin: builtin, trusted: trusted, dir: dir}
	rc := h.runtimeConfig(trusted)
	if dir != "" {
		var err error
		if e.cache, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", dir, err)
		}
		rc = rc.WithCompilationCache(e.cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := h.load(ctx, e, module); err != nil {
		_ = e.close(ctx)
		if dir != "" && !builtin {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return e, nil
}

// load compiles module into e's runtime and checks it.
func (h *Host) load(ctx context.Context, e *entry, module []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		return fmt.Errorf("wasm: WASI: %w", err)
	}
	var err error
	if e.compiled, err = compileModule(ctx, e.rt, module); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if err := checkExports(e.compiled, e.builtin); err != nil {
		return err
	}
	// Instantiate once: _initialize must succeed and abi_version be 1.
	in, err := h.instantiate(ctx, e, "")
	if err != nil {
		return err
	}
	defer in.close(ctx)
	v, err := in.abiVersion()
	if err != nil {
		return fmt.Errorf("%w: abi_version: %w", ErrInit, err)
	}
	if v != 1 {
		return fmt.Errorf("%w: abi_version() = %d, this node speaks 1", ErrABIVersion, v)
	}
	return nil
}

// compileModule is rt.CompileModule, with a panic of wazero's decoder or
// compiler turned into an error: the bytes are untrusted, and a bug there
// must not take the node down (one was found: see TestDecoderBombs).
func compileModule(ctx context.Context, rt wazero.Runtime, module []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			cm, err = nil, fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	return rt.CompileModule(ctx, module)
}

// allowedImports are the WASI functions a filter may import. None reaches
// anything outside the instance: there are no preopened directories, no
// arguments, no environment, stdin is empty, stdout and stderr go to the
// node's log, the clocks are wazero's deterministic fakes and sleeping
// returns at once. See "Why these imports" in the package documentation.
var allowedImports = map[string]bool{
	"args_get": true, "args_sizes_get": true,
	"environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true,
	"random_get": true, "proc_exit": true, "sched_yield": true, "poll_oneoff": true,
	"fd_write": true, "fd_read": true, "fd_close": true, "fd_seek": true,
	"fd_fdstat_get": true, "fd_prestat_get": true, "fd_prestat_dir_name": true,
}

const wasiModule = "wasi_snapshot_preview1"

// maxTableEntries is the largest table a module may have or grow to: 2 MiB
// of references per instance. Go guests have one table of about one entry
// per function (5,436 for the built-ins).
const maxTableEntries = 1 << 18

// checkHeader reads the structure of a module before compiling it (see
// "Why the host parses modules itself" in binary.go): a forbidden import or
// an oversized memory is named without spending a compilation on it. It
// returns the bytes to compile.
func (h *Host) checkHeader(module []byte) ([]byte, error) {
	hdr, err := readModule(module)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	for _, im := range hdr.Imports {
		if im.Kind != 0 || im.Module != wasiModule || !allowedImports[im.Name] {
			return nil, fmt.Errorf("%w: %v (a filter may import only WASI clocks, random, fd_write to stdout/stderr, proc_exit and functions that see nothing outside)", ErrForbiddenImport, im)
		}
	}
	for _, min := range hdr.MemoryMin {
		if min > uint64(h.cfg.MaxMemoryPages) {
			return nil, fmt.Errorf("%w: %d pages (%d MiB) minimum, the limit is %d pages", ErrMemoryLimit, min, min/16, h.cfg.MaxMemoryPages)
		}
	}
	limited, err := hdr.compilable(module, maxTableEntries)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMemoryLimit, err)
	}
	return limited, nil
}
