package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hraban/opus"
)

// OpusHead is the identification header of an Ogg Opus stream, RFC 7845
// section 5.1:
//
//	offset size field
//	0      8    "OpusHead"
//	8      1    version (major nibble must be 0)
//	9      1    output channel count
//	10     2    pre-skip (LE, 48 kHz samples to drop at the start)
//	12     4    input sample rate (LE, informative only)
//	16     2    output gain (LE, signed Q7.8 dB)
//	18     1    channel mapping family
//	19     ...  family ≠ 0: stream count, coupled count, mapping[channels]
type OpusHead struct {
	Channels      int
	PreSkip       int
	InputRate     int
	OutputGain    int // Q7.8 dB
	MappingFamily int
	Streams       int
	Coupled       int
	Mapping       []byte
}

// Passthrough reports whether the packets can go to Discord as they are:
// stereo, mapping family 0 and no output gain to apply.
func (h OpusHead) Passthrough() bool {
	return h.Channels == 2 && h.MappingFamily == 0 && h.OutputGain == 0
}

func parseOpusHead(p []byte) (OpusHead, error) {
	var h OpusHead
	if len(p) < 19 || string(p[:8]) != "OpusHead" {
		return h, fmt.Errorf("%w: no OpusHead", ErrNotOpus)
	}
	if p[8]>>4 != 0 {
		return h, fmt.Errorf("%w: OpusHead version %d", ErrMalformed, p[8])
	}
	h.Channels = int(p[9])
	h.PreSkip = int(binary.LittleEndian.Uint16(p[10:12]))
	h.InputRate = int(binary.LittleEndian.Uint32(p[12:16]))
	h.OutputGain = int(int16(binary.LittleEndian.Uint16(p[16:18])))
	h.MappingFamily = int(p[18])
	if h.Channels == 0 {
		return h, fmt.Errorf("%w: OpusHead with 0 channels", ErrMalformed)
	}
	if h.MappingFamily == 0 {
		if h.Channels > 2 {
			return h, fmt.Errorf("%w: OpusHead mapping family 0 with %d channels", ErrMalformed, h.Channels)
		}
		h.Streams, h.Coupled = 1, h.Channels-1
		return h, nil
	}
	if len(p) < 21+h.Channels {
		return h, fmt.Errorf("%w: OpusHead mapping table truncated", ErrMalformed)
	}
	h.Streams, h.Coupled = int(p[19]), int(p[20])
	h.Mapping = append([]byte(nil), p[21:21+h.Channels]...)
	if h.Streams == 0 || h.Coupled > h.Streams {
		return h, fmt.Errorf("%w: OpusHead with %d streams, %d coupled", ErrMalformed, h.Streams, h.Coupled)
	}
	return h, nil
}

// simple reports whether a single libopus decoder (no multistream) decodes
// the stream: family 0, or family 1 laid out like it.
func (h OpusHead) simple() bool {
	if h.MappingFamily == 0 {
		return true
	}
	if h.MappingFamily != 1 || h.Channels > 2 || h.Streams != 1 || h.Coupled != h.Channels-1 {
		return false
	}
	for i, m := range h.Mapping {
		if int(m) != i {
			return false
		}
	}
	return true
}

// PacketSamples returns the duration of an Opus packet in 48 kHz samples,
// from its TOC byte (RFC 6716 section 3.1):
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	| config  |s| c |
//	+-+-+-+-+-+-+-+-+
//
// config 0-11 SILK (10/20/40/60 ms), 12-15 Hybrid (10/20 ms), 16-31 CELT
// (2.5/5/10/20 ms); c: 0 one frame, 1 two equal frames, 2 two frames of
// different sizes, 3 a frame count in the next byte (low 6 bits). A packet
// may not exceed 120 ms.
func PacketSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, fmt.Errorf("%w: empty Opus packet", ErrMalformed)
	}
	cfg := int(p[0] >> 3)
	var frame int
	switch {
	case cfg < 12:
		frame = [...]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16:
		frame = [...]int{480, 960}[cfg&1]
	default:
		frame = [...]int{120, 240, 480, 960}[cfg&3]
	}
	count := 1
	switch p[0] & 3 {
	case 1, 2:
		count = 2
	case 3:
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: Opus code 3 packet without a frame count", ErrMalformed)
		}
		count = int(p[1] & 0x3F)
		if count == 0 {
			return 0, fmt.Errorf("%w: Opus code 3 packet with 0 frames", ErrMalformed)
		}
	}
	n := frame * count
	if n > 5760 {
		return 0, fmt.Errorf("%w: Opus packet of %d samples (over 120 ms)", ErrMalformed, n)
	}
	return n, nil
}

// OggOpusReader reads the raw Opus packets of an Ogg Opus stream, for
// passthrough to Discord without decoding, and is the demuxer under the
// Ogg Opus decoder.
//
// Positions are in 48 kHz samples of the output timeline: 0 is the first
// sample after the pre-skip.
type OggOpusReader struct {
	o      *oggReader
	head   OpusHead
	start  int64 // granule position of the first audio sample (before pre-skip)
	first  int64 // offset of the first audio page
	pos    int64 // granule position at which the next packet starts
	end    int64 // last granule position, -1 when unknown
	closed bool

	// One packet of lookahead, kept by Seek.
	pend     []byte
	pendN    int
	havePend bool
}

