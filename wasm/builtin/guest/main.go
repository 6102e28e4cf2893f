//go:build wasip1

// Command guest is the WebAssembly module that carries the ten built-in
// filters: one module, ten filters, selected per instance.
//
// It implements the filter ABI version 1 (/work/shared/spec/wasm-filter-abi.md)
// plus one export only the node's host calls, right after the two allocs:
//
//	builtin_select(name_ptr i32, name_len i32) -> i32   0 ok, 1 unknown filter
//
// Until a filter is selected, set_param answers 1 and process -1.
//
// Build it with `go generate` in wasm/ (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared: a WASI reactor with _initialize).
package main

import (
	"unsafe"

	"github.com/discodo-go/discodo/wasm/builtin/dsp"
)

func main() {}

var (
	filter dsp.Filter
	// regions keeps every block handed out by alloc reachable, so that the
	// garbage collector never frees what the host writes into.
	regions [][]uint64
)

//go:wasmexport abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport alloc
func alloc(size int32) int32 {
	if size <= 0 || size > 64<<20 {
		return 0
	}
	block := make([]uint64, (size+7)/8) // 8-byte aligned
	regions = append(regions, block)
	return int32(uintptr(unsafe.Pointer(&block[0])))
}

// bytesAt returns the n bytes at ptr if they lie inside one allocated block.
func bytesAt(ptr, n int32) []byte {
	if n < 0 {
		return nil
	}
	p := uintptr(ptr)
	for _, block := range regions {
		base := unsafe.Pointer(&block[0])
		start := uintptr(base)
		end := start + uintptr(len(block))*8
		if p >= start && p+uintptr(n) <= end {
			return unsafe.Slice((*byte)(unsafe.Add(base, p-start)), n)
		}
	}
	return nil
}

//go:wasmexport builtin_select
func builtinSelect(namePtr, nameLen int32) int32 {
	name := bytesAt(namePtr, nameLen)
	if name == nil || filter != nil {
		return 1
	}
	filter = dsp.New(string(name))
	if filter == nil {
		return 1
	}
	return 0
}

//go:wasmexport set_param
func setParam(namePtr, nameLen int32, value float64) int32 {
	name := bytesAt(namePtr, nameLen)
	if name == nil || filter == nil {
		return dsp.Unknown
	}
	return filter.SetParam(unsafe.String(unsafe.SliceData(name), len(name)), value)
}

//go:wasmexport reset
func reset() {
	if filter != nil {
		filter.Reset()
	}
}

//go:wasmexport process
func process(ptr, frames, channels, rate, capFrames int32) int32 {
	if filter == nil || channels <= 0 || channels > 8 || capFrames < 0 || capFrames > 1<<20 {
		return -1
	}
	b := bytesAt(ptr, capFrames*channels*4)
	if b == nil || ptr%4 != 0 {
		return -1
	}
	buf := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), int(capFrames*channels))
	return int32(filter.Process(buf, int(frames), int(channels), int(rate), int(capFrames)))
}
