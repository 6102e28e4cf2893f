package e2e

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFiltersUnderQEMU runs package wasm's filter tests on the two ARM
// targets under qemu-user: on arm64 wazero compiles the modules to ARM
// code (NEON for the equalizer's SIMD), on armv7 it interprets them, and
// both must give what the filters give natively (TestBuiltins measures
// each built-in on signals; TestEqualizerModule* compare the hand-written
// SIMD equalizer with its Go reference).
func TestFiltersUnderQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds package wasm's tests and emulates them")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []struct{ arch, goarch, goarm string }{{"arm64", "arm64", ""}, {"armhf", "arm", "7"}} {
		t.Run(target.arch, func(t *testing.T) {
			t.Parallel() // the two builds and emulations overlap
			needTools(t, qemu[target.arch])
			bin := filepath.Join(t.TempDir(), "wasm.test")
			build := exec.CommandContext(t.Context(), filepath.Join(runtime.GOROOT(), "bin", "go"), "test", "-c", "-o", bin, "./wasm")
			build.Dir = root
			build.Env = append(build.Environ(), "GOOS=linux", "GOARCH="+target.goarch, "GOARM="+target.goarm, "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c for %s: %v\n%s", target.arch, err, out)
			}
			run := exec.CommandContext(t.Context(), qemu[target.arch], bin,
				"-test.run", "^(TestBuiltins|TestEqualizerModuleMatchesDSP|TestEqualizerModuleRefuses)$", "-test.v")
			run.Dir = filepath.Join(root, "wasm") // its testdata
			out, err := run.CombinedOutput()
			if err != nil {
				t.Fatalf("package wasm's filter tests on %s: %v\n%s", target.arch, err, out)
			}
			if !strings.Contains(string(out), "--- PASS: TestEqualizerModuleMatchesDSP") || !strings.Contains(string(out), "--- PASS: TestBuiltins") {
				t.Fatalf("the tests did not run on %s:\n%s", target.arch, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "largest difference") {
					t.Logf("%s: %s", target.arch, strings.TrimSpace(line))
				}
			}
		})
	}
}
