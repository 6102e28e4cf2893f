package wasm

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The WebAssembly binary format (Core Specification 2.0, §5.5 "Modules"), as
// far as the host reads it itself before wazero sees a module.
//
// # Why the host parses modules itself
//
// Three reasons. It names a forbidden import or an oversized memory without
// spending a compilation on it. It gives every table a maximum (wazero bounds
// memories, not tables: one table.grow could ask for 2³² entries, 32 GiB,
// and take the node down). And it keeps wazero's decoder from allocating in
// proportion to counts the module declares rather than bytes it contains:
// wazero v1.12 makes its slices from a vector's declared count before reading
// the elements, so a 100-byte module declaring four billion parameter types
// or locals, or a data segment of four billion bytes, makes it allocate
// gigabytes (observed: 13 GB for one type section found by FuzzRegister). So
// every vector below is checked against the bytes left and against a limit,
// every function's locals are counted, and custom sections (where wazero
// would decode the name section the same way) are dropped before compiling.
//
//	module    = magic:"\0asm" version:01 00 00 00 section*
//	section   = id:u8 size:u32 contents[size]            numbers are LEB128
//	   id 0   custom:   name bytes                          dropped
//	   id 1   type:     vec(0x60 vec(valtype) vec(valtype))
//	   id 2   import:   vec(import)
//	   id 3   function: vec(typeidx:u32)
//	   id 4   table:    vec(reftype:u8 limits)             maximum enforced
//	   id 5   memory:   vec(limits)
//	   id 6   global:   vec(valtype:u8 mut:u8 expr)
//	   id 7   export:   vec(name kind:u8 index:u32)
//	   id 8   start:    funcidx:u32
//	   id 9   element:  vec(elem)                          8 encodings, §5.5.12
//	   id 10  code:     vec(size:u32 vec(n:u32 valtype) expr)
//	   id 11  data:     vec(0 expr vec(byte) | 1 vec(byte) | 2 memidx expr vec(byte))
//	   id 12  datacount: u32
//	import    = module:name field:name kind:u8 desc
//	            kind 0 func desc = typeidx:u32, 1 table = reftype limits,
//	            2 memory = limits, 3 global = valtype mut, 4 tag = 0x00 typeidx
//	name      = len:u32 utf8[len]
//	limits    = flags:u8 min max?   flags bit 0: max present, bit 1: shared,
//	                                bit 2: 64-bit (min and max are u64)
//	expr      = constant instructions ended by 0x0b (§3.3.10: i32/i64/f32/
//	            f64/v128.const, global.get, ref.null, ref.func)
//	vec(x)    = count:u32 x[count]

// Limits of a module's structure: far above what a filter needs (the
// built-ins have 1,400 functions), far below what would exhaust a small
// board.
const (
	maxTypes       = 100_000
	maxImports     = 1_000
	maxFunctions   = 100_000
	maxTables      = 100
	maxMemories    = 1
	maxGlobals     = 100_000
	maxExports     = 100_000
	maxElements    = 100_000
	maxDataEntries = 100_000
	maxParams      = 1_000 // parameters or results of one function type
	maxLocals      = 50_000
	maxExprLength  = 64 // instructions in one constant expression
)

// importKind names the kinds of §5.5.5.
var importKinds = [...]string{"func", "table", "memory", "global", "tag"}

// moduleImport is one entry of the import section.
type moduleImport struct {
	Module, Name string
	Kind         byte // index into importKinds
}

func (im moduleImport) String() string {
	kind := "unknown"
	if int(im.Kind) < len(importKinds) {
		kind = importKinds[im.Kind]
	}
	return fmt.Sprintf("%s %q.%q", kind, im.Module, im.Name)
}

// moduleHeader is what readModule learned.
type moduleHeader struct {
	Imports []moduleImport
	// MemoryMin holds the minimum, in pages, of each memory the module
	// defines (imported memories are forbidden anyway).
	MemoryMin []uint64
	Tables    []table
	// sections are the offsets of every section, id byte to end.
	sections []section
}

type section struct {
	id         byte
	start, end int
}

// table is one entry of the table section.
type table struct {
	RefType  byte
	Min, Max uint64
	HasMax   bool
}

var errTruncated = errors.New("truncated")

