package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// module reads a checked-in test module (testdata/*.wasm, assembled from
// the .wat next to it by go generate).
func module(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withCustomSection returns m with a custom section appended: other bytes
// (another sha256), the same behaviour.
func withCustomSection(m []byte, name string, size int) []byte {
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, make([]byte, size)...)
	out := append([]byte{}, m...)
	out = append(out, 0)
	n := len(body)
	for { // LEB128 section size
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, c|0x80)
			continue
		}
		out = append(out, c)
		break
	}
	return append(out, body...)
}

func frameOf(v float32) []float32 {
	pcm := make([]float32, frame*2)
	for i := range pcm {
		pcm[i] = v
	}
	return pcm
}

func TestRegisterHandWrittenModule(t *testing.T) {
	h := testHost(t, Config{})
	gain := module(t, "gain")
	info, err := h.Register(context.Background(), "gain", gain)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(gain)
	if want := (Info{Name: "gain", SHA256: hex.EncodeToString(sum[:]), Size: len(gain)}); info != want {
		t.Errorf("Register = %+v, want %+v", info, want)
	}
	list := h.List()
	if len(list) != 11 || list[0].Name != "volume" || !list[0].Builtin || list[10] != info {
		t.Errorf("List = %+v", list)
	}

	// The WAT filter runs in a chain, after a built-in, in order.
	c := newChain(t, h, `{"volume": {"volume": 0.5}, "gain": {"gain": 3}}`, func(f string, err error) { t.Errorf("%s: %v", f, err) })
	c.Process(frameOf(0.2)) // the volume ramp
	out := c.Process(frameOf(0.2))
	if len(out) != frame*2 || out[0] != 0.3 || out[len(out)-1] != 0.3 {
		t.Errorf("0.2 · 0.5 · 3 = %v … %v, want 0.3", out[0], out[len(out)-1])
	}

	for _, tc := range []struct {
		chain string
		param string
		err   error
	}{
		{`{"gain": {"gain": 11}}`, "gain", ErrParamRange},
		{`{"gain": {"volume": 1}}`, "volume", ErrUnknownParam},
		{`{"equalizer": {"gains": {"15": 0.1}}}`, "gains.15", ErrUnknownParam},
		{`{"equalizer": {"gains": [1.5]}}`, "gains.0", ErrParamRange},
		{`{"volume": {"volume": 5.5}}`, "volume", ErrParamRange},
		{`{"vibrato": {"frequency": 15}}`, "frequency", ErrParamRange},
		{`{"channelMix": {"leftToLeft": 1.2}}`, "leftToLeft", ErrParamRange},
		{`{"timescale": {"speed": 0}}`, "speed", ErrParamRange},
		{`{"tremolo": {"depth": 0}}`, "depth", ErrParamRange},
		{`{"karaoke": {"level": -1}}`, "level", ErrParamRange},
	} {
		spec, err := ParseChain([]byte(tc.chain))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.NewChain(context.Background(), spec, nil)
		pe, ok := errors.AsType[*ParamError](err)
		if !ok || pe.Filter != spec.Filters[0].Name || pe.Param != tc.param || !errors.Is(err, tc.err) {
			t.Errorf("%s: NewChain error %v, want a ParamError for %s.%s: %v", tc.chain, err, spec.Filters[0].Name, tc.param, tc.err)
		}
	}
	if _, err := h.NewChain(context.Background(), ChainSpec{Filters: []FilterSpec{{Name: "nope"}}}, nil); !errors.Is(err, ErrUnknownFilter) {
		t.Errorf("unknown filter: %v", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	h := testHost(t, Config{CallBudget: 5 * time.Millisecond}) // 1 s for _initialize
	ctx := context.Background()
	huge := withCustomSection(module(t, "gain"), "padding", DefaultMaxModuleBytes)
	for _, tc := range []struct {
		name, module string
		bytes        []byte
		err          error
		says         string
	}{
		{name: "Gain", module: "gain", err: ErrInvalidName},
		{name: "", module: "gain", err: ErrInvalidName},
		{name: "a/b", module: "gain", err: ErrInvalidName},
		{name: strings.Repeat("a", 65), module: "gain", err: ErrInvalidName},
		{name: "equalizer", module: "gain", err: ErrBuiltinName},
		{name: "channelMix", module: "gain", err: ErrBuiltinName},
		{name: "huge", bytes: huge, err: ErrModuleTooLarge, says: "the limit is 8388608"},
		{name: "text", bytes: []byte("hello, world"), err: ErrInvalidModule, says: "magic"},
		{name: "truncated", bytes: module(t, "gain")[:100], err: ErrInvalidModule},
		{name: "socket", module: "import_env", err: ErrForbiddenImport, says: `func "env"."socket"`},
		{name: "files", module: "import_path", err: ErrForbiddenImport, says: `"wasi_snapshot_preview1"."path_open"`},
		{name: "abi2", module: "abi2", err: ErrABIVersion, says: "abi_version() = 2"},
		{name: "bigmem", module: "bigmem", err: ErrMemoryLimit, says: "300 pages"},
		{name: "noexport", module: "noexport", err: ErrMissingExport, says: `"set_param"`},
		{name: "badsig", module: "badsig", err: ErrMissingExport, says: `"process" is (i32, i32) -> (i32)`},
		{name: "initloop", module: "initloop", err: ErrInit, says: "did not return within 1s"},
	} {
		b := tc.bytes
		if b == nil {
			b = module(t, tc.module)
		}
		start := time.Now()
		_, err := h.Register(ctx, tc.name, b)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Register(%q): %v, want %v saying %q", tc.name, err, tc.err, tc.says)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Register(%q) took %v", tc.name, d)
		}
	}
	if n := len(h.List()); n != 10 {
		t.Errorf("List has %d filters after rejections, want the 10 built-ins", n)
	}
	if dirs, _ := filepath.Glob(filepath.Join(testCacheDir, "modules", "*")); len(dirs) != 0 {
		// Other tests may register concurrently: only a leftover of a
		// rejected module is a failure.
		for _, d := range dirs {
			for _, name := range []string{"import_env", "abi2", "bigmem", "noexport", "badsig", "initloop"} {
				sum := sha256.Sum256(module(t, name))
				if filepath.Base(d) == hex.EncodeToString(sum[:]) {
					t.Errorf("the cache of rejected module %s is left in %s", name, d)
				}
			}
		}
	}
	// The host still works.
	c := newChain(t, h, `{"volume": {"volume": 1}}`, nil)
	if out := c.Process(frameOf(0.1)); out[0] != 0.1 {
		t.Errorf("volume 1 after the rejections: %v", out[0])
	}
}

