package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

const (
	frameSamples = audio.FrameSamples // samples per channel in one 20 ms frame
	frameLen     = audio.FrameLen     // interleaved float32 in one frame

	// opusLookahead is libopus's encoder delay at 48 kHz for the "audio"
	// application (OPUS_GET_LOOKAHEAD: Fs/400 + Fs/250 = 120 + 192): what
	// the listener hears in slot n is the encoder's input shifted by this
	// many samples. The PCM that accompanies a passthrough packet is taken
	// this far ahead of the packet's own start, so that encoding it yields
	// a packet that sounds like the file's (see "# Why a lookahead shift").
	opusLookahead = 312

	// maxPacket is the room for one passed-through packet. A 20 ms Opus
	// packet with one frame is at most 1 + 1275 bytes (RFC 6716 section
	// 3.2.1); larger ones (padded code 3 packets) are decoded instead.
	maxPacket = 1500

	// discardLimit: a decoder that must move forward by at most this many
	// samples reads and drops them rather than seek.
	discardLimit = audio.SampleRate
)

// unit is one 20 ms slot of a track: the PCM that fills it and, for
// passthrough-capable tracks, the file's own packet for it.
type unit struct {
	pcm    []float32 // frameLen values of storage; pcm[:n] is valid when hasPCM
	n      int
	hasPCM bool
	pkt    []byte // maxPacket of storage for packet tracks, nil otherwise
	pktN   int    // 0: no packet
	pos    int64  // audio position (48 kHz samples) of pcm[0]
}

// track is one opened source: a producer goroutine (run) reads and
// decodes it ahead into a ring of units, bounded by the player's
// BufferLimit; NextFrame consumes the ring.
//
// A track reads in one of three ways:
//   - packets: an Ogg Opus file that qualifies for passthrough; only the
//     packets are read (OggOpusReader), nothing is decoded;
//   - lockstep: packets plus PCM decoded from a second stream of the same
//     source, opened when the output needs PCM (a volume other than 1, a
//     filter, a crossfade, a declick); units already buffered get their
//     PCM filled in, in order;
//   - pcm: a decoder only (every other format, non-seekable streams, or a
//     packet track that met a packet it cannot pass through).
type track struct {
	p      *Player
	it     Item
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // wakes the producer

	closeMu sync.Mutex
	closers []io.Closer
	aborted bool

	// Shared between producer and consumer; guarded by mu.
	mu       sync.Mutex
	units    []unit
	head     uint64 // next unit to consume
	tail     uint64 // next unit to publish
	off      int    // values of units[head] already consumed
	buffered int64  // samples in [head, tail) not yet consumed
	opened   bool   // opening finished; the fields below it are set
	done     bool   // the producer has published its last unit (until a seek)
	exited   bool   // the producer goroutine returned
	err      error  // why the producer stopped early
	gen      uint64 // seek generation
	seekReq  bool
	seekTo   time.Duration
	wantPCM  bool
	pass     bool // units carry packets
	seekable bool
	duration time.Duration
	hasDur   bool
	startPos int64 // where playback (re)started, in samples

	// Producer only.
	pk     *audio.OggOpusReader
	dec    audio.Decoder
	decEOF bool
	dpos   int64  // position of dec's next sample
	fill   uint64 // next published unit that still needs PCM
	pktBuf []byte
	trash  []float32
	noPCM  bool // opening the second stream failed: packets only

	// Consumer and control state; guarded by the player's mu.
	verified   bool // the queue head still is this item (or it is the resume item)
	pinned     bool // not from the queue: never re-verified
	started    bool
	finished   bool
	closeMe    bool
	preloadDue bool
	required   bool // RequireNextSource sent for it
	skipped    bool
	seekWait   bool  // a seek is under way: no data is not an underrun
	heard      int64 // position of the next sample to be heard
}

func (p *Player) newTrack(ctx context.Context, it Item) *track {
	t := &track{p: p, it: it, name: itemName(it), wake: make(chan struct{}, 1)}
	t.ctx, t.cancel = context.WithCancel(ctx)
	t.heard = durToSamples(it.StartPosition)
	return t
}

// itemName is how a source is named in errors and logs: its title, or
// its URL without the query (stream URLs carry signatures).
func itemName(it Item) string {
	if it.Source.Title != "" {
		return it.Source.Title
	}
	u := it.Source.URL
	if u == "" {
		u = it.Source.WebpageURL
	}
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i] + "?…"
	}
	return u
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func durToSamples(d time.Duration) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*audio.SampleRate + (rem*audio.SampleRate+int64(time.Second)/2)/int64(time.Second)
}

