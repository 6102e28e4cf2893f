package wasm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// The ABI's exports (wasm-filter-abi.md, "Exports a module must have").
var (
	i32 = api.ValueTypeI32
	f64 = api.ValueTypeF64

	requiredExports = []struct {
		name            string
		params, results []api.ValueType
	}{
		{"abi_version", nil, []api.ValueType{i32}},
		{"alloc", []api.ValueType{i32}, []api.ValueType{i32}},
		{"set_param", []api.ValueType{i32, i32, f64}, []api.ValueType{i32}},
		{"reset", nil, nil},
		{"process", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	}
	// builtinSelect is the built-ins' own export: the host picks the
	// filter of an instance with it (see "Why one module for ten filters").
	builtinSelect = struct {
		name            string
		params, results []api.ValueType
	}{"builtin_select", []api.ValueType{i32, i32}, []api.ValueType{i32}}
)

// checkExports checks the compiled module has the ABI's exports with their
// exact types.
func checkExports(cm wazero.CompiledModule, builtin bool) error {
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("%w: memory \"memory\"", ErrMissingExport)
	}
	funcs := cm.ExportedFunctions()
	want := requiredExports
	if builtin {
		want = append(want[:len(want):len(want)], builtinSelect)
	}
	for _, w := range want {
		def, ok := funcs[w.name]
		if !ok {
			return fmt.Errorf("%w: function %q %s", ErrMissingExport, w.name, signature(w.params, w.results))
		}
		if !equalTypes(def.ParamTypes(), w.params) || !equalTypes(def.ResultTypes(), w.results) {
			return fmt.Errorf("%w: function %q is %s, want %s", ErrMissingExport, w.name,
				signature(def.ParamTypes(), def.ResultTypes()), signature(w.params, w.results))
		}
	}
	if def, ok := funcs["_initialize"]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		return fmt.Errorf("%w: function \"_initialize\" is %s, want () -> ()", ErrMissingExport,
			signature(def.ParamTypes(), def.ResultTypes()))
	}
	return nil
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func signature(params, results []api.ValueType) string {
	s := "("
	for i, p := range params {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(p)
	}
	s += ") -> ("
	for i, r := range results {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(r)
	}
	return s + ")"
}