func TestReplaceAndRemove(t *testing.T) {
	dir := t.TempDir()
	h := testHost(t, Config{CacheDir: dir})
	ctx := context.Background()
	gain := module(t, "gain")
	if _, err := h.Register(ctx, "gain", gain); err != nil {
		t.Fatal(err)
	}
	var errs []error
	c := newChain(t, h, `{"gain": {"gain": 0.5}}`, func(f string, err error) { errs = append(errs, err) })
	if out := c.Process(frameOf(0.5)); out[0] != 0.25 {
		t.Fatalf("gain 0.5: %v", out[0])
	}
	old := c.slots[0].e

	// Another upload under the same name: the chain switches at its next
	// frame, with the same parameters.
	gain2 := withCustomSection(gain, "v2", 16)
	info2, err := h.Register(ctx, "gain", gain2)
	if err != nil {
		t.Fatal(err)
	}
	if out := c.Process(frameOf(0.5)); out[0] != 0.25 || len(errs) != 0 {
		t.Fatalf("after the replacement: %v, errors %v", out[0], errs)
	}
	if c.slots[0].e == old || hex.EncodeToString(c.slots[0].e.sha[:]) != info2.SHA256 {
		t.Fatal("the chain did not switch to the new module")
	}
	oldSum := sha256.Sum256(gain)
	if _, err := os.Stat(filepath.Join(dir, "modules", hex.EncodeToString(oldSum[:]))); !os.IsNotExist(err) {
		t.Errorf("the replaced module's cache is still there: %v", err)
	}

	// The same bytes under a second name share the module.
	if _, err := h.Register(ctx, "gain-copy", gain2); err != nil {
		t.Fatal(err)
	}
	if n := len(h.bySHA); n != 1 {
		t.Errorf("%d modules for one content", n)
	}

	// Removed: the chain drops it and says so, once.
	if err := h.Remove(ctx, "gain"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if out := c.Process(frameOf(0.5)); out[0] != 0.5 {
			t.Fatalf("after the removal: %v, want the input", out[0])
		}
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrRemoved) {
		t.Errorf("errors %v, want one ErrRemoved", errs)
	}
	// Registering it again does not bring the dropped slot back.
	if _, err := h.Register(ctx, "gain", gain); err != nil {
		t.Fatal(err)
	}
	if out := c.Process(frameOf(0.5)); out[0] != 0.5 {
		t.Errorf("a dropped slot came back: %v", out[0])
	}
	if err := h.Remove(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(nope): %v", err)
	}
	if err := h.Remove(ctx, "volume"); !errors.Is(err, ErrBuiltinName) {
		t.Errorf("Remove(volume): %v", err)
	}
	for _, name := range []string{"gain", "gain-copy"} {
		if err := h.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join(dir, "modules", "*")); len(dirs) != 0 {
		t.Errorf("caches left after removing everything: %v", dirs)
	}
	if len(h.bySHA) != 0 || len(h.all) != 0 {
		t.Errorf("entries left: %d %d", len(h.bySHA), len(h.all))
	}
}