func samplesToDur(n int64) time.Duration {
	neg := n < 0
	if neg {
		n = -n
	}
	d := time.Duration(n/audio.SampleRate)*time.Second + time.Duration(n%audio.SampleRate)*time.Second/audio.SampleRate
	if neg {
		return -d
	}
	return d
}

// addCloser registers c to be closed by abort (to unblock a Read on a
// slow source) or when the producer exits.
func (t *track) addCloser(c io.Closer) {
	t.closeMu.Lock()
	defer t.closeMu.Unlock()
	if t.aborted {
		c.Close()
		return
	}
	t.closers = append(t.closers, c)
}

// abort stops the producer: its context ends (ffmpeg is killed) and its
// streams are closed, which unblocks a Read waiting on the network. Safe
// from any goroutine, idempotent.
func (t *track) abort() {
	t.cancel()
	t.closeMu.Lock()
	defer t.closeMu.Unlock()
	if t.aborted {
		return
	}
	t.aborted = true
	for _, c := range t.closers {
		c.Close()
	}
}

// run is the producer goroutine.
func (t *track) run() {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("%w in the reader of %q: %v\n%s", ErrPanic, t.name, r, debug.Stack())
			t.p.playerTraceback(err)
			t.stop(err)
		}
		if t.dec != nil {
			t.dec.Close()
		}
		if t.pk != nil {
			t.pk.Close()
		}
		t.abort()
		t.mu.Lock()
		t.exited, t.done = true, true
		t.mu.Unlock()
		t.p.poke()
	}()
	if err := t.open(); err != nil {
		t.stop(err)
		return
	}
	t.p.poke()
	for t.step() {
	}
}

// stop records why the producer ends early.
func (t *track) stop(err error) {
	t.mu.Lock()
	t.done, t.opened = true, true
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
}

// open opens the source and positions it at the item's start.
func (t *track) open() error {
	nunits := t.p.units
	st, err := t.p.cfg.Opener.Open(t.ctx, t.it.Source)
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
	}
	t.addCloser(st)
	seekable := st.Seekable()
	if seekable {
		if t.pk, err = tryPackets(st); err != nil {
			return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
		}
	}
	var dur time.Duration
	var hasDur bool
	if t.pk != nil {
		dur, hasDur = t.pk.Duration()
		t.pktBuf = make([]byte, audio.MaxOpusFrame)
	} else {
		t.dec, err = audio.Open(t.ctx, st, audio.OpenOptions{Name: t.name, FFmpeg: t.p.cfg.FFmpeg})
		if err != nil {
			return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
		}
		dur, hasDur = t.dec.Duration()
	}
	if !hasDur && t.it.Source.HasDuration && t.it.Source.Duration > 0 {
		dur, hasDur = t.it.Source.Duration, true
	}
	t.units = make([]unit, nunits)
	pcm := make([]float32, nunits*frameLen)
	var pkts []byte
	if t.pk != nil {
		pkts = make([]byte, nunits*maxPacket)
	}
	for i := range t.units {
		t.units[i].pcm = pcm[i*frameLen : (i+1)*frameLen : (i+1)*frameLen]
		if pkts != nil {
			t.units[i].pkt = pkts[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
		}
	}
	start := t.it.StartPosition
	if start > 0 && !seekable {
		t.p.log.Info("player: the source cannot seek; playing from its start", "source", t.name, "start", start)
		start = 0
	}
	if start > 0 {
		if err := t.seek(start); err != nil {
			return fmt.Errorf("%w %q to %v: %w", ErrSeek, t.name, start, err)
		}
	}
	t.mu.Lock()
	t.opened = true
	t.pass = t.pk != nil
	t.seekable = seekable
	t.duration, t.hasDur = dur, hasDur
	t.startPos = durToSamples(start)
	wantPCM := t.wantPCM
	t.mu.Unlock()
	if wantPCM && t.pk != nil {
		return t.lockstep()
	}
	return nil
}

