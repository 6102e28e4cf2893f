package wasm

import (
	"errors"
	"fmt"
)

// Returned by Register (the node answers 400 with the message).
var (
	// ErrInvalidName is returned when a filter name is not [a-z0-9_-]{1,64}.
	ErrInvalidName = errors.New("wasm: invalid filter name")
	// ErrBuiltinName is returned when an upload uses a built-in's name.
	ErrBuiltinName = errors.New("wasm: built-in filters cannot be replaced")
	// ErrModuleTooLarge is returned when a module exceeds Config.MaxModuleBytes.
	ErrModuleTooLarge = errors.New("wasm: module too large")
	// ErrInvalidModule is returned when the bytes are not a valid
	// WebAssembly module (bad binary, failed validation or compilation).
	ErrInvalidModule = errors.New("wasm: invalid module")
	// ErrForbiddenImport is returned when a module imports anything but the
	// allowed wasi_snapshot_preview1 functions; the message names the import.
	ErrForbiddenImport = errors.New("wasm: forbidden import")
	// ErrMissingExport is returned when a required export is absent or has
	// the wrong type; the message names it.
	ErrMissingExport = errors.New("wasm: missing or mistyped export")
	// ErrMemoryLimit is returned when a module's minimum memory exceeds
	// Config.MaxMemoryPages, or a table's minimum 2^18 entries.
	ErrMemoryLimit = errors.New("wasm: memory or table minimum over the limit")
	// ErrABIVersion is returned when abi_version() is not 1.
	ErrABIVersion = errors.New("wasm: unsupported ABI version")
	// ErrInit is returned when instantiating a module fails: _initialize
	// trapped, exited or overran its budget, or alloc failed.
	ErrInit = errors.New("wasm: module failed to initialize")
)

// Returned by Remove.
var (
	// ErrNotFound is returned when no uploaded filter has that name.
	ErrNotFound = errors.New("wasm: no such filter")
)

// Returned by ParseChain and NewChain (the node answers 400 with the
// message). Parameter problems come as a *ParamError wrapping one of these.
var (
	// ErrInvalidChain is returned when the filter option is not an ordered
	// object or an array of {"name", "params"} objects.
	ErrInvalidChain = errors.New("wasm: invalid filter chain")
	// ErrUnknownFilter is returned when a chain names a filter that is
	// neither built in nor uploaded.
	ErrUnknownFilter = errors.New("wasm: unknown filter")
	// ErrParamType is returned for a parameter that is not a number, a
	// boolean, or an array or object of them.
	ErrParamType = errors.New("not a number")
	// ErrUnknownParam is returned when set_param answers 1.
	ErrUnknownParam = errors.New("unknown parameter")
	// ErrParamRange is returned when set_param answers 2.
	ErrParamRange = errors.New("value out of range")
)

// Reported through a chain's onError callback (the node sends FILTER_ERROR
// with the message); the filter is bypassed from then on.
var (
	// ErrTrap is reported when a call trapped or the module exited.
	ErrTrap = errors.New("wasm: filter trapped")
	// ErrBudget is reported when a call overran Config.CallBudget.
	ErrBudget = errors.New("wasm: filter overran its time budget")
	// ErrBadReturn is reported when a call returned a value the ABI does
	// not allow (negative or over cap for process, not 0–2 for set_param,
	// an address outside memory for alloc).
	ErrBadReturn = errors.New("wasm: filter returned an invalid value")
	// ErrRemoved is reported when the filter was deleted while in use.
	ErrRemoved = errors.New("wasm: filter removed")
)

// ErrClosed is returned by every method of a closed Host.
var ErrClosed = errors.New("wasm: host closed")

// ParamError is a parameter a chain could not apply: the node turns it into
// a 400 naming the filter, the parameter and the reason.
type ParamError struct {
	Filter string // the filter's name
	Param  string // the flattened parameter name, e.g. "gains.3"
	Err    error  // ErrParamType, ErrUnknownParam, ErrParamRange or ErrBadReturn
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("filter %q: parameter %q: %v", e.Filter, e.Param, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }
