package audio

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// native is what each format decoder provides: interleaved float32 in the
// source's own rate and channel count. The converter turns it into a
// Decoder.
type native interface {
	format() Format
	// read fills dst (a multiple of the channel count) with whole sample
	// frames and returns the number of float32 values, or 0 and an error.
	read(dst []float32) (int, error)
	// seek positions the next read at sample frame n of the source's rate.
	seek(n int64) error
	// length returns the number of sample frames when known.
	length() (int64, bool)
	close() error
}

// nativeChunk is how many sample frames the converter asks a native decoder
// for at a time.
const nativeChunk = 1024

// converter adapts a native decoder to 48 kHz stereo: channels first
// (mono duplicated, more than two channels down-mixed), then the resampler.
type converter struct {
	src    native
	f      Format
	mix    [][2]float32 // per source channel: gain into left, right
	nbuf   []float32    // native samples, when not stereo
	sbuf   []float32    // stereo samples waiting for the resampler, when resampling
	soff   int          // consumed prefix of sbuf
	rs     *Resampler   // nil at 48 kHz
	eof    bool
	err    error // sticky error (panic or closed)
	closed bool
}

func newConverter(src native) *converter {
	f := src.format()
	c := &converter{src: src, f: f, mix: downmix(f.Channels, f.Codec)}
	if f.Channels != 2 { // stereo is read straight into the caller's buffer
		c.nbuf = make([]float32, nativeChunk*f.Channels)
	}
	if f.SampleRate != SampleRate {
		c.rs = NewResampler(f.SampleRate)
		c.sbuf = make([]float32, 0, nativeChunk*2)
	}
	return c
}

func (c *converter) Format() Format { return c.f }

func (c *converter) Read(dst []float32) (n int, err error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(dst)%2 != 0 {
		return 0, fmt.Errorf("audio: Read buffer length %d is odd", len(dst))
	}
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("%w (%s): %v", ErrDecoderPanic, c.f.Codec, p)
			n, err = 0, c.err
		}
	}()
	for n < len(dst) {
		if c.rs == nil {
			k, err := c.readStereo(dst[n:])
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		n += c.rs.Pull(dst[n:])
		if n == len(dst) {
			break
		}
		if c.eof {
			return n, io.EOF
		}
		// Feed the resampler.
		if c.soff == len(c.sbuf) {
			k, err := c.readStereo(c.sbuf[:cap(c.sbuf)])
			c.sbuf, c.soff = c.sbuf[:k], 0
			if errors.Is(err, io.EOF) {
				c.eof = true
				c.rs.End()
			} else if err != nil {
				return n, err
			}
		}
		c.soff += c.rs.Push(c.sbuf[c.soff:])
	}
	return n, nil
}

// readStereo reads up to len(dst)/2 frames from the native decoder into dst
// as stereo. It returns a short count only with an error.
func (c *converter) readStereo(dst []float32) (int, error) {
	ch := c.f.Channels
	n := 0
	for n < len(dst) {
		want := min((len(dst)-n)/2, nativeChunk) * ch
		var buf []float32
		if ch == 2 {
			buf = dst[n : n+want] // straight in, no copy
		} else {
			buf = c.nbuf[:want]
		}
		k, err := c.src.read(buf)
		frames := k / ch
		src := buf[:frames*ch]
		out := dst[n : n+2*frames]
		switch ch {
		case 1:
			for i, v := range src {
				out[2*i], out[2*i+1] = v, v
			}
		case 2: // in place
		default:
			for i := range frames {
				var l, r float32
				for j, g := range c.mix {
					v := src[i*ch+j]
					l += g[0] * v
					r += g[1] * v
				}
				out[2*i], out[2*i+1] = l, r
			}
		}
		n += 2 * frames
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

func (c *converter) Seek(d time.Duration) (err error) {
	if c.closed {
		return ErrClosed
	}
	if d < 0 {
		return fmt.Errorf("%w: %v", ErrNegativeSeek, d)
	}
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("%w (%s seek): %v", ErrDecoderPanic, c.f.Codec, p)
			err = c.err
		}
	}()
	if err := c.src.seek(durationToSamples(d, c.f.SampleRate)); err != nil {
		return err
	}
	c.err = nil
	c.eof = false
	c.sbuf, c.soff = c.sbuf[:0], 0
	if c.rs != nil {
		c.rs.Reset()
	}
	return nil
}

func (c *converter) Duration() (time.Duration, bool) {
	n, ok := c.src.length()
	if !ok {
		return 0, false
	}
	return samplesToDuration(n, c.f.SampleRate), true
}

func (c *converter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.err = ErrClosed
	return c.src.close()
}

// downmix returns the gains of each source channel into left and right for
// more than two channels, following the channel orders of the formats
// (Vorbis/Opus/FLAC-in-Ogg order for "vorbis" and "opus", WAVE order for
// the others) and ITU-R BS.775 weights (centre and surrounds at -3 dB, LFE
// dropped), scaled so that a full-scale signal on every channel cannot
// clip.
func downmix(ch int, codec string) [][2]float32 {
	if ch <= 2 {
		return nil
	}
	const c3 = 0.7071
	// Positions: 'L', 'R', 'C' (both), 'l' (left surround), 'r' (right
	// surround), 'E' (LFE, dropped).
	var pos string
	switch codec {
	case "vorbis", "opus":
		pos = [...]string{3: "LCR", 4: "LRlr", 5: "LCRlr", 6: "LCRlrE", 7: "LCRlrCE", 8: "LCRlrlrE"}[min(ch, 8)]
	default:
		pos = [...]string{3: "LRC", 4: "LRlr", 5: "LRClr", 6: "LRCElr", 7: "LRCEClr", 8: "LRCElrlr"}[min(ch, 8)]
	}
	g := make([][2]float32, ch)
	var sum float32
	for i := range ch {
		p := byte('x')
		if i < len(pos) {
			p = pos[i]
		}
		switch p {
		case 'L':
			g[i] = [2]float32{1, 0}
		case 'R':
			g[i] = [2]float32{0, 1}
		case 'C':
			g[i] = [2]float32{c3, c3}
		case 'l':
			g[i] = [2]float32{c3, 0}
		case 'r':
			g[i] = [2]float32{0, c3}
		}
		sum += g[i][0]
	}
	if sum > 0 {
		for i := range g {
			g[i][0] /= sum
			g[i][1] /= sum
		}
	}
	return g
}
