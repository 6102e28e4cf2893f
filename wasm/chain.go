package wasm

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// slowLimit is how many consecutive process calls a built-in may overrun
// the budget before it is bypassed: a built-in cannot be stopped mid-call,
// and one slow call is the machine's hiccup, not the filter's fault.
const slowLimit = 50

// Chain is one player's filters: one instance per slot, run in order on
// each frame. A Chain is used by one goroutine at a time (the player's);
// Register and Remove on other goroutines reach it through the Host.
type Chain struct {
	h       *Host
	spec    ChainSpec
	onError func(filter string, err error)
	gen     uint64
	slots   []slot
	out     []float32 // what Process returns
	closed  bool
}

// slot is one filter of the chain.
type slot struct {
	spec    FilterSpec
	e       *entry    // the module the slot runs (referenced); nil when dropped
	in      *instance // nil when bypassed
	slow    int       // consecutive overruns of a built-in
	dropped bool      // the filter was removed: the slot is gone for good
}

// NewChain instantiates spec: for each filter an instance, its two allocs
// and a set_param per parameter, in order. A parameter the filter rejects
// gives a *ParamError; an unknown filter ErrUnknownFilter. onError (which
// may be nil) is called on the Process goroutine when a filter fails later
// and is bypassed (the node sends FILTER_ERROR); it must not block.
func (h *Host) NewChain(ctx context.Context, spec ChainSpec, onError func(filter string, err error)) (*Chain, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if len(spec.Filters) > MaxChainLength {
		return nil, fmt.Errorf("%w: %d filters, the limit is %d", ErrInvalidChain, len(spec.Filters), MaxChainLength)
	}
	if onError == nil {
		onError = func(string, error) {}
	}
	c := &Chain{
		h:       h,
		spec:    spec,
		onError: onError,
		gen:     h.gen.Load(), // before acquiring: a later change is noticed
		slots:   make([]slot, len(spec.Filters)),
		out:     make([]float32, Cap*Channels),
	}
	for i, f := range spec.Filters {
		s := &c.slots[i]
		s.spec = f
		e, err := h.acquire(ctx, f.Name)
		if err != nil {
			c.Close(ctx)
			return nil, err
		}
		s.e = e
		if s.in, err = h.start(ctx, e, f); err != nil {
			c.Close(ctx)
			return nil, err
		}
	}
	return c, nil
}

// start instantiates one slot and passes its parameters.
func (h *Host) start(ctx context.Context, e *entry, f FilterSpec) (*instance, error) {
	in, err := h.instantiate(ctx, e, f.Name)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", f.Name, err)
	}
	if err := in.setup(f.Name); err != nil {
		in.close(ctx)
		return nil, fmt.Errorf("filter %q: %w", f.Name, err)
	}
	for _, p := range f.Params {
		if err := in.setParam(p); err != nil {
			in.close(ctx)
			return nil, &ParamError{Filter: f.Name, Param: p.Name, Err: err}
		}
	}
	return in, nil
}

// Spec returns the chain's filters as parsed.
func (c *Chain) Spec() ChainSpec { return c.spec }

// Process runs the chain on pcm, interleaved stereo float32 at 48 kHz
// (normally one 20 ms frame: 1920 samples), and returns the result, which
// may alias pcm or the chain's own buffer (valid until the next call) and
// may be shorter or longer than pcm when a filter such as timescale changes
// the length. A filter that traps, overruns its budget or returns a bad
// value is bypassed from then on and reported once through onError; the
// audio goes on without it. Inputs of more than Cap frames are processed in
// pieces of Cap frames; an odd trailing sample is ignored.
func (c *Chain) Process(pcm []float32) []float32 {
	if c.closed || c.h.closed.Load() || len(c.slots) == 0 {
		return pcm
	}
	if g := c.h.gen.Load(); g != c.gen {
		c.refresh(g)
	}
	frames := len(pcm) / Channels
	if frames <= Cap {
		return c.run(pcm[:frames*Channels], c.out[:0], true)
	}
	out := c.out[:0]
	for start := 0; start < frames; start += Cap {
		end := min(frames, start+Cap)
		out = c.run(pcm[start*Channels:end*Channels], out, false)
	}
	if cap(out) > cap(c.out) {
		c.out = out[:0]
	}
	return out
}

