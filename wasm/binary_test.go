package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

func TestReadModule(t *testing.T) {
	for _, tc := range []struct {
		module  string
		imports []string
		memory  []uint64
	}{
		{"gain", nil, []uint64{1}},
		{"hostile", []string{`func "wasi_snapshot_preview1"."proc_exit"`, `func "wasi_snapshot_preview1"."fd_write"`}, []uint64{1}},
		{"import_env", []string{`func "env"."socket"`}, []uint64{1}},
		{"bigmem", nil, []uint64{300}},
	} {
		h, err := readModule(module(t, tc.module))
		if err != nil {
			t.Errorf("%s: %v", tc.module, err)
			continue
		}
		var imports []string
		for _, im := range h.Imports {
			imports = append(imports, im.String())
		}
		if !reflect.DeepEqual(imports, tc.imports) || !reflect.DeepEqual(h.MemoryMin, tc.memory) {
			t.Errorf("%s: imports %q memory %v, want %q %v", tc.module, imports, h.MemoryMin, tc.imports, tc.memory)
		}
	}
	// The built-ins' module imports only what uploads may.
	h, err := readModule(guestWasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range h.Imports {
		if im.Module != wasiModule || !allowedImports[im.Name] {
			t.Errorf("the built-ins import %v", im)
		}
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm"), []byte("\x00asm\x0d\x00\x01\x00"), []byte("\x00asm\x01\x00\x00\x00\x02\x05\x01")} {
		if _, err := readModule(bad); err == nil {
			t.Errorf("readModule(%q) accepted it", bad)
		}
	}
}

// seedModules adds every checked-in module to a fuzz corpus.
func seedModules(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.wasm")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzReadModule checks the host's own reader against wazero's decoder:
// what readModule accepts, wazero may reject, but if wazero compiles it, it
// sees the same imports and memory. (Inputs readModule rejects are not
// given to wazero: some would make it allocate gigabytes, see binary.go.)
func FuzzReadModule(f *testing.F) {
	seedModules(f)
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readModule(b)
		if err != nil {
			return
		}
		c, err := h.compilable(b, maxTableEntries)
		if err != nil {
			return
		}
		if _, err := readModule(c); err != nil {
			t.Fatalf("the compilable form does not read back: %v", err)
		}
		cm, err := r.CompileModule(ctx, c)
		if err != nil {
			return
		}
		defer cm.Close(ctx)
		var want []string
		for _, def := range cm.ImportedFunctions() {
			mod, name, _ := def.Import()
			want = append(want, fmt.Sprintf("func %q.%q", mod, name))
		}
		for _, def := range cm.ImportedMemories() {
			mod, name, _ := def.Import()
			want = append(want, fmt.Sprintf("memory %q.%q", mod, name))
		}
		var got []string
		for _, im := range h.Imports {
			if im.Kind == 0 || im.Kind == 2 {
				got = append(got, im.String())
			}
		}
		if len(got) != len(want) {
			t.Fatalf("imports %q, wazero %q", got, want)
		}
		for _, def := range cm.ExportedMemories() {
			if len(h.MemoryMin) == 0 || uint64(def.Min()) != h.MemoryMin[0] {
				t.Fatalf("memory minimum %v, wazero %d", h.MemoryMin, def.Min())
			}
		}
	})
}

// FuzzRegister feeds arbitrary bytes to Register: each is rejected with a
// clear error or registered; a registered module runs in a chain (perhaps
// bypassed) and the host stays usable.
func FuzzRegister(f *testing.F) {
	seedModules(f)
	h, err := New(context.Background(), Config{CacheDir: testCacheDir, CallBudget: 10 * time.Millisecond, MaxModuleBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close(context.Background())
	known := []error{ErrInvalidModule, ErrForbiddenImport, ErrMissingExport, ErrMemoryLimit, ErrABIVersion, ErrInit, ErrModuleTooLarge}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		_, err := h.Register(ctx, "fuzz", b)
		if err != nil {
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("Register: unclassified error %v", err)
		}
		defer h.Remove(ctx, "fuzz")
		c, err := h.NewChain(ctx, ChainSpec{Filters: []FilterSpec{{Name: "fuzz"}, {Name: "volume"}}}, nil)
		if err != nil {
			return // alloc or select failed: a clear error
		}
		defer c.Close(ctx)
		in := frameOf(0.25)
		for range 3 {
			out := c.Process(in)
			if len(out)%2 != 0 || len(out) > Cap*Channels {
				t.Fatalf("Process returned %d samples", len(out))
			}
		}
	})
}

// section builds one section: id, LEB128 size, body.
func sectionBytes(id byte, body ...byte) []byte {
	return append(appendULEB([]byte{id}, uint64(len(body))), body...)
}

func TestDecoderBombs(t *testing.T) {
	// Small modules that declare huge vectors. wazero v1.12 would allocate
	// for the declared counts (gigabytes); the host refuses them first.
	header := []byte("\x00asm\x01\x00\x00\x00")
	big := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // 2^32 - 1
	h := testHost(t, Config{})
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"param types", sectionBytes(1, append(append([]byte{1, 0x60}, big...), 0x7f)...)},
		{"imports", sectionBytes(2, big...)},
		{"exports", sectionBytes(7, big...)},
		{"export name", sectionBytes(7, append([]byte{1}, big...)...)},
		{"locals", sectionBytes(10, append(append([]byte{1, 8, 1}, big...), 0x7f, 0x0b)...)},
		{"data bytes", sectionBytes(11, append([]byte{1, 1}, big...)...)},
		{"element functions", sectionBytes(9, append([]byte{1, 1, 0}, big...)...)},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := h.Register(context.Background(), "bomb", append(append([]byte{}, header...), tc.body...))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrInvalidModule) {
			t.Errorf("%s: %v, want ErrInvalidModule", tc.name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: %d MiB allocated", tc.name, grew>>20)
		}
	}
}
