package wasm

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The part of the WebAssembly binary format (Core Specification 2.0, §5.5
// "Modules") that the host reads itself, before wazero compiles anything:
// the imports (to name a forbidden one) and the memory minimum (to name the
// limit it breaks). Everything else is skipped by size and left to wazero's
// validation.
//
//	module   = magic:"\0asm" version:01 00 00 00 section*
//	section  = id:u8 size:u32 contents[size]           sizes are LEB128
//	           id 2 import section: vec(import)
//	           id 5 memory section: vec(limits)
//	import   = module:name field:name kind:u8 desc
//	           kind 0 func   desc = typeidx:u32
//	           kind 1 table  desc = reftype:u8 limits
//	           kind 2 memory desc = limits
//	           kind 3 global desc = valtype:u8 mut:u8
//	           kind 4 tag    desc = attribute:u8 typeidx:u32
//	name     = len:u32 utf8[len]
//	limits   = flags:u8 min max?   flags bit 0: max present, bit 1: shared,
//	                               bit 2: 64-bit (min and max are u64)
//	vec(x)   = count:u32 x[count]

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
}

var errTruncated = errors.New("truncated")

// readModule parses the header, the import section and the memory section
// of a WebAssembly binary. It allocates in proportion to the entries it
// finds, never to a declared count.
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
			return h, fmt.Errorf("section %d of %d bytes at offset %d: %w", id, size, r.off, err)
		}
		s := reader{b: body, base: r.off - len(body)}
		switch id {
		case 2:
			if h.Imports, err = s.imports(); err != nil {
				return h, fmt.Errorf("import section: %w", err)
			}
		case 5:
			if h.MemoryMin, err = s.memories(); err != nil {
				return h, fmt.Errorf("memory section: %w", err)
			}
		}
	}
	return h, nil
}

// reader decodes from b; base is b's offset in the whole binary, for
// messages.
type reader struct {
	b         []byte
	off, base int
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

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
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

// limits reads a limits structure and returns its minimum.
func (r *reader) limits() (uint64, error) {
	flags, err := r.byte()
	if err != nil {
		return 0, err
	}
	if flags > 7 {
		return 0, fmt.Errorf("limits flags 0x%02x at offset %d", flags, r.base+r.off-1)
	}
	bits := uint(32)
	if flags&4 != 0 {
		bits = 64
	}
	min, err := r.uleb(bits)
	if err != nil {
		return 0, err
	}
	if flags&1 != 0 {
		if _, err := r.uleb(bits); err != nil {
			return 0, err
		}
	}
	return min, nil
}

func (r *reader) imports() ([]moduleImport, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var out []moduleImport
	for i := uint32(0); i < n; i++ {
		var im moduleImport
		if im.Module, err = r.name(); err != nil {
			return nil, err
		}
		if im.Name, err = r.name(); err != nil {
			return nil, err
		}
		if im.Kind, err = r.byte(); err != nil {
			return nil, err
		}
		switch im.Kind {
		case 0: // func
			_, err = r.u32()
		case 1: // table
			if _, err = r.byte(); err == nil {
				_, err = r.limits()
			}
		case 2: // memory
			_, err = r.limits()
		case 3: // global
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		case 4: // tag
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			err = fmt.Errorf("import %q.%q has kind 0x%02x", im.Module, im.Name, im.Kind)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, r.end()
}

func (r *reader) memories() ([]uint64, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for i := uint32(0); i < n; i++ {
		min, err := r.limits()
		if err != nil {
			return nil, err
		}
		out = append(out, min)
	}
	return out, r.end()
}

// end checks a section was read to its last byte.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%d bytes left over at offset %d", len(r.b)-r.off, r.base+r.off)
	}
	return nil
}
