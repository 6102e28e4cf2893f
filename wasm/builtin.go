package wasm

import (
	"crypto/sha256"
	_ "embed"
	"sync"
)

// builtinModule is the WebAssembly module of the ten built-in filters, built
// from builtin/guest and builtin/dsp by `go generate` (which also assembles
// testdata/*.wat). TestBuiltinNotStale fails when it is out of date.
//
//go:generate go run ./internal/genbuiltin
//go:embed builtin/builtin.wasm
var builtinModule []byte

// builtinSum is the module's SHA-256, computed at its first use: hashing
// reads all 1.9 MB of the embedded module, which would otherwise stay
// resident (as file-backed pages) in a node that never runs a filter.
var builtinSum = sync.OnceValue(func() [32]byte { return sha256.Sum256(builtinModule) })
