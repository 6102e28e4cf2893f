package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
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

	// prepUnits (60 ms) is how far a source prepared ahead of its turn is
	// read: enough to start without a gap while its reader, woken when it
	// becomes audible, reads on. aheadUnits (readAhead) is how far an
	// audible source is read until it shows that it can make its reader
	// wait; then the ring grows to BufferLimit (see "# Memory" in doc.go).
	prepUnits  = 3
	readAhead  = 200 * time.Millisecond
	aheadUnits = int(readAhead / audio.FrameDuration)
	// slowRead: a Read of the source that takes this long (after the
	// source opened) shows that the source can stall.
	slowRead = 50 * time.Millisecond
	// packetGuess is the room per unit given to packets before the
	// source's own rate is known (128 kb/s is 320 bytes per 20 ms).
	packetGuess = 400
)

// unit is one 20 ms slot of a track: the PCM that fills it and, for
// passthrough-capable tracks, the file's own packet for it. Its storage
// is the track's: the PCM of the unit in ring slot s is
// pcm[s*frameLen:][:n], its packet pktN bytes at offset pkt of the byte
// ring.
type unit struct {
	pos    int64 // audio position (48 kHz samples) of the first PCM value
	pkt    int64 // offset of the packet in the byte ring (from the track's start)
	pktN   int32 // 0: no packet
	n      int32 // PCM values (interleaved) valid when hasPCM
	hasPCM bool
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
//
// The ring holds prepUnits (60 ms) while the source is prepared,
// readAhead (200 ms) once it is audible, and grows to BufferLimit when the
// source shows it can stall: a Read that took slowRead, or a ring the
// producer let drain below a quarter after it had been full. Its PCM storage exists only
// for tracks that decode (allocated when lockstep starts for packet
// tracks); packets are stored packed in a byte ring that grows with
// their sizes. The producer refills the ring when it has drained to its
// low-water mark (half of it free), not after every unit: NextFrame wakes
// it about once per half ring (100 ms).
type track struct {
	p      *Player
	it     Item
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // wakes the producer
	slow   atomic.Bool   // a Read of the source took slowRead or longer
	watch  atomic.Bool   // opened: slow Reads count

	closeMu sync.Mutex
	closers []io.Closer
	aborted bool

	// Shared between producer and consumer; guarded by mu.
	mu       sync.Mutex
	units    []unit    // the ring; its length is the current depth
	pcm      []float32 // len(units)*frameLen, nil until the track decodes
	pkts     []byte    // the byte ring of packets (packet tracks)
	pktHead  int64     // offset of the first byte still needed
	pktTail  int64     // offset where the next packet goes
	head     uint64    // next unit to consume
	tail     uint64    // next unit to publish
	off      int       // values of units[head] already consumed
	buffered int64     // samples in [head, tail) not yet consumed
	sleeping bool      // the producer waits for the low-water mark
	full     bool      // the ring was full since the last seek or resize
	want     int       // the ring's length the producer grows it to
	opened   bool      // opening finished; the fields below it are set
	done     bool      // the producer has published its last unit (until a seek)
	exited   bool      // the producer goroutine returned
	err      error     // why the producer stopped early
	gen      uint64    // seek generation
	seekReq  bool
	seekTo   time.Duration
	wantPCM  bool
	pass     bool // units carry packets
	seekable bool
	duration time.Duration
	hasDur   bool
	startPos int64 // where playback (re)started, in samples

	// Producer only.
	maxUnits int  // BufferLimit in units
	filling  bool // refilling the ring, from the low-water mark until full
	pk       *audio.OggOpusReader
	dec      audio.Decoder
	decEOF   bool
	dpos     int64  // position of dec's next sample
	fill     uint64 // next published unit that still needs PCM
	pktBuf   []byte
	trash    []float32
	noPCM    bool // opening the second stream failed: packets only

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
	t := &track{p: p, it: it, name: itemName(it), wake: make(chan struct{}, 1), maxUnits: p.units}
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
	st, err := t.p.cfg.Opener.Open(t.ctx, t.it.Source)
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
	}
	t.addCloser(st)
	ws := watchedStream{st, t}
	seekable := st.Seekable()
	if seekable {
		if t.pk, err = tryPackets(ws); err != nil {
			return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
		}
	}
	var dur time.Duration
	var hasDur bool
	if t.pk != nil {
		dur, hasDur = t.pk.Duration()
		t.pktBuf = make([]byte, audio.MaxOpusFrame)
	} else {
		t.dec, err = audio.Open(t.ctx, ws, audio.OpenOptions{Name: t.name, FFmpeg: t.p.cfg.FFmpeg})
		if err != nil {
			return fmt.Errorf("%w %q: %w", ErrOpen, t.name, err)
		}
		dur, hasDur = t.dec.Duration()
		if err := t.p.ensureOutput(); err != nil {
			return err
		}
	}
	if !hasDur && t.it.Source.HasDuration && t.it.Source.Duration > 0 {
		dur, hasDur = t.it.Source.Duration, true
	}
	n := min(t.maxUnits, prepUnits)
	units := make([]unit, n)
	var pcm []float32
	if t.pk == nil {
		pcm = make([]float32, n*frameLen)
	}
	t.mu.Lock()
	t.units, t.pcm = units, pcm
	t.want = max(t.want, n)
	t.mu.Unlock()
	t.filling = true
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
	t.watch.Store(true)
	if wantPCM && t.pk != nil {
		return t.lockstep()
	}
	return nil
}