// fileIDs returns inode and modification time of every file under dir.
func fileIDs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[path] = fi.ModTime().String() + "/" + string(rune(st.Ino))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCacheSurvivesRestart(t *testing.T) {
	if !compilerSupported() {
		t.Skip("wazero's interpreter (this platform's engine) compiles nothing to cache")
	}
	dir := t.TempDir()
	ctx := context.Background()
	start := func() *Host {
		h, err := New(ctx, Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Register(ctx, "gain", module(t, "gain")); err != nil {
			t.Fatal(err)
		}
		if err := h.Warm(ctx); err != nil { // the built-ins compile at first use
			t.Fatal(err)
		}
		return h
	}
	h := start()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	first := fileIDs(t, dir)
	var builtins, uploads int
	for path := range first {
		switch {
		case strings.Contains(path, "builtin-"):
			builtins++
		case strings.Contains(path, "modules"):
			uploads++
		}
	}
	if builtins == 0 || uploads == 0 {
		t.Fatalf("cache after one run: %v", first)
	}
	// A second run compiles nothing: every cached file is the same file,
	// untouched (wazero writes a new file when it compiles).
	h = start()
	defer h.Close(ctx)
	second := fileIDs(t, dir)
	if len(second) != len(first) {
		t.Errorf("cache files %d -> %d", len(first), len(second))
	}
	for path, id := range first {
		if second[path] != id {
			t.Errorf("%s was rewritten: the second run compiled again", path)
		}
	}

	// PruneCache keeps what is registered, removes what is not.
	stale := filepath.Join(dir, "modules", strings.Repeat("ab", 32))
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.PruneCache(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("PruneCache left %s", stale)
	}
	if len(fileIDs(t, dir)) != len(first) {
		t.Errorf("PruneCache removed a live cache")
	}
}

func TestClosedHost(t *testing.T) {
	h, err := New(context.Background(), Config{CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec, _ := ParseChain([]byte(`{"volume": {"volume": 0.5}}`))
	c, err := h.NewChain(ctx, spec, func(f string, err error) { t.Errorf("onError after Close: %s %v", f, err) })
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.Process(frameOf(0.5)); out[0] != 0.5 {
		t.Errorf("a chain of a closed host: %v, want the input", out[0])
	}
	c.Reset()
	c.Close(ctx)
	c.Close(ctx)
	if _, err := h.Register(ctx, "gain", module(t, "gain")); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
	if _, err := h.NewChain(ctx, spec, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("NewChain after Close: %v", err)
	}
	if err := h.Remove(ctx, "gain"); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v", err)
	}
}

func TestInterpreter(t *testing.T) {
	// What 32-bit ARM gets: the same module, interpreted, the same sound.
	hi, err := New(context.Background(), Config{Interpreter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hi.Close(context.Background())
	if hi.cfg.CallBudget != DefaultInterpreterBudget {
		t.Errorf("interpreter budget %v, want %v", hi.cfg.CallBudget, DefaultInterpreterBudget)
	}
	hc := testHost(t, Config{})
	in := benchFrame()
	for _, name := range []string{"equalizer", "timescale"} {
		chain := `{"` + name + `": ` + benchParams[name] + `}`
		ci, cc := newChain(t, hi, chain, nil), newChain(t, hc, chain, nil)
		for i := range 10 {
			a, b := ci.Process(in), cc.Process(in)
			if len(a) != len(b) {
				t.Fatalf("%s frame %d: %d samples interpreted, %d compiled", name, i, len(a), len(b))
			}
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("%s frame %d sample %d: %v interpreted, %v compiled", name, i, j, a[j], b[j])
				}
			}
		}
	}
}

// TestBuiltinsCompileAtFirstUse checks that New compiles nothing: an idle
// node carries no WASM runtime; the first chain compiles the built-ins.
func TestBuiltinsCompileAtFirstUse(t *testing.T) {
	if !compilerSupported() {
		t.Skip("wazero interprets here (32-bit ARM): nothing is compiled, nothing cached")
	}
	ctx := context.Background()
	dir := t.TempDir()
	h, err := New(ctx, Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if got := fileIDs(t, dir); len(got) != 0 {
		t.Fatalf("New wrote to the cache: %v", got)
	}
	if len(h.List()) != 10 {
		t.Fatalf("List before any compile: %v", h.List())
	}
	spec, _ := ParseChain([]byte(`{"volume":{"volume":0.5}}`))
	c, err := h.NewChain(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if got := fileIDs(t, dir); len(got) == 0 {
		t.Fatal("the first chain compiled nothing into the cache")
	}
}
