package player

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/discodo-go/discodo/appliance/audio"
)

const (
	// maxPulls bounds the input frames a filter may consume for one output
	// frame (a timescale at speed ≤ 8).
	maxPulls = 8
	// skipWaitFrames: how long Skip waits for PCM at both heads before it
	// switches without a crossfade.
	skipWaitFrames = 5
	// skipMaxWait: how long a Skip with a crossfade keeps the current
	// source playing while the next one is still opening.
	skipMaxWait = 100 // frames: 2 s
	// fifoCap is the room for re-framed filter output (Process may return
	// up to four frames; wasm.Cap).
	fifoCap = 6 * frameLen
)

// silentFrame primes an encoder whose listener heard nothing; never
// written.
var silentFrame [frameLen]float32

// output is the state of the 20 ms path; guarded by the player's mu.
type output struct {
	enc      *audio.Encoder
	mix      []float32 // one frame
	in       []float32 // the incoming side of a crossfade (the outgoing is mixed in place)
	framed   []float32 // re-framed filter output
	prev     []float32 // PCM of the last packet sent (encoder priming)
	fifo     []float32 // filter output waiting to be framed
	frame    []float32 // the frame being built (mix or framed)
	prevOK   bool
	lastPkt  bool    // the last frame went out as the source's own packet
	encStale bool    // the encoder's state does not follow the stream
	silent   bool    // stopped: the discontinuity was handled
	gain     float32 // envelope at the end of the last frame
}

// fade is a crossfade: from (the outgoing source, nil once it ended)
// fades out while the current source fades in.
type fade struct {
	on     bool
	from   *track
	reason StopReason // for from's SourceStop
	length int64      // samples
	pos    int64
}

func (o *output) init() {
	o.gain = 1
	o.silent = true // nothing played yet: a pause has nothing to fade out
}

// ready reports whether the buffers and the encoder exist.
func (o *output) ready() bool { return o.enc != nil }

// alloc makes the buffers and the encoder (and the room for re-framed
// filter output when a filter is set): when a source that decodes opens,
// not on the send loop (see "# Memory").
func (o *output) alloc(cfg audio.EncoderConfig, filter bool) error {
	if filter {
		o.allocFifo()
	}
	if o.enc != nil {
		return nil
	}
	enc, err := audio.NewEncoder(cfg)
	if err != nil {
		return err
	}
	buf := make([]float32, 4*frameLen)
	o.mix, o.in = buf[:frameLen:frameLen], buf[frameLen:2*frameLen:2*frameLen]
	o.framed, o.prev = buf[2*frameLen:3*frameLen:3*frameLen], buf[3*frameLen:]
	o.enc = enc // its state is silence, as after priming with zeros
	return nil
}

// allocFifo makes the room for re-framed filter output, once.
func (o *output) allocFifo() {
	if o.fifo == nil {
		o.fifo = make([]float32, 0, fifoCap)
	}
}

// free drops the buffers and the encoder of a player that has no source
// open; the next one that decodes makes them again.
func (o *output) free() {
	if o.enc == nil {
		return
	}
	o.enc.Close()
	*o = output{lastPkt: o.lastPkt, encStale: o.encStale, silent: o.silent, gain: o.gain}
	// (fifo is empty: no source is open)
}