// readModule parses the structure of a WebAssembly binary. It allocates in
// proportion to the entries it finds, never to a declared count.
func readModule(b []byte) (moduleHeader, error) {
	var h moduleHeader
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return h, errors.New("not a WebAssembly binary (no \\0asm magic)")
	}
	if v := b[4:8]; v[0] != 1 || v[1] != 0 || v[2] != 0 || v[3] != 0 {
		return h, fmt.Errorf("binary format version %x, want 01000000 (components are not modules)", v)
	}
	r := reader{b: b, off: 8}
	for r.off < len(r.b) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return h, err
		}
		size, err := r.u32()
		if err != nil {
			return h, fmt.Errorf("section %d: %w", id, err)
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return h, fmt.Errorf("section %d of %d bytes: %w", id, size, err)
		}
		h.sections = append(h.sections, section{id, start, r.off})
		s := &reader{b: body, base: r.off - len(body)}
		switch id {
		case 0: // custom: dropped
		case 1:
			err = s.vec(maxTypes, s.funcType)
		case 2:
			err = s.vec(maxImports, func() error {
				im, err := s.importEntry()
				h.Imports = append(h.Imports, im)
				return err
			})
		case 3:
			err = s.vec(maxFunctions, s.skipU32)
		case 4:
			err = s.vec(maxTables, func() error {
				t, err := s.table()
				h.Tables = append(h.Tables, t)
				return err
			})
		case 5:
			err = s.vec(maxMemories, func() error {
				min, err := s.limits()
				h.MemoryMin = append(h.MemoryMin, min)
				return err
			})
		case 6:
			err = s.vec(maxGlobals, s.global)
		case 7:
			err = s.vec(maxExports, s.export)
		case 8, 12:
			err = s.skipU32()
		case 9:
			err = s.vec(maxElements, s.element)
		case 10:
			err = s.vec(maxFunctions, s.code)
		case 11:
			err = s.vec(maxDataEntries, s.data)
		default:
			err = fmt.Errorf("unknown or unsupported section id %d", id)
		}
		if err == nil && id != 0 {
			err = s.end()
		}
		if err != nil {
			return h, fmt.Errorf("section %d: %w", id, err)
		}
	}
	return h, nil
}

// compilable returns the bytes wazero gets: custom sections dropped, every
// table given a maximum of at most tableLimit entries (a table whose minimum
// is over it is an error). table.grow past the maximum fails inside the
// module (returns −1), as memory.grow does at the memory limit.
func (h moduleHeader) compilable(b []byte, tableLimit uint64) ([]byte, error) {
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:8]...)
	for _, s := range h.sections {
		switch s.id {
		case 0:
		case 4:
			body := appendULEB(nil, uint64(len(h.Tables)))
			for i, t := range h.Tables {
				if t.Min > tableLimit {
					return nil, fmt.Errorf("table %d: %d entries minimum, the limit is %d", i, t.Min, tableLimit)
				}
				max := tableLimit
				if t.HasMax && t.Max < tableLimit {
					max = t.Max
				}
				body = append(body, t.RefType, 1)
				body = appendULEB(body, t.Min)
				body = appendULEB(body, max)
			}
			out = append(out, 4)
			out = appendULEB(out, uint64(len(body)))
			out = append(out, body...)
		default:
			out = append(out, b[s.start:s.end]...)
		}
	}
	return out, nil
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// reader decodes from b; base is b's offset in the whole binary, for
// messages.
type reader struct {
	b         []byte
	off, base int
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", r.base+r.off, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("%w at offset %d", errTruncated, r.base+r.off)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, fmt.Errorf("%w: %d bytes wanted at offset %d, %d left", errTruncated, n, r.base+r.off, len(r.b)-r.off)
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// uleb reads an unsigned LEB128 of at most bits bits (§5.2.2).
func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits || (bits-shift < 7 && c&0x7f>>(bits-shift) != 0) {
			return 0, fmt.Errorf("LEB128 over %d bits at offset %d", bits, r.base+r.off-1)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits uint) error {
	for n := uint(0); ; n += 7 {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if n >= bits {
			return fmt.Errorf("signed LEB128 over %d bits at offset %d", bits, r.base+r.off-1)
		}
		if c&0x80 == 0 {
			return nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

func (r *reader) skipU32() error {
	_, err := r.u32()
	return err
}

// vec reads a vector whose count must not exceed limit, nor the bytes left
// (every element takes one byte at least), calling elem for each element.
func (r *reader) vec(limit int, elem func() error) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	if int64(n) > int64(limit) || int(n) > len(r.b)-r.off {
		return r.errorf("a vector of %d elements (limit %d, %d bytes left)", n, limit, len(r.b)-r.off)
	}
	for i := uint32(0); i < n; i++ {
		if err := elem(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("name at offset %d is not UTF-8", r.base+r.off-len(b))
	}
	return string(b), nil
}

// valType reads a value type: the numeric types, v128, funcref, externref.
func (r *reader) valType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return nil
	}
	return fmt.Errorf("value type 0x%02x at offset %d", c, r.base+r.off-1)
}

func (r *reader) funcType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != 0x60 {
		return fmt.Errorf("type form 0x%02x at offset %d, want a function type (0x60)", c, r.base+r.off-1)
	}
	if err := r.vec(maxParams, r.valType); err != nil {
		return err
	}
	return r.vec(maxParams, r.valType)
}

// limits reads a limits structure and returns its minimum.
func (r *reader) limits() (uint64, error) {
	min, _, _, _, err := r.fullLimits()
	return min, err
}

func (r *reader) fullLimits() (min, max uint64, hasMax bool, flags byte, err error) {
	if flags, err = r.byte(); err != nil {
		return
	}
	if flags > 7 {
		err = fmt.Errorf("limits flags 0x%02x at offset %d", flags, r.base+r.off-1)
		return
	}
	bits := uint(32)
	if flags&4 != 0 {
		bits = 64
	}
	if min, err = r.uleb(bits); err != nil {
		return
	}
	if hasMax = flags&1 != 0; hasMax {
		max, err = r.uleb(bits)
	}
	return
}

func (r *reader) importEntry() (moduleImport, error) {
	var im moduleImport
	var err error
	if im.Module, err = r.name(); err != nil {
		return im, err
	}
	if im.Name, err = r.name(); err != nil {
		return im, err
	}
	if im.Kind, err = r.byte(); err != nil {
		return im, err
	}
	switch im.Kind {
	case 0: // func
		err = r.skipU32()
	case 1: // table
		if _, err = r.byte(); err == nil {
			_, err = r.limits()
		}
	case 2: // memory
		_, err = r.limits()
	case 3: // global
		if err = r.valType(); err == nil {
			_, err = r.byte()
		}
	case 4: // tag
		if _, err = r.byte(); err == nil {
			err = r.skipU32()
		}
	default:
		err = fmt.Errorf("import %q.%q has kind 0x%02x", im.Module, im.Name, im.Kind)
	}
	return im, err
}

func (r *reader) table() (table, error) {
	var t table
	var err error
	if t.RefType, err = r.byte(); err != nil {
		return t, err
	}
	if t.RefType != 0x70 && t.RefType != 0x6f {
		return t, fmt.Errorf("table type 0x%02x at offset %d is not funcref or externref", t.RefType, r.base+r.off-1)
	}
	var flags byte
	if t.Min, t.Max, t.HasMax, flags, err = r.fullLimits(); err != nil {
		return t, err
	}
	if flags&^1 != 0 {
		return t, fmt.Errorf("table limits flags 0x%02x at offset %d (shared or 64-bit)", flags, r.base+r.off)
	}
	return t, nil
}

// expr skips a constant expression (§3.3.10) up to and including its end.
func (r *reader) expr() error {
	for i := 0; i < maxExprLength; i++ {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			err = r.sleb(32)
		case 0x42: // i64.const
			err = r.sleb(64)
		case 0x43: // f32.const
			_, err = r.bytes(4)
		case 0x44: // f64.const
			_, err = r.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			err = r.skipU32()
		case 0xd0: // ref.null
			_, err = r.byte()
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					return fmt.Errorf("instruction 0xfd %d in a constant expression at offset %d", sub, r.base+r.off)
				}
				_, err = r.bytes(16)
			}
		default:
			return fmt.Errorf("instruction 0x%02x in a constant expression at offset %d", op, r.base+r.off-1)
		}
		if err != nil {
			return err
		}
	}
	return r.errorf("a constant expression longer than %d instructions", maxExprLength)
}

