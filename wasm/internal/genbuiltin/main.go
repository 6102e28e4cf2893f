// Command genbuiltin regenerates the WebAssembly files of package wasm: the
// built-in filters' guest (builtin/builtin.wasm), the hand-written
// equalizer (builtin/equalizer) and test modules (testdata/*.wat ->
// testdata/*.wasm). Run it through `go generate`
// in the wasm directory; it needs Go and wabt's wat2wasm.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/discodo-go/discodo/wasm/internal/guestbuild"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "genbuiltin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if err := guestbuild.Builtin(ctx, ".", guestbuild.BuiltinFile); err != nil {
		return err
	}
	if err := guestbuild.WAT(ctx, guestbuild.EqualizerSource, guestbuild.EqualizerFile); err != nil {
		return err
	}
	wats, err := filepath.Glob("testdata/*.wat")
	if err != nil {
		return err
	}
	for _, src := range wats {
		if err := guestbuild.WAT(ctx, src, strings.TrimSuffix(src, ".wat")+".wasm"); err != nil {
			return err
		}
	}
	return nil
}
