package audio

import (
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
)

// flacDecoder wraps github.com/mewkiz/flac (pure Go). Seeking is
// sample-accurate: the library finds the frame containing the target (with
// the SEEKTABLE, or a table it builds by scanning the frames once) and the
// decoder drops the samples before the target.
type flacDecoder struct {
	in    *input
	s     *flac.Stream
	f     *frame.Frame // current frame
	off   int          // next sample of f
	skip  int          // samples of the next frame to drop (seek)
	scale float32
	ch    int
	eof   bool
}

func openFLAC(in *input) (native, error) {
	var (
		s   *flac.Stream
		err error
	)
	if in.seekable() {
		s, err = flac.NewSeek(seekInput{in})
	} else {
		s, err = flac.New(in)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: FLAC: %v", ErrMalformed, err)
	}
	info := s.Info
	if info.NChannels < 1 || info.NChannels > 8 || info.SampleRate < 1000 || info.SampleRate > 384000 || info.BitsPerSample < 4 || info.BitsPerSample > 32 {
		return nil, fmt.Errorf("%w: FLAC with %d channels, %d Hz, %d bits", ErrMalformed, info.NChannels, info.SampleRate, info.BitsPerSample)
	}
	return &flacDecoder{
		in:    in,
		s:     s,
		ch:    int(info.NChannels),
		scale: 1 / float32(int64(1)<<(info.BitsPerSample-1)),
	}, nil
}

func (d *flacDecoder) format() Format {
	return Format{Codec: "flac", SampleRate: int(d.s.Info.SampleRate), Channels: d.ch}
}

func (d *flacDecoder) length() (int64, bool) {
	n := int64(d.s.Info.NSamples)
	return n, n > 0
}

func (d *flacDecoder) read(dst []float32) (int, error) {
	for d.f == nil || d.off >= int(d.f.BlockSize) {
		if d.eof {
			return 0, io.EOF
		}
		f, err := d.s.ParseNext()
		if err != nil {
			if errors.Is(err, io.EOF) {
				d.eof = true
				return 0, io.EOF
			}
			return 0, fmt.Errorf("%w: FLAC frame: %v", ErrMalformed, err)
		}
		if len(f.Subframes) != d.ch {
			return 0, fmt.Errorf("%w: FLAC frame with %d channels in a %d-channel stream", ErrMalformed, len(f.Subframes), d.ch)
		}
		for _, sf := range f.Subframes {
			if len(sf.Samples) < int(f.BlockSize) {
				return 0, fmt.Errorf("%w: FLAC subframe of %d samples, block size %d", ErrMalformed, len(sf.Samples), f.BlockSize)
			}
		}
		d.f, d.off = f, min(d.skip, int(f.BlockSize))
		d.skip = 0
	}
	frames := min(len(dst)/d.ch, int(d.f.BlockSize)-d.off)
	scale := d.scale
	if bps := d.f.BitsPerSample; bps > 0 && bps != d.s.Info.BitsPerSample {
		scale = 1 / float32(int64(1)<<(bps-1))
	}
	for c, sf := range d.f.Subframes {
		for i, v := range sf.Samples[d.off : d.off+frames] {
			dst[i*d.ch+c] = float32(v) * scale
		}
	}
	d.off += frames
	return frames * d.ch, nil
}

func (d *flacDecoder) seek(n int64) error {
	if !d.in.seekable() {
		return fmt.Errorf("%w: FLAC", ErrNotSeekable)
	}
	d.f, d.off, d.skip, d.eof = nil, 0, 0, false
	if l, ok := d.length(); ok && n >= l {
		d.eof = true
		return nil
	}
	start, err := d.s.Seek(uint64(n))
	if err != nil {
		return fmt.Errorf("audio: FLAC seek to sample %d: %w", n, err)
	}
	if uint64(n) < start {
		return fmt.Errorf("%w: FLAC seek to sample %d landed on %d", ErrMalformed, n, start)
	}
	d.skip = int(uint64(n) - start)
	return nil
}

func (d *flacDecoder) close() error { return d.in.close() }