// run processes at most Cap frames and appends the result to out, or
// returns pcm itself when every slot is bypassed and alias allows it.
func (c *Chain) run(pcm []float32, out []float32, alias bool) []float32 {
	var cur []byte // the current signal: a view of the last slot's memory
	frames := len(pcm) / Channels
	for i := range c.slots {
		s := &c.slots[i]
		if s.in == nil {
			continue
		}
		in := s.in
		buf, ok := in.mem.Read(in.audio, audioBytes)
		if !ok { // the memory shrank: impossible, but not our crash
			c.fail(s, fmt.Errorf("%w: audio buffer outside memory", ErrBadReturn))
			continue
		}
		if cur == nil {
			putFloats(buf, pcm)
		} else {
			copy(buf, cur)
		}
		in.stack[0], in.stack[1], in.stack[2], in.stack[3], in.stack[4] =
			uint64(in.audio), uint64(frames), Channels, Rate, Cap
		var start time.Time
		if in.e.trusted {
			start = time.Now()
		}
		if err := in.call(in.processFn, c.h.cfg.CallBudget); err != nil {
			c.fail(s, in.callError("process", err, c.h.cfg.CallBudget))
			continue
		}
		n := int32(uint32(in.stack[0]))
		if n < 0 || n > Cap {
			c.fail(s, fmt.Errorf("%w: process returned %d (cap %d)", ErrBadReturn, n, Cap))
			continue
		}
		if in.e.trusted {
			if time.Since(start) > c.h.cfg.CallBudget {
				if s.slow++; s.slow >= slowLimit {
					c.fail(s, fmt.Errorf("%w: %d calls in a row took over %v: this machine is too slow for it", ErrBudget, s.slow, c.h.cfg.CallBudget))
					continue
				}
			} else {
				s.slow = 0
			}
		}
		view, ok := in.mem.Read(in.audio, uint32(n)*Channels*4)
		if !ok {
			c.fail(s, fmt.Errorf("%w: audio buffer outside memory", ErrBadReturn))
			continue
		}
		cur, frames = view, int(n)
	}
	if cur == nil {
		if alias {
			return pcm
		}
		start := len(out)
		out = grow(out, len(pcm))
		copy(out[start:], pcm)
		return out
	}
	start := len(out)
	out = grow(out, frames*Channels)
	getFloats(out[start:], cur)
	return out
}

// grow extends s by n elements, reallocating only when the capacity is short.
func grow(s []float32, n int) []float32 {
	if len(s)+n <= cap(s) {
		return s[:len(s)+n]
	}
	t := make([]float32, len(s)+n, 2*(len(s)+n))
	copy(t, s)
	return t
}

// fail bypasses a slot and reports it, unless the host is closing (then
// every call fails and nobody needs to hear about it).
func (c *Chain) fail(s *slot, err error) {
	s.in.close(context.Background())
	s.in = nil
	if !c.h.closed.Load() {
		c.h.log.Warn("wasm: filter bypassed", "filter", s.spec.Name, "err", err)
		c.onError(s.spec.Name, err)
	}
}

// refresh follows Register and Remove: a slot whose name is bound to
// another module now restarts on it with the same parameters; a slot whose
// filter was removed is dropped.
func (c *Chain) refresh(g uint64) {
	c.gen = g
	ctx := context.Background()
	for i := range c.slots {
		s := &c.slots[i]
		if s.dropped || s.e != nil && s.e.builtin {
			continue
		}
		e, err := c.h.acquire(ctx, s.spec.Name)
		if e == s.e {
			c.h.release(e)
			continue
		}
		if s.in != nil {
			s.in.close(ctx)
			s.in = nil
		}
		c.h.release(s.e)
		s.e = nil
		s.slow = 0
		if err != nil {
			s.dropped = true
			if !c.h.closed.Load() {
				c.onError(s.spec.Name, fmt.Errorf("%w: %q", ErrRemoved, s.spec.Name))
			}
			continue
		}
		s.e = e
		if s.in, err = c.h.start(ctx, e, s.spec); err != nil {
			if !c.h.closed.Load() {
				c.onError(s.spec.Name, err)
			}
		}
	}
}

// Reset makes every filter forget its signal history (a seek, a new track).
func (c *Chain) Reset() {
	if c.closed {
		return
	}
	for i := range c.slots {
		s := &c.slots[i]
		if s.in == nil {
			continue
		}
		if err := s.in.reset(); err != nil {
			c.fail(s, err)
		}
	}
}

// Close closes the chain's instances. It is idempotent.
func (c *Chain) Close(ctx context.Context) error {
	if c.closed {
		return nil
	}
	c.closed = true
	for i := range c.slots {
		s := &c.slots[i]
		if s.in != nil {
			s.in.close(ctx)
			s.in = nil
		}
		c.h.release(s.e)
		s.e = nil
	}
	return nil
}

// Float32 samples cross into guest memory as little-endian bytes (the ABI's
// f32). On little-endian hosts with an aligned buffer that is one copy.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func putFloats(dst []byte, src []float32) {
	if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%4 == 0 {
		copy(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)/4), src)
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[i*4:], math.Float32bits(v))
	}
}

func getFloats(dst []float32, src []byte) {
	if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(src)))%4 == 0 {
		copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(src))), len(src)/4))
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[i*4:]))
	}
}