// tryPackets returns a packet reader when st is an Ogg Opus stream that
// qualifies for passthrough (stereo, mapping family 0, no output gain),
// else nil with st rewound to its start.
func tryPackets(st audio.Stream) (*audio.OggOpusReader, error) {
	var head [64]byte
	n, err := io.ReadFull(st, head[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if _, err := st.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if audio.Sniff(head[:n]) != audio.KindOggOpus {
		return nil, nil
	}
	r, err := audio.OpenOggOpus(st)
	if err == nil && r.Head().Passthrough() {
		return r, nil
	}
	// Not for passthrough (or broken: let the decoder say why). The
	// reader is dropped without Close, which would close st.
	if _, err := st.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return nil, nil
}

// openDecoder opens the source a second time for PCM (lockstep, or
// leaving passthrough).
func (t *track) openDecoder() error {
	st, err := t.p.cfg.Opener.Open(t.ctx, t.it.Source)
	if err != nil {
		return fmt.Errorf("%w %q (for decoding): %w", ErrOpen, t.name, err)
	}
	t.addCloser(st)
	dec, err := audio.Open(t.ctx, st, audio.OpenOptions{Name: t.name, FFmpeg: t.p.cfg.FFmpeg})
	if err != nil {
		return fmt.Errorf("%w %q (for decoding): %w", ErrOpen, t.name, err)
	}
	t.dec, t.dpos, t.decEOF = dec, 0, false
	if t.trash == nil {
		t.trash = make([]float32, frameLen)
	}
	return nil
}

// lockstep starts decoding alongside the packets. Units already published
// get their PCM in order from the head on: the consumer reads a unit's PCM
// only once hasPCM is set, so it may take the head as a packet while its
// PCM is being written.
func (t *track) lockstep() error {
	if err := t.openDecoder(); err != nil {
		return err
	}
	t.mu.Lock()
	t.fill = t.head
	t.mu.Unlock()
	return nil
}

// leavePackets switches a packet track to decoding for good, from audio
// position at (a packet that is not 20 ms, or too large to keep).
func (t *track) leavePackets(at int64) error {
	if t.dec == nil {
		if err := t.openDecoder(); err != nil {
			return err
		}
	}
	t.pk.Close()
	t.pk = nil
	t.mu.Lock()
	t.pass = false
	t.mu.Unlock()
	if at < 0 {
		at = 0
	}
	return t.positionDecoder(at)
}

// positionDecoder makes want the position of the decoder's next sample.
func (t *track) positionDecoder(want int64) error {
	if want == t.dpos {
		return nil
	}
	if d := want - t.dpos; d > 0 && d <= discardLimit && !t.decEOF {
		for d > 0 {
			k := int(min(d*2, frameLen))
			n, err := t.dec.Read(t.trash[:k])
			t.dpos += int64(n / 2)
			d -= int64(n / 2)
			if err != nil {
				if errors.Is(err, io.EOF) {
					t.decEOF = true
					return nil
				}
				return err
			}
		}
		return nil
	}
	if err := t.dec.Seek(samplesToDur(want)); err != nil {
		return err
	}
	t.dpos, t.decEOF = want, false
	return nil
}

// seek moves the readers to d (producer goroutine).
func (t *track) seek(d time.Duration) error {
	if t.pk != nil {
		if err := t.pk.Seek(d); err != nil {
			return err
		}
		if t.dec != nil {
			at := max(0, durToSamples(t.pk.Position())+opusLookahead)
			if err := t.dec.Seek(samplesToDur(at)); err != nil {
				return err
			}
			t.dpos, t.decEOF = at, false
		}
		return nil
	}
	if err := t.dec.Seek(d); err != nil {
		return err
	}
	t.dpos, t.decEOF = durToSamples(d), false
	return nil
}

// step does one piece of work or waits for some; false ends the producer.
func (t *track) step() bool {
	t.mu.Lock()
	for {
		if t.ctx.Err() != nil {
			t.mu.Unlock()
			return false
		}
		if t.seekReq || (t.wantPCM && t.dec == nil && t.pk != nil && !t.noPCM) || (t.dec != nil && t.pk != nil && t.fill < t.tail) ||
			(!t.done && t.tail-t.head < uint64(len(t.units))) {
			break
		}
		t.mu.Unlock()
		select {
		case <-t.ctx.Done():
			return false
		case <-t.wake:
		}
		t.mu.Lock()
	}
	if t.seekReq {
		d, gen := t.seekTo, t.gen
		t.seekReq = false
		t.mu.Unlock()
		err := t.seek(d)
		t.mu.Lock()
		if gen == t.gen {
			t.fill = t.tail
			t.startPos = durToSamples(d)
			if err != nil {
				t.done, t.err = true, fmt.Errorf("%w %q to %v: %w", ErrSeek, t.name, d, err)
			}
		}
		t.mu.Unlock()
		return true
	}
	if t.wantPCM && t.dec == nil && t.pk != nil && !t.noPCM {
		t.mu.Unlock()
		if err := t.lockstep(); err != nil {
			// Passthrough goes on; volume, filters and fades wait for
			// the next source.
			t.noPCM = true
			t.p.playerTraceback(fmt.Errorf("decoding alongside passthrough: %w", err))
		}
		return true
	}
	if t.dec != nil && t.pk != nil && t.fill < t.tail {
		t.fillOne()
		return true
	}
	// Produce the unit at tail.
	gen, idx := t.gen, t.tail
	t.mu.Unlock()
	u := &t.units[idx%uint64(len(t.units))]
	end, err := t.produce(u)
	t.mu.Lock()
	if gen == t.gen {
		if u.n > 0 || u.pktN > 0 {
			t.tail++
			t.fill = max(t.fill, t.tail)
			if u.pktN > 0 {
				t.buffered += frameSamples
			} else {
				t.buffered += int64(u.n / 2)
			}
		}
		if end {
			t.done = true
			if err != nil && t.err == nil {
				t.err = err
			}
		}
	}
	t.mu.Unlock()
	if end {
		t.p.poke()
	}
	return true
}

// fail ends the track with err (the producer keeps waiting for a seek or
// the end).
func (t *track) fail(err error) {
	t.mu.Lock()
	t.done = true
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
	t.p.poke()
}

// fillOne gives PCM to the next published unit that lacks it; t.mu is
// held on entry and released.
func (t *track) fillOne() {
	idx := max(t.fill, t.head)
	if idx >= t.tail {
		t.fill = t.tail
		t.mu.Unlock()
		return
	}
	gen := t.gen
	u := &t.units[idx%uint64(len(t.units))]
	t.mu.Unlock()
	err := t.decodeFor(u)
	t.mu.Lock()
	if gen == t.gen {
		if idx >= t.head && err == nil {
			u.hasPCM = true
		}
		t.fill = idx + 1
	}
	t.mu.Unlock()
	if err != nil {
		t.fail(fmt.Errorf("%w %q: %w", ErrDecode, t.name, err))
	}
}

// decodeFor fills u.pcm with the decoded audio from u.pos on (zeros
// before the start of the audio, nothing after its end).
func (t *track) decodeFor(u *unit) error {
	want := u.pos
	i := 0
	if want < 0 {
		z := int(min(-want, frameSamples))
		clear(u.pcm[:2*z])
		i = 2 * z
		want += int64(z)
	}
	u.n = i
	if i == frameLen {
		return nil
	}
	if err := t.positionDecoder(want); err != nil {
		return err
	}
	if t.decEOF {
		return nil
	}
	n, err := t.dec.Read(u.pcm[i:])
	u.n += n
	t.dpos += int64(n / 2)
	if errors.Is(err, io.EOF) {
		t.decEOF = true
		return nil
	}
	return err
}

// produce fills u with the next unit; end says there is no unit after it
// (u may still hold the last one).
func (t *track) produce(u *unit) (end bool, err error) {
	u.n, u.hasPCM, u.pktN = 0, false, 0
	if t.pk != nil {
		at := durToSamples(t.pk.Position())
		n, err := t.pk.ReadPacket(t.pktBuf)
		switch {
		case err == nil && n <= maxPacket:
			u.pktN = copy(u.pkt, t.pktBuf[:n])
			u.pos = at + opusLookahead
			if t.dec != nil {
				if err := t.decodeFor(u); err != nil {
					return true, fmt.Errorf("%w %q: %w", ErrDecode, t.name, err)
				}
				u.hasPCM = true
			}
			return false, nil
		case errors.Is(err, io.EOF):
			return true, nil
		case err == nil || errors.Is(err, audio.ErrPacketDuration):
			// Not a packet we can pass through: decode from its start on.
			if err := t.leavePackets(at + opusLookahead); err != nil {
				return true, fmt.Errorf("%w %q: %w", ErrDecode, t.name, err)
			}
		default:
			return true, fmt.Errorf("%w %q: %w", ErrDecode, t.name, err)
		}
	}
	u.pos = t.dpos
	if t.decEOF {
		return true, nil
	}
	n, err := t.dec.Read(u.pcm)
	u.n, u.hasPCM = n, true
	t.dpos += int64(n / 2)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, io.EOF):
		t.decEOF = true
		return true, nil
	default:
		return true, fmt.Errorf("%w %q: %w", ErrDecode, t.name, err)
	}
}

