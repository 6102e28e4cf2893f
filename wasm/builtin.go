package wasm

import _ "embed"

// builtinModule is the WebAssembly module of the ten built-in filters, built
// from builtin/guest and builtin/dsp by `go generate` (which also assembles
// testdata/*.wat). TestBuiltinNotStale fails when it is out of date.
//
//go:generate go run ./internal/genbuiltin
//go:embed builtin/builtin.wasm
var builtinModule []byte