// NextFrame writes the next 20 ms Opus frame into buf (voice.FrameSource)
// and returns its length; 0 means nothing to play now. It never waits for
// I/O or decoding: sources are read ahead by their own goroutines. It
// allocates nothing.
func (p *Player) NextFrame(buf []byte) (n int) {
	now := p.now()
	last := p.lastPull.Swap(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.recoverFrame(&n)
	if !p.running {
		return 0
	}
	if last == 0 || now-last >= int64(inactiveAfter) {
		p.poke() // (re)connected: the control goroutine may prepare a source
	}
	n = p.frame(buf)
	if n > 0 {
		p.sent.Add(1)
	}
	return n
}

func (p *Player) recoverFrame(n *int) {
	r := recover()
	if r == nil {
		return
	}
	*n = 0
	p.out.fifo = p.out.fifo[:0]
	p.out.gain = 0
	p.push(event{kind: evPlayerTraceback, err: fmt.Errorf("%w in NextFrame: %v\n%s", ErrPanic, r, debug.Stack())})
}

// frame builds one frame; p.mu is held.
func (p *Player) frame(buf []byte) int {
	o := &p.out
	if p.paused && p.skipPending && p.cur != nil {
		// Skipped while paused: no fade needed; the next source starts
		// on Resume.
		p.endFade()
		p.cur.skipped = true
		p.finish(p.cur)
		p.cur = nil
		p.skipPending = false
	}
	p.settle()
	c := p.cur
	if c == nil {
		p.discontinuity() // silence: what comes next starts afresh
		return 0
	}
	stopping := p.paused || p.seekPending || p.cutPending
	if p.paused && !p.seekPending && !p.cutPending && o.silent {
		return 0
	}
	if stopping && (o.gain == 0 || !p.pcmReady()) {
		// Nothing to fade out: silent already, or the source passes its
		// packets through and has no PCM yet.
		p.stopNow()
		return 0
	}
	if !stopping {
		p.skipStep()
		p.crossfadeStep()
		p.preloadStep()
		if stopping = p.cutPending; stopping && (o.gain == 0 || !p.pcmReady()) {
			p.stopNow()
			return 0
		}
		if c = p.cur; c == nil {
			return 0
		}
	}
	if !stopping && p.passable() {
		return p.sendPacket(buf)
	}
	if !p.pcmReady() {
		if !p.fade.on && c.headPacket() {
			// Lockstep is not there yet: the change waits a little.
			c.requestPCM()
			return p.sendPacket(buf)
		}
		return p.starved()
	}
	if !stopping && o.lastPkt && !o.prevOK && o.gain == 1 && !p.fade.on && c.headPacket() {
		// A change while passing packets through: one more packet, so
		// that its PCM primes the encoder.
		return p.sendPacket(buf)
	}
	target := float32(p.volume)
	if stopping {
		target = 0
	}
	if filter := p.filter != nil && !p.filterOff; !o.ready() || filter && o.fifo == nil {
		// A source's reader (or SetFilter) makes them before they are
		// needed: only a failed encoder set-up gets here.
		if err := o.alloc(p.cfg.Encoder, filter); err != nil {
			return p.encodeFailed(err)
		}
	}
	if !p.pcmFrame() {
		return p.starved()
	}
	p.envelope(target)
	n := p.encode(buf)
	if stopping {
		p.stopNow()
	}
	return n
}

// settle ends a drained current source and starts the next one when it
// is ready; p.mu is held.
func (p *Player) settle() {
	if c := p.cur; c != nil && !p.fade.on && c.drained() {
		p.finish(c)
		p.cur = nil
	}
	p.checkNext()
	if p.cur == nil && !p.fade.on {
		p.promote()
	}
}

// promote makes the prepared source current when it is ready; p.mu is held.
func (p *Player) promote() bool {
	n := p.next
	if n == nil || !n.verified || !n.ready() || n.drained() {
		return false
	}
	p.cur, p.next = n, nil
	n.deepen(aheadUnits)
	p.skipWait = 0
	if n.fromStart() {
		// A source heard from its beginning needs no fade-in, whatever
		// silence (pause, underrun) came before.
		p.out.gain = float32(p.volume)
	}
	p.poke()
	return true
}

// finish ends t: SourceStop when it had started (with a SourceTraceback
// first when it failed), a SourceTraceback when it never did; p.mu is held.
func (p *Player) finish(t *track) {
	if t.finished {
		return
	}
	if !t.started {
		p.failUnstarted(t)
		return
	}
	t.finished, t.closeMe = true, true
	reason := StopEnded
	if err := t.failure(); err != nil {
		p.push(event{kind: evSourceTraceback, t: t, err: err})
		reason = StopFailed
	} else if t.skipped {
		reason = StopSkipped
	}
	p.push(event{kind: evStop, t: t, reason: reason})
}

// started marks t audible (SourceStart); p.mu is held.
func (p *Player) started(t *track) {
	if !t.started {
		t.started = true
		p.push(event{kind: evStart, t: t})
	}
}

// endFade stops a crossfade at once: the outgoing source ends here.
func (p *Player) endFade() {
	if !p.fade.on {
		return
	}
	if f := p.fade.from; f != nil {
		if p.fade.reason == StopSkipped {
			f.skipped = true
		}
		p.finish(f)
	}
	p.fade = fade{}
}

// stopNow carries out a pending pause, seek or cut once the audio is
// silent; p.mu is held.
func (p *Player) stopNow() {
	o := &p.out
	o.gain = 0
	p.discontinuity()
	switch {
	case p.seekPending:
		p.seekPending = false
		p.endFade()
		if c := p.cur; c != nil {
			c.requestSeek(p.seekTo)
		}
	case p.cutPending:
		p.cutPending = false
		p.endFade()
		if c := p.cur; c != nil {
			c.skipped = true
			p.finish(c)
			p.cur = nil
		}
	}
}

// discontinuity: what follows does not continue what went before (seek,
// pause, underrun, cut): the filter and the re-framing start afresh and
// the encoder is primed with silence.
func (p *Player) discontinuity() {
	o := &p.out
	if o.silent {
		return
	}
	o.silent = true
	o.fifo = o.fifo[:0]
	o.prevOK = false
	o.encStale = true
	if p.filter != nil && !p.filterOff {
		p.resetFilter()
	}
}

func (p *Player) resetFilter() {
	defer func() {
		if r := recover(); r != nil {
			p.filterPanic(r)
		}
	}()
	p.filter.Reset()
}

// starved: the current source has nothing ready; p.mu is held.
func (p *Player) starved() int {
	c := p.cur
	if c != nil && c.started && !c.seekWait && !p.paused {
		p.nulled.Add(1)
	}
	p.out.gain = 0
	p.discontinuity()
	return 0
}

// skipStep acts on a pending Skip; p.mu is held.
func (p *Player) skipStep() {
	if !p.skipPending {
		return
	}
	c := p.cur
	p.endFade()
	if n := p.next; n != nil && n.verified && n.ready() && !n.drained() {
		l := max(durToSamples(p.crossfade), frameSamples)
		if nl, ok := n.length(); ok {
			l = min(l, max(nl/2, frameSamples))
		}
		if r, ok := c.remain(); ok {
			l = min(l, max(r, frameSamples))
		}
		if c.pcmAtHead() && n.pcmAtHead() {
			p.startFade(l, StopSkipped)
			p.skipPending = false
			return
		}
		c.requestPCM()
		n.requestPCM()
		if p.skipWait++; p.skipWait > skipWaitFrames {
			c.skipped = true
			p.finish(c)
			p.cur = nil
			p.promote()
			p.skipPending = false
			p.discontinuity()
		}
		return
	}
	// The next source is not ready (still opening, not yet peeked, or
	// none): the current one plays on for a while (100 ms without a
	// crossfade, 2 s with one), then fades out and the next one starts
	// when it is ready; with an empty queue it fades out now.
	wait := skipMaxWait
	if p.crossfade == 0 {
		wait = skipWaitFrames
	}
	if p.skipWait > wait || (p.next == nil && p.qEmpty) {
		p.cutPending = true
		p.skipPending = false
		return
	}
	p.skipWait++
}

// crossfadeStep starts the crossfade into the next source when the
// current one is that close to its end; p.mu is held.
func (p *Player) crossfadeStep() {
	if p.fade.on || p.skipPending || p.crossfade <= 0 {
		return
	}
	n := p.next
	if n == nil || !n.verified || !n.ready() || n.drained() {
		return
	}
	c := p.cur
	l := durToSamples(p.crossfade)
	if nl, ok := n.length(); ok {
		l = min(l, nl/2)
	}
	r, ok := c.remain()
	if !ok || r > l || r < frameSamples {
		return
	}
	if c.pcmAtHead() && n.pcmAtHead() {
		p.startFade(r, StopEnded)
		return
	}
	c.requestPCM()
	n.requestPCM()
}

// startFade crossfades from the current source into the next over l
// samples; p.mu is held.
func (p *Player) startFade(l int64, reason StopReason) {
	p.fade = fade{on: true, from: p.cur, reason: reason, length: max(l, frameSamples)}
	p.cur, p.next = p.next, nil
	p.cur.deepen(aheadUnits)
	p.poke()
}

// preloadStep marks the current source's preload point (the control
// goroutine then prepares the next source); p.mu is held.
func (p *Player) preloadStep() {
	c := p.cur
	if c.preloadDue {
		return
	}
	r, ok := c.remain()
	if !ok || r > durToSamples(p.cfg.PreloadTime+p.crossfade) {
		return
	}
	c.preloadDue = true
	if p.crossfade > 0 {
		c.requestPCM()
	}
	p.poke()
}

// passable reports whether the next frame can be the source's own packet:
// one source at unity gain, no filter, frame-aligned; p.mu is held.
func (p *Player) passable() bool {
	o := &p.out
	return !p.fade.on && p.volume == 1 && o.gain == 1 && (p.filter == nil || p.filterOff) &&
		len(o.fifo) == 0 && p.cur.headPacket()
}

// pcmReady reports whether PCM is at hand for the next frame; p.mu is held.
func (p *Player) pcmReady() bool {
	if len(p.out.fifo) >= frameLen {
		return true
	}
	if p.fade.on {
		return p.cur.pcmAtHead() || (p.fade.from != nil && p.fade.from.pcmAtHead())
	}
	return p.cur.pcmAtHead()
}

// sendPacket hands out the current source's own packet; p.mu is held.
func (p *Player) sendPacket(buf []byte) int {
	o := &p.out
	c := p.cur
	n, prevOK := c.takePacket(buf, o.prev)
	if n == 0 {
		return p.starved()
	}
	p.started(c)
	o.prevOK, o.lastPkt, o.encStale, o.silent = prevOK, true, true, false
	o.gain = 1
	p.passed.Add(1)
	if p.tap != nil {
		p.tap(nil)
	}
	return n
}

// pcmFrame builds o.frame from the sources (and the filter); false when
// there was nothing; p.mu is held.
func (p *Player) pcmFrame() bool {
	o := &p.out
	filter := p.filter != nil && !p.filterOff
	if !filter && len(o.fifo) == 0 {
		n := p.mixFrame(o.mix)
		if n == 0 {
			return false
		}
		clear(o.mix[n:])
		o.frame = o.mix
		return true
	}
	for pulls := 0; len(o.fifo) < frameLen && pulls < maxPulls; pulls++ {
		n := p.mixFrame(o.mix)
		if n == 0 {
			break
		}
		out := o.mix[:n]
		if filter {
			out = p.runFilter(out)
		}
		if len(o.fifo)+len(out) > cap(o.fifo) {
			out = out[:cap(o.fifo)-len(o.fifo)] // a filter gone wild
		}
		o.fifo = append(o.fifo, out...)
	}
	if len(o.fifo) == 0 {
		return false
	}
	k := copy(o.framed, o.fifo)
	clear(o.framed[k:])
	o.fifo = o.fifo[:copy(o.fifo, o.fifo[k:])]
	o.frame = o.framed
	return true
}

// runFilter runs the filter on pcm; a panic bypasses it.
func (p *Player) runFilter(pcm []float32) (out []float32) {
	defer func() {
		if r := recover(); r != nil {
			p.filterPanic(r)
			out = pcm
		}
	}()
	out = p.filter.Process(pcm)
	if len(out)%2 != 0 {
		out = out[:len(out)-1]
	}
	return out
}

func (p *Player) filterPanic(r any) {
	p.filterOff = true
	name := ""
	if s, ok := p.filter.(fmt.Stringer); ok {
		name = s.String()
	}
	p.push(event{kind: evFilterError, filter: name, err: fmt.Errorf("%w in the filter: %v", ErrPanic, r)})
}

// mixFrame fills dst with the next samples of the sources (crossfade,
// gapless hand-over) and returns how many it filled; p.mu is held.
func (p *Player) mixFrame(dst []float32) int {
	if p.fade.on {
		return p.fadeMix(dst)
	}
	c := p.cur
	if c == nil {
		return 0
	}
	n := c.readPCM(dst)
	if n > 0 {
		p.started(c)
	}
	if n < len(dst) && c.drained() {
		p.finish(c)
		p.cur = nil
		if nx := p.next; nx != nil && (n == 0 || nx.pcmAtHead()) && p.promote() {
			k := p.cur.readPCM(dst[n:])
			if k > 0 {
				p.started(p.cur)
			}
			n += k
		}
	}
	return n
}

// fadeMix mixes one frame of a crossfade with equal-power gains: the
// outgoing source at cos(πx/2), the incoming at sin(πx/2), x going from
// 0 to 1 over the fade; p.mu is held.
func (p *Player) fadeMix(dst []float32) int {
	o := &p.out
	f := &p.fade
	a, b := dst, o.in[:len(dst)] // a is mixed in place
	na := 0
	if f.from != nil {
		na = f.from.readPCM(a)
	}
	clear(a[na:])
	c := p.cur
	nb := c.readPCM(b)
	clear(b[nb:])
	if nb > 0 {
		p.started(c)
	}
	inv := 1 / float64(f.length)
	for i := 0; i < len(dst); i += 2 {
		x := float64(f.pos+int64(i/2)) * inv
		if x > 1 {
			x = 1
		}
		s, co := math.Sincos(x * (math.Pi / 2))
		gi, go_ := float32(s), float32(co)
		dst[i] = a[i]*go_ + b[i]*gi
		dst[i+1] = a[i+1]*go_ + b[i+1]*gi
	}
	f.pos += int64(len(dst) / 2)
	if f.from != nil && na < len(dst) && f.from.drained() {
		// The outgoing source ended; the incoming one goes on fading in.
		if f.reason == StopSkipped {
			f.from.skipped = true
		}
		p.finish(f.from)
		f.from = nil
	}
	if f.pos >= f.length {
		p.endFade()
	}
	if nb < len(dst) && c.drained() {
		// The incoming source is shorter than the fade.
		p.endFade()
		p.finish(c)
		p.cur = nil
	}
	if na == 0 && nb == 0 {
		return 0
	}
	return len(dst)
}

// envelope applies the volume to o.frame, ramping linearly from the last
// frame's gain to target across the frame, and clips to [-1, 1]; p.mu is
// held.
func (p *Player) envelope(target float32) {
	o := &p.out
	fr := o.frame
	g := o.gain
	o.gain = target
	if g != target {
		step := (target - g) / frameSamples
		for i := 0; i+1 < len(fr); i += 2 {
			gi := g + step*float32(i/2+1)
			fr[i] = clip(fr[i] * gi)
			fr[i+1] = clip(fr[i+1] * gi)
		}
		return
	}
	// One pass that multiplies and clips (the common case: a steady
	// volume): ≈ 1 ns a sample, against 2 for a gain pass then a clip pass.
	for i, v := range fr {
		fr[i] = clip(v * g)
	}
}

// clip limits a sample to ±1 and turns NaN (from a filter) into 0; the
// usual in-range sample takes the first branch.
func clip(v float32) float32 {
	if v >= -1 && v <= 1 {
		return v
	}
	switch {
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return 0
}

// encode encodes o.frame into buf; p.mu is held.
func (p *Player) encode(buf []byte) int {
	o := &p.out
	if p.tap != nil {
		p.tap(o.frame)
	}
	if o.encStale {
		// The listener's decoder last got a packet of the source (or
		// nothing): run the encoder over what it heard (the packet's
		// PCM) or silence, so that its look-ahead holds the right audio.
		primer := silentFrame[:]
		if o.lastPkt && o.prevOK {
			primer = o.prev
		}
		p.encoded.Add(1)
		if _, err := o.enc.Encode(primer, buf); err != nil {
			return p.encodeFailed(err)
		}
		o.encStale = false
	}
	p.encoded.Add(1)
	n, err := o.enc.Encode(o.frame, buf)
	if err != nil {
		return p.encodeFailed(err)
	}
	o.lastPkt, o.silent = false, false
	return n
}

func (p *Player) encodeFailed(err error) int {
	p.out.encStale = true
	p.push(event{kind: evPlayerTraceback, err: fmt.Errorf("%w: %w", ErrEncode, err)})
	return 0
}