// ---- Consumer side: called by NextFrame with the player's mu held. ----

// ready reports whether the track opened and has a unit or ended.
func (t *track) ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opened && (t.head < t.tail || t.done)
}

// drained reports whether everything the track will ever yield (until a
// seek) was consumed.
func (t *track) drained() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done && !t.seekReq && t.head == t.tail
}

// failure returns why the producer stopped early.
func (t *track) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// headPacket reports whether the head unit can go out as a packet.
func (t *track) headPacket() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head < t.tail && t.off == 0 && t.units[t.head%uint64(len(t.units))].pktN > 0
}

// pcmAtHead reports whether the next samples are available as PCM.
func (t *track) pcmAtHead() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head < t.tail && t.units[t.head%uint64(len(t.units))].hasPCM
}

// requestPCM asks for PCM alongside the packets (lockstep).
func (t *track) requestPCM() {
	t.mu.Lock()
	if t.wantPCM || !t.pass {
		t.mu.Unlock()
		return
	}
	t.wantPCM = true
	t.mu.Unlock()
	signal(t.wake)
}

// takePacket copies the head unit's packet into dst and its PCM (when it
// has some) into prev.
func (t *track) takePacket(dst []byte, prev []float32) (n int, prevOK bool) {
	t.mu.Lock()
	if t.head == t.tail || t.off != 0 {
		t.mu.Unlock()
		return 0, false
	}
	u := &t.units[t.head%uint64(len(t.units))]
	if u.pktN == 0 {
		t.mu.Unlock()
		return 0, false
	}
	n = copy(dst, u.pkt[:u.pktN])
	if u.hasPCM && u.n == frameLen {
		copy(prev, u.pcm)
		prevOK = true
	}
	t.heard = u.pos + frameSamples
	t.head++
	t.buffered -= frameSamples
	t.mu.Unlock()
	t.seekWait = false
	signal(t.wake)
	return n, prevOK
}