// watchedStream times the Reads of a source once it opened: one that
// takes slowRead or longer (a network stall, a busy SD card) makes the
// track's ring grow to BufferLimit. Reads may come from another goroutine
// (ffmpeg's stdin copier).
type watchedStream struct {
	audio.Stream
	t *track
}

func (w watchedStream) Read(b []byte) (int, error) {
	if !w.t.watch.Load() || w.t.slow.Load() {
		return w.Stream.Read(b)
	}
	start := time.Now()
	n, err := w.Stream.Read(b)
	if time.Since(start) >= slowRead {
		w.t.slow.Store(true)
	}
	return n, err
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
	dec, err := audio.Open(t.ctx, watchedStream{st, t}, audio.OpenOptions{Name: t.name, FFmpeg: t.p.cfg.FFmpeg})
	if err != nil {
		return fmt.Errorf("%w %q (for decoding): %w", ErrOpen, t.name, err)
	}
	t.dec, t.dpos, t.decEOF = dec, 0, false
	if t.trash == nil {
		t.trash = make([]float32, frameLen)
	}
	if t.pcm == nil {
		pcm := make([]float32, len(t.units)*frameLen)
		t.mu.Lock()
		t.pcm = pcm
		t.mu.Unlock()
	}
	return t.p.ensureOutput()
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
		if t.slow.Load() {
			t.want = t.maxUnits
		}
		if n := min(t.want, t.maxUnits); n > len(t.units) {
			t.mu.Unlock()
			t.resize(n)
			return true
		}
		if t.seekReq || (t.wantPCM && t.dec == nil && t.pk != nil && !t.noPCM) || (t.dec != nil && t.pk != nil && t.fill < t.tail) ||
			t.wantsUnit() {
			break
		}
		// Nothing to do until the ring drained to its low-water mark
		// (NextFrame wakes us then), a seek, a request for PCM or the end.
		t.sleeping = !t.done
		t.mu.Unlock()
		select {
		case <-t.ctx.Done():
			return false
		case <-t.wake:
		}
		t.mu.Lock()
		t.sleeping = false
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
	end, err := t.produce(u, idx)
	t.mu.Lock()
	if gen == t.gen {
		if u.pktN > 0 {
			t.putPacket(u, t.pktBuf[:u.pktN])
		}
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

// wantsUnit reports whether the producer should publish another unit: it
// fills the ring up once it drained to the low-water mark; t.mu is held.
func (t *track) wantsUnit() bool {
	if t.done {
		return false
	}
	level := int(t.tail - t.head)
	if level >= len(t.units) {
		t.filling, t.full = false, true
		return false
	}
	if level <= t.lowWater() {
		t.filling = true
	}
	return t.filling
}

// lowWater is the level (in units) at which the producer refills the
// ring: half of it free; t.mu is held.
func (t *track) lowWater() int {
	return len(t.units) - max(1, len(t.units)/2)
}

// resize makes the ring n units deep, keeping what is buffered (the
// producer only: it allocates outside t.mu and copies under it).
func (t *track) resize(n int) {
	units := make([]unit, n)
	var pcm []float32
	if t.pcm != nil {
		pcm = make([]float32, n*frameLen)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := uint64(len(t.units))
	for i := t.head; i < t.tail; i++ {
		s, d := i%old, i%uint64(n)
		units[d] = t.units[s]
		if pcm != nil {
			copy(pcm[d*frameLen:][:frameLen], t.pcm[s*frameLen:][:frameLen])
		}
	}
	t.units, t.pcm = units, pcm
	t.filling, t.full = true, false
}

// deepen asks for a ring of (at least) n units: the source became
// audible.
func (t *track) deepen(n int) {
	t.mu.Lock()
	if n <= t.want {
		t.mu.Unlock()
		return
	}
	t.want = n
	t.sleeping = false
	t.mu.Unlock()
	signal(t.wake)
}

// slot returns the PCM storage of unit idx (the producer only).
func (t *track) slot(idx uint64) []float32 {
	s := idx % uint64(len(t.units))
	return t.pcm[s*frameLen:][:frameLen]
}

// putPacket stores b as u's packet at the end of the byte ring, growing
// it when b does not fit; t.mu is held.
func (t *track) putPacket(u *unit, b []byte) {
	if need := t.pktTail - t.pktHead + int64(len(b)); need > int64(len(t.pkts)) {
		// Room for the packets of every unit is the bound: need never
		// exceeds it.
		n := max(2*len(t.pkts), int(need), len(t.units)*packetGuess)
		pkts := make([]byte, min(n, len(t.units)*maxPacket))
		for off := t.pktHead; off < t.pktTail; {
			i, j := int(off%int64(len(t.pkts))), int(off%int64(len(pkts)))
			k := min(int(t.pktTail-off), len(t.pkts)-i, len(pkts)-j)
			copy(pkts[j:j+k], t.pkts[i:i+k])
			off += int64(k)
		}
		t.pkts = pkts
	}
	i := int(t.pktTail % int64(len(t.pkts)))
	k := copy(t.pkts[i:], b)
	copy(t.pkts, b[k:])
	u.pkt = t.pktTail
	t.pktTail += int64(len(b))
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
	err := t.decodeFor(u, t.slot(idx))
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

// decodeFor fills pcm, u's storage, with the decoded audio from u.pos on
// (zeros before the start of the audio, nothing after its end).
func (t *track) decodeFor(u *unit, pcm []float32) error {
	want := u.pos
	i := 0
	if want < 0 {
		z := int(min(-want, frameSamples))
		clear(pcm[:2*z])
		i = 2 * z
		want += int64(z)
	}
	u.n = int32(i)
	if i == frameLen {
		return nil
	}
	if err := t.positionDecoder(want); err != nil {
		return err
	}
	if t.decEOF {
		return nil
	}
	n, err := t.dec.Read(pcm[i:])
	u.n += int32(n)
	t.dpos += int64(n / 2)
	if errors.Is(err, io.EOF) {
		t.decEOF = true
		return nil
	}
	return err
}

// produce fills u, the unit idx, with the next unit (its packet goes to
// pktBuf); end says there is no unit after it (u may still hold the last
// one).
func (t *track) produce(u *unit, idx uint64) (end bool, err error) {
	u.n, u.hasPCM, u.pktN = 0, false, 0
	if t.pk != nil {
		at := durToSamples(t.pk.Position())
		n, err := t.pk.ReadPacket(t.pktBuf)
		switch {
		case err == nil && n <= maxPacket:
			u.pktN = int32(n)
			u.pos = at + opusLookahead
			if t.dec != nil {
				if err := t.decodeFor(u, t.slot(idx)); err != nil {
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
	n, err := t.dec.Read(t.slot(idx))
	u.n, u.hasPCM = int32(n), true
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
// has some and prev has room for it) into prev.
func (t *track) takePacket(dst []byte, prev []float32) (n int, prevOK bool) {
	t.mu.Lock()
	if t.head == t.tail || t.off != 0 {
		t.mu.Unlock()
		return 0, false
	}
	s := t.head % uint64(len(t.units))
	u := &t.units[s]
	if u.pktN == 0 {
		t.mu.Unlock()
		return 0, false
	}
	n = int(u.pktN)
	i := int(u.pkt % int64(len(t.pkts)))
	k := copy(dst[:n], t.pkts[i:])
	copy(dst[k:n], t.pkts)
	if u.hasPCM && u.n == frameLen && len(prev) == frameLen {
		copy(prev, t.pcm[s*frameLen:][:frameLen])
		prevOK = true
	}
	t.heard = u.pos + frameSamples
	t.buffered -= frameSamples
	wake := t.advance(u)
	t.mu.Unlock()
	t.seekWait = false
	if wake {
		signal(t.wake)
	}
	return n, prevOK
}

// readPCM copies up to len(dst) values of PCM; it stops early at the end
// of what is buffered or at a unit without PCM.
func (t *track) readPCM(dst []float32) int {
	t.mu.Lock()
	n := 0
	wake := false
	for n < len(dst) && t.head < t.tail {
		s := t.head % uint64(len(t.units))
		u := &t.units[s]
		if !u.hasPCM {
			break
		}
		k := copy(dst[n:], t.pcm[s*frameLen+uint64(t.off):s*frameLen+uint64(u.n)])
		n += k
		t.off += k
		t.heard = u.pos + int64(t.off/2)
		t.buffered -= int64(k / 2)
		if t.off >= int(u.n) {
			if u.pktN > 0 {
				// A packet unit counts frameSamples however much PCM it has.
				t.buffered -= int64(frameSamples - u.n/2)
			}
			wake = t.advance(u) || wake
		}
	}
	t.mu.Unlock()
	if n > 0 {
		t.seekWait = false
	}
	if wake {
		signal(t.wake)
	}
	return n
}

// advance consumes the head unit u and reports whether the producer must
// be woken: the ring drained to its low-water mark, or below a quarter
// after it had been full (the producer fell behind: the ring grows to
// BufferLimit); t.mu is held.
func (t *track) advance(u *unit) bool {
	if u.pktN > 0 {
		t.pktHead = u.pkt + int64(u.pktN)
	}
	t.head++
	t.off = 0
	level := int(t.tail - t.head)
	if t.full && !t.done && level < len(t.units)/4 && t.want < t.maxUnits {
		t.want, t.sleeping = t.maxUnits, false
		return true
	}
	if t.sleeping && level <= t.lowWater() {
		t.sleeping = false
		return true
	}
	return false
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
	t.pktHead = t.pktTail
	t.full = false
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
