//go:build race

package wasm

// raceEnabled is set under the race detector, which slows the Go side of
// every call by an order of magnitude: budget tests scale their budgets.
const raceEnabled = true