// readPCM copies up to len(dst) values of PCM; it stops early at the end
// of what is buffered or at a unit without PCM.
func (t *track) readPCM(dst []float32) int {
	t.mu.Lock()
	n := 0
	consumed := false
	for n < len(dst) && t.head < t.tail {
		u := &t.units[t.head%uint64(len(t.units))]
		if !u.hasPCM {
			break
		}
		k := copy(dst[n:], u.pcm[t.off:u.n])
		n += k
		t.off += k
		t.heard = u.pos + int64(t.off/2)
		t.buffered -= int64(k / 2)
		if t.off >= u.n {
			if u.pktN > 0 {
				// A packet unit counts frameSamples however much PCM it has.
				t.buffered -= int64(frameSamples - u.n/2)
			}
			t.head++
			t.off = 0
			consumed = true
		}
	}
	t.mu.Unlock()
	if n > 0 {
		t.seekWait = false
	}
	if consumed {
		signal(t.wake)
	}
	return n
}

// remain returns the samples left to play, when known: exact once the
// producer reached the end, else from the duration.
func (t *track) remain() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done && !t.seekReq {
		return max(0, t.buffered), true
	}
	if t.hasDur {
		return max(0, durToSamples(t.duration)-t.heard), true
	}
	return 0, false
}

// length returns the samples the track plays from where it starts.
func (t *track) length() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done && !t.seekReq && t.head == 0 && t.off == 0 {
		return t.buffered, true
	}
	if t.hasDur {
		return max(0, durToSamples(t.duration)-t.startPos), true
	}
	return 0, false
}

// requestSeek drops what is buffered and asks the producer to seek.
func (t *track) requestSeek(d time.Duration) {
	t.mu.Lock()
	if t.exited {
		t.mu.Unlock()
		return
	}
	t.head = t.tail
	t.off = 0
	t.buffered = 0
	t.gen++
	t.seekReq, t.seekTo = true, d
	t.done, t.err = false, nil
	t.mu.Unlock()
	t.seekWait = true
	t.heard = durToSamples(d)
	signal(t.wake)
}

// fromStart reports whether the track will be heard from its first sample.
func (t *track) fromStart() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.startPos == 0 && t.head == 0 && t.off == 0
}

func (t *track) isSeekable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seekable
}

func (t *track) info() (dur time.Duration, hasDur, seekable bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.duration, t.hasDur, t.seekable
}
