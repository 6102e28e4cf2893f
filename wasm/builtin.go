package wasm

import (
	"crypto/sha256"
	_ "embed"
	"sync"
)

// The built-in filters come in two embedded modules, both rebuilt by `go
// generate` (which also assembles testdata/*.wat); TestBuiltinNotStale
// fails when either is out of date.
//
//   - builtin/builtin.wasm carries nine filters, built from builtin/guest
//     and builtin/dsp with Go;
//   - builtin/equalizer/equalizer.wasm carries the equalizer, written by
//     hand in WebAssembly text for SIMD, which Go does not compile to:
//     fifteen recursions per sample are where scalar code is too slow.
//
// Both answer builtin_select for their filters, so the host treats them
// alike.
//
//go:generate go run ./internal/genbuiltin
var (
	//go:embed builtin/builtin.wasm
	guestWasm []byte
	//go:embed builtin/equalizer/equalizer.wasm
	equalizerWasm []byte
)

// builtinModule is one embedded module of built-in filters. Its SHA-256 is
// computed at its first use: hashing reads the whole module (1.9 MB for
// the guest), which would otherwise stay resident (as file-backed pages)
// in a node that never runs a filter.
type builtinModule struct {
	bytes []byte
	sum   func() [32]byte
}

func newBuiltinModule(b []byte) *builtinModule {
	return &builtinModule{bytes: b, sum: sync.OnceValue(func() [32]byte { return sha256.Sum256(b) })}
}

var (
	guestModule     = newBuiltinModule(guestWasm)
	equalizerModule = newBuiltinModule(equalizerWasm)
	builtinModules  = []*builtinModule{guestModule, equalizerModule}
)

// moduleOf returns the module that carries the built-in filter name.
func moduleOf(name string) *builtinModule {
	if name == "equalizer" {
		return equalizerModule
	}
	return guestModule
}