func (r *reader) global() error {
	if err := r.valType(); err != nil {
		return err
	}
	if _, err := r.byte(); err != nil { // mutability
		return err
	}
	return r.expr()
}

func (r *reader) export() error {
	if _, err := r.name(); err != nil {
		return err
	}
	if _, err := r.byte(); err != nil {
		return err
	}
	return r.skipU32()
}

// element reads one of the eight encodings of an element segment (§5.5.12).
func (r *reader) element() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return r.errorf("element segment flags %d", flags)
	}
	if flags&2 != 0 && flags&1 == 0 { // 2, 6: explicit table index
		if err := r.skipU32(); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // 0, 2, 4, 6: active, with an offset
		if err := r.expr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // 1, 2, 3, 5, 6, 7: elemkind or reftype
		if _, err := r.byte(); err != nil {
			return err
		}
	}
	// A segment initializes table entries: it needs no more items than a
	// table may hold.
	if flags&4 == 0 { // function indices
		return r.vec(maxTableEntries, r.skipU32)
	}
	return r.vec(maxTableEntries, r.expr) // expressions
}

// code reads one function body: its size, and its locals, which it counts.
func (r *reader) code() error {
	size, err := r.u32()
	if err != nil {
		return err
	}
	body, err := r.bytes(int(size))
	if err != nil {
		return err
	}
	f := reader{b: body, base: r.base + r.off - len(body)}
	var total uint64 // not int: 32-bit boards
	err = f.vec(maxLocals, func() error {
		n, err := f.u32()
		if err != nil {
			return err
		}
		if total += uint64(n); total > maxLocals {
			return f.errorf("a function with over %d locals", maxLocals)
		}
		return f.valType()
	})
	return err
}

func (r *reader) data() error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	switch flags {
	case 0:
		err = r.expr()
	case 1:
	case 2:
		if err = r.skipU32(); err == nil {
			err = r.expr()
		}
	default:
		return r.errorf("data segment flags %d", flags)
	}
	if err != nil {
		return err
	}
	n, err := r.u32()
	if err != nil {
		return err
	}
	_, err = r.bytes(int(n))
	return err
}

// end checks a section was read to its last byte.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%d bytes left over at offset %d", len(r.b)-r.off, r.base+r.off)
	}
	return nil
}
