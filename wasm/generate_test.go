package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/wasm/internal/guestbuild"
)

// requireInterop reports whether a missing external tool must fail the test
// (CI sets DISCODO_REQUIRE_INTEROP=1) rather than skip it.
func requireInterop() bool { return os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" }

// TestBuiltinNotStale rebuilds the built-ins' module from builtin/guest and
// builtin/dsp and compares it with the embedded one: it fails when someone
// changed the filters and forgot `go generate`.
func TestBuiltinNotStale(t *testing.T) {
	out := filepath.Join(t.TempDir(), "builtin.wasm")
	if err := guestbuild.Builtin(context.Background(), ".", out); err != nil {
		t.Fatal(err)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, guestWasm) {
		t.Errorf("%s is stale (%d bytes checked in, %d built now with %s): run `go generate ./wasm`",
			guestbuild.BuiltinFile, len(guestWasm), len(fresh), goVersion(t))
	}
}

// TestEqualizerNotStale assembles the hand-written equalizer with wabt's
// wat2wasm and compares it with the embedded module.
func TestEqualizerNotStale(t *testing.T) {
	out := filepath.Join(t.TempDir(), "equalizer.wasm")
	if err := guestbuild.WAT(context.Background(), guestbuild.EqualizerSource, out); err != nil {
		if errors.Is(err, exec.ErrNotFound) && !requireInterop() {
			t.Skipf("wat2wasm is not installed (Debian package wabt): %v", err)
		}
		t.Fatal(err)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, equalizerWasm) {
		t.Errorf("%s is stale: run `go generate ./wasm`", guestbuild.EqualizerFile)
	}
}

func goVersion(t *testing.T) string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return "an unknown Go"
	}
	return strings.TrimSpace(string(out))
}

// TestTestdataNotStale assembles every testdata/*.wat with wabt's wat2wasm
// (an independent toolchain: the hand-written modules prove filters need
// not be Go) and compares with the checked-in .wasm; then it registers the
// freshly assembled gain filter and runs it.
func TestTestdataNotStale(t *testing.T) {
	wats, err := filepath.Glob("testdata/*.wat")
	if err != nil || len(wats) == 0 {
		t.Fatalf("no testdata/*.wat: %v", err)
	}
	dir := t.TempDir()
	for _, src := range wats {
		out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
		if err := guestbuild.WAT(context.Background(), src, out); err != nil {
			if errors.Is(err, exec.ErrNotFound) && !requireInterop() {
				t.Skipf("wat2wasm is not installed (Debian package wabt): %v", err)
			}
			t.Fatal(err)
		}
		fresh, _ := os.ReadFile(out)
		checkedIn, err := os.ReadFile(strings.TrimSuffix(src, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(fresh, checkedIn) {
			t.Errorf("%s.wasm is stale or missing (%v): run `go generate ./wasm`", strings.TrimSuffix(src, ".wat"), err)
		}
	}
	gain, err := os.ReadFile(filepath.Join(dir, "gain.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	h := testHost(t, Config{})
	if _, err := h.Register(context.Background(), "gain", gain); err != nil {
		t.Fatal(err)
	}
	c := newChain(t, h, `{"gain": {"gain": 0.25}}`, nil)
	if out := c.Process(frameOf(0.5)); out[0] != 0.125 {
		t.Errorf("wat2wasm's gain: 0.5 · 0.25 = %v", out[0])
	}
}