// OpenOggOpus reads the OpusHead and OpusTags headers of r. r may be an
// io.Seeker (and a Seekability) for Seek and Duration.
func OpenOggOpus(r io.Reader) (*OggOpusReader, error) {
	return openOggOpus(newInputSize(r, packetInputBuffer))
}

func openOggOpus(in *input) (*OggOpusReader, error) {
	o := newOggReader(in)
	p, err := o.nextPacket()
	if err != nil {
		return nil, fmt.Errorf("%w: reading OpusHead: %v", ErrNotOpus, err)
	}
	if o.hdr.flags&oggBOS == 0 {
		return nil, fmt.Errorf("%w: first page is not a beginning of stream", ErrMalformed)
	}
	head, err := parseOpusHead(p)
	if err != nil {
		return nil, err
	}
	if p, err = o.nextPacket(); err != nil {
		return nil, fmt.Errorf("%w: reading OpusTags: %v", ErrMalformed, err)
	}
	if len(p) < 8 || string(p[:8]) != "OpusTags" {
		return nil, fmt.Errorf("%w: second packet is not OpusTags", ErrMalformed)
	}
	r := &OggOpusReader{o: o, head: head, end: -1}
	// RFC 7845 section 3: the first audio packet starts a new page.
	if err := o.nextOwnPage(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: Ogg Opus stream without audio", ErrMalformed)
		}
		return nil, err
	}
	r.first = o.pageAt
	// The start granule: the first audio page's granule minus the
	// durations of the packets completing on it (RFC 7845 section 4.5).
	if o.hdr.granule != -1 {
		var sum int64
		bpos, seg := 0, 0
		pktStart := 0
		for seg < o.hdr.nseg {
			l := int(o.hdr.lacing[seg])
			seg++
			bpos += l
			if l < 255 {
				if n, err := PacketSamples(o.body[pktStart:bpos]); err == nil {
					sum += int64(n)
				}
				pktStart = bpos
			}
		}
		r.start = max(0, o.hdr.granule-sum)
	}
	r.pos = r.start
	if g, ok := o.lastGranule(); ok {
		r.end = g
	}
	return r, nil
}

// Head returns the stream's identification header.
func (r *OggOpusReader) Head() OpusHead { return r.head }

// Duration returns the length of the audio after the pre-skip when the
// input can seek to its end.
func (r *OggOpusReader) Duration() (time.Duration, bool) {
	n, ok := r.length()
	return samplesToDuration(n, SampleRate), ok
}

func (r *OggOpusReader) length() (int64, bool) {
	if r.end < 0 {
		return 0, false
	}
	return max(0, r.end-r.start-int64(r.head.PreSkip)), true
}

// Position returns where the next packet starts, as an offset from the
// start of the audio (negative during the pre-skip).
func (r *OggOpusReader) Position() time.Duration {
	p := r.pos - r.start - int64(r.head.PreSkip)
	if p < 0 {
		return -samplesToDuration(-p, SampleRate)
	}
	return samplesToDuration(p, SampleRate)
}

// ReadPacket copies the next Opus packet into dst (MaxOpusFrame bytes are
// always enough for 20 ms) and returns its length. A packet that is not
// exactly 20 ms is still copied and consumed, and the error wraps
// ErrPacketDuration: the caller decodes from here on instead. io.EOF ends
// the stream. ReadPacket allocates nothing.
func (r *OggOpusReader) ReadPacket(dst []byte) (int, error) {
	p, n, err := r.next()
	if err != nil {
		return 0, err
	}
	if len(p) > len(dst) {
		return 0, fmt.Errorf("%w: Opus packet of %d bytes does not fit in %d", ErrMalformed, len(p), len(dst))
	}
	copy(dst, p)
	if n != FrameSamples {
		return len(p), fmt.Errorf("%w: %d samples", ErrPacketDuration, n)
	}
	return len(p), nil
}

// next returns the next audio packet and its duration, advancing pos.
func (r *OggOpusReader) next() ([]byte, int, error) {
	if r.closed {
		return nil, 0, ErrClosed
	}
	if r.havePend {
		r.havePend = false
		r.pos += int64(r.pendN)
		return r.pend, r.pendN, nil
	}
	for {
		p, err := r.o.nextPacket()
		if err != nil {
			return nil, 0, err
		}
		n, err := PacketSamples(p)
		if err != nil {
			continue // not decodable; libopus would treat it as lost
		}
		r.pos += int64(n)
		return p, n, nil
	}
}

// seekGranule positions the reader so that the next packet starts at or
// before granule position g (and after g - one page of audio).
func (r *OggOpusReader) seekGranule(g int64) error {
	if !r.o.in.seekable() || r.o.in.size < 0 {
		return fmt.Errorf("%w: Ogg Opus", ErrNotSeekable)
	}
	r.havePend = false
	got, ok, err := r.o.seekGranule(r.first, g)
	if err != nil {
		return err
	}
	if !ok || got < r.start {
		if err := r.o.restartAt(r.first); err != nil {
			return err
		}
		got = r.start
	}
	r.pos = got
	return nil
}

