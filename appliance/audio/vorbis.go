package audio

import (
	"fmt"
	"io"

	"github.com/jfreymuth/oggvorbis"
)

// vorbisDecoder wraps github.com/jfreymuth/oggvorbis (pure Go). Seeking is
// sample-accurate: the library seeks to the page before the target and
// decodes up to it.
type vorbisDecoder struct {
	in *input
	r  *oggvorbis.Reader
}

func openVorbis(in *input) (native, error) {
	r, err := oggvorbis.NewReader(in.reader())
	if err != nil {
		return nil, fmt.Errorf("%w: Ogg Vorbis: %v", ErrMalformed, err)
	}
	if r.Channels() < 1 || r.Channels() > 8 || r.SampleRate() < 1000 || r.SampleRate() > 384000 {
		return nil, fmt.Errorf("%w: Ogg Vorbis with %d channels at %d Hz", ErrMalformed, r.Channels(), r.SampleRate())
	}
	return &vorbisDecoder{in: in, r: r}, nil
}

func (d *vorbisDecoder) format() Format {
	return Format{Codec: "vorbis", SampleRate: d.r.SampleRate(), Channels: d.r.Channels()}
}

func (d *vorbisDecoder) length() (int64, bool) {
	n := d.r.Length()
	return n, n > 0
}

func (d *vorbisDecoder) read(dst []float32) (int, error) {
	n, err := d.r.Read(dst)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.EOF
	}
	return 0, err
}

func (d *vorbisDecoder) seek(n int64) error {
	if !d.in.seekable() {
		return fmt.Errorf("%w: Ogg Vorbis", ErrNotSeekable)
	}
	return d.r.SetPosition(n)
}

func (d *vorbisDecoder) close() error { return d.in.close() }