// instance is one module instance serving one chain slot. It is used by one
// goroutine at a time.
type instance struct {
	h      *Host
	e      *entry
	filter string
	mod    api.Module
	mem    api.Memory

	abiVersionFn, allocFn, setParamFn, resetFn, processFn, selectFn api.Function

	audio, names uint32   // the regions alloc returned
	stack        []uint64 // CallWithStack's parameters and results
	out          *logWriter

	// The watchdog of untrusted instances (nil for the built-ins): a
	// cancelable context and a timer that cancels it, armed around each
	// call. Reusing both keeps a call free of allocations on our side.
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

// instantiate creates an instance of e and runs _initialize. filter names
// the slot in log lines ("" when Register checks a module).
func (h *Host) instantiate(ctx context.Context, e *entry, filter string) (*instance, error) {
	in := &instance{h: h, e: e, filter: filter, stack: make([]uint64, 5)}
	if filter == "" {
		in.filter = "(registering)"
	}
	in.out = newLogWriter(h, in.filter)
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStdout(in.out).
		WithStderr(in.out)
	ictx := ctx
	if !e.trusted {
		var cancel context.CancelFunc
		ictx, cancel = context.WithTimeout(ctx, h.initBudget)
		defer cancel()
	}
	mod, err := e.rt.InstantiateModule(ictx, e.compiled, mc)
	if err != nil {
		if ictx.Err() != nil {
			return nil, fmt.Errorf("%w: _initialize did not return within %v", ErrInit, h.initBudget)
		}
		return nil, fmt.Errorf("%w: %v", ErrInit, err)
	}
	in.mod = mod
	in.mem = mod.Memory()
	in.abiVersionFn = mod.ExportedFunction("abi_version")
	in.allocFn = mod.ExportedFunction("alloc")
	in.setParamFn = mod.ExportedFunction("set_param")
	in.resetFn = mod.ExportedFunction("reset")
	in.processFn = mod.ExportedFunction("process")
	in.selectFn = mod.ExportedFunction("builtin_select")
	if !e.trusted {
		in.renew()
	}
	return in, nil
}

// renew makes a fresh context and timer for the watchdog.
func (in *instance) renew() {
	if in.timer != nil {
		in.timer.Stop()
		in.cancel()
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.timer = time.AfterFunc(time.Hour, in.cancel)
	in.timer.Stop()
}

// call runs f with the parameters in in.stack and leaves its results there.
// An untrusted call that overruns budget is stopped: wazero checks the
// context at every loop back-edge and function entry and closes the module.
func (in *instance) call(f api.Function, budget time.Duration) error {
	if in.ctx == nil {
		return f.CallWithStack(context.Background(), in.stack)
	}
	if in.ctx.Err() != nil {
		// The timer fired just after the previous call returned: the
		// call was fine, the context is not.
		in.renew()
	}
	in.timer.Reset(budget)
	err := f.CallWithStack(in.ctx, in.stack)
	in.timer.Stop()
	return err
}

// callError turns what a call returned into the error reported to the node.
func (in *instance) callError(fn string, err error, budget time.Duration) error {
	if exit, ok := errors.AsType[*sys.ExitError](err); ok {
		switch exit.ExitCode() {
		case sys.ExitCodeContextCanceled, sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%w: %s ran over %v and was stopped", ErrBudget, fn, budget)
		}
		return fmt.Errorf("%w: %s: the module exited with code %d", ErrTrap, fn, exit.ExitCode())
	}
	return fmt.Errorf("%w: %s: %v", ErrTrap, fn, err)
}

// abiVersion calls abi_version.
func (in *instance) abiVersion() (int32, error) {
	if err := in.call(in.abiVersionFn, in.h.initBudget); err != nil {
		return 0, in.callError("abi_version", err, in.h.initBudget)
	}
	return int32(uint32(in.stack[0])), nil
}

// setup allocates the audio and name buffers (ABI: alloc, exactly twice) and,
// for the built-ins, selects the filter.
func (in *instance) setup(filter string) error {
	var err error
	if in.audio, err = in.alloc(audioBytes); err != nil {
		return err
	}
	if in.names, err = in.alloc(MaxParamName); err != nil {
		return err
	}
	if !in.e.builtin {
		return nil
	}
	if !in.mem.Write(in.names, []byte(filter)) {
		return fmt.Errorf("%w: name buffer outside memory", ErrInit)
	}
	in.stack[0], in.stack[1] = uint64(in.names), uint64(len(filter))
	if err := in.call(in.selectFn, in.h.initBudget); err != nil {
		return in.callError("builtin_select", err, in.h.initBudget)
	}
	if r := uint32(in.stack[0]); r != 0 {
		return fmt.Errorf("%w: %q", ErrUnknownFilter, filter)
	}
	return nil
}

// alloc calls alloc and checks the region lies in memory.
func (in *instance) alloc(size uint32) (uint32, error) {
	in.stack[0] = uint64(size)
	if err := in.call(in.allocFn, in.h.initBudget); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInit, in.callError("alloc", err, in.h.initBudget))
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return 0, fmt.Errorf("%w: alloc(%d) returned 0 (out of memory)", ErrInit, size)
	}
	if _, ok := in.mem.Read(ptr, size); !ok {
		return 0, fmt.Errorf("%w: alloc(%d) returned 0x%x, outside the %d bytes of memory", ErrBadReturn, size, ptr, in.mem.Size())
	}
	return ptr, nil
}

// setParam passes one parameter.
func (in *instance) setParam(p Param) error {
	if !in.mem.Write(in.names, []byte(p.Name)) {
		return fmt.Errorf("%w: name buffer outside memory", ErrBadReturn)
	}
	in.stack[0], in.stack[1], in.stack[2] = uint64(in.names), uint64(len(p.Name)), api.EncodeF64(p.Value)
	if err := in.call(in.setParamFn, in.h.cfg.CallBudget); err != nil {
		return in.callError("set_param", err, in.h.cfg.CallBudget)
	}
	switch r := int32(uint32(in.stack[0])); r {
	case 0:
		return nil
	case 1:
		return ErrUnknownParam
	case 2:
		return fmt.Errorf("%w: %v", ErrParamRange, p.Value)
	default:
		return fmt.Errorf("%w: set_param returned %d", ErrBadReturn, r)
	}
}

// reset calls reset.
func (in *instance) reset() error {
	if err := in.call(in.resetFn, in.h.cfg.CallBudget); err != nil {
		return in.callError("reset", err, in.h.cfg.CallBudget)
	}
	return nil
}

func (in *instance) close(ctx context.Context) {
	if in.timer != nil {
		in.timer.Stop()
		in.cancel()
	}
	in.out.flush()
	if in.mod != nil {
		_ = in.mod.Close(ctx)
	}
}