// Seek positions the reader at the packet containing offset d from the
// start of the audio (within 20 ms for 20 ms packets; the packets are not
// decoded, so the receiving decoder converges within a few packets).
func (r *OggOpusReader) Seek(d time.Duration) error {
	if r.closed {
		return ErrClosed
	}
	if d < 0 {
		return fmt.Errorf("%w: %v", ErrNegativeSeek, d)
	}
	target := r.start + int64(r.head.PreSkip) + durationToSamples(d, SampleRate)
	if err := r.seekGranule(target); err != nil {
		return err
	}
	// Skip the packets ending at or before the target.
	return r.skipTo(target)
}

// skipTo consumes packets until the next one contains granule g.
func (r *OggOpusReader) skipTo(g int64) error {
	for r.pos < g {
		p, n, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.pos > g {
			// This packet contains g: keep it for the next read.
			r.pos -= int64(n)
			r.pend = append(r.pend[:0], p...)
			r.pendN, r.havePend = n, true
			return nil
		}
	}
	return nil
}

// Close closes the reader it was opened on when that is an io.Closer.
func (r *OggOpusReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.o.in.close()
}

// opusDecoder decodes an Ogg Opus stream with libopus, packet by packet on
// top of OggOpusReader, always to stereo (libopus upmixes mono).
//
// Seeking is sample-accurate: it goes to the page 80 ms before the target
// (the pre-roll RFC 7845 section 4.6 asks for), decodes from there and
// discards up to the target.
type opusDecoder struct {
	r       *OggOpusReader
	dec     *opus.Decoder
	pcm     []float32 // one decoded packet, stereo
	pcmOff  int       // consumed values
	pcmEnd  int
	discard int64   // samples to drop before output (pre-skip, seek)
	gain    float32 // linear output gain
}

const opusPreRoll = 3840 // 80 ms

func openOpusDecoder(in *input) (native, error) {
	r, err := openOggOpus(in)
	if err != nil {
		return nil, err
	}
	if !r.head.simple() {
		return nil, fmt.Errorf("%w: Opus mapping family %d with %d channels", errNeedsFFmpeg, r.head.MappingFamily, r.head.Channels)
	}
	dec, err := opus.NewDecoder(SampleRate, Channels)
	if err != nil {
		return nil, fmt.Errorf("audio: libopus decoder: %w", err)
	}
	d := &opusDecoder{
		r:       r,
		dec:     dec,
		pcm:     make([]float32, 5760*Channels),
		discard: int64(r.head.PreSkip),
		gain:    1,
	}
	if r.head.OutputGain != 0 {
		d.gain = float32(math.Pow(10, float64(r.head.OutputGain)/(20*256)))
	}
	return d, nil
}

func (d *opusDecoder) format() Format {
	return Format{Codec: "opus", SampleRate: SampleRate, Channels: Channels}
}

func (d *opusDecoder) length() (int64, bool) { return d.r.length() }

func (d *opusDecoder) read(dst []float32) (int, error) {
	for d.pcmOff == d.pcmEnd {
		start := d.r.pos
		p, _, err := d.r.next()
		if err != nil {
			return 0, err
		}
		n, err := d.dec.DecodeFloat32(p, d.pcm)
		if err != nil {
			return 0, fmt.Errorf("%w: Opus packet at granule %d: %v", ErrMalformed, start, err)
		}
		lo, hi := int64(0), int64(n)
		if d.r.o.hdr.flags&oggEOS != 0 && d.r.o.hdr.granule >= 0 {
			// End trimming: the last page's granule ends the audio.
			hi = min(hi, max(0, d.r.o.hdr.granule-start))
		}
		if d.discard > 0 {
			k := min(d.discard, hi)
			lo += k
			d.discard -= k
		}
		if lo >= hi {
			continue
		}
		d.pcmOff, d.pcmEnd = int(lo)*Channels, int(hi)*Channels
		if d.gain != 1 {
			for i := d.pcmOff; i < d.pcmEnd; i++ {
				d.pcm[i] *= d.gain
			}
		}
	}
	k := copy(dst, d.pcm[d.pcmOff:d.pcmEnd])
	d.pcmOff += k
	return k, nil
}

func (d *opusDecoder) seek(n int64) error {
	r := d.r
	target := r.start + int64(r.head.PreSkip) + n
	if l, ok := r.length(); ok && n > l {
		target = r.start + int64(r.head.PreSkip) + l
	}
	if err := r.seekGranule(max(r.start, target-opusPreRoll)); err != nil {
		return err
	}
	// A fresh decoder state (hraban/opus has no reset; a seek may allocate).
	dec, err := opus.NewDecoder(SampleRate, Channels)
	if err != nil {
		return fmt.Errorf("audio: libopus decoder: %w", err)
	}
	d.dec = dec
	d.discard = target - r.pos
	d.pcmOff, d.pcmEnd = 0, 0
	return nil
}

func (d *opusDecoder) close() error { return d.r.Close() }
