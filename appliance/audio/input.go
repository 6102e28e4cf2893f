package audio

import (
	"bufio"
	"fmt"
	"io"
)

// input is the buffered byte stream every format reader reads: it peeks for
// sniffing, counts the offset, and seeks when the source can.
type input struct {
	src  io.Reader
	sk   io.Seeker // nil when the source cannot seek
	br   *bufio.Reader
	off  int64 // offset of the next byte Read returns
	size int64 // total size, -1 when unknown
}

// Seekability is what a source may implement to say whether its Seek works
// (an HTTP stream without range support has a Seek method that fails).
type Seekability interface {
	Seekable() bool
}

const (
	inputBuffer = 16 << 10
	// packetInputBuffer is OggOpusReader's buffer: it reads whole pages
	// into its own page buffer (a read that large bypasses this one), so
	// a small one does (a passthrough stream keeps it for its lifetime).
	packetInputBuffer = 8 << 10
)

func newInput(r io.Reader) *input { return newInputSize(r, inputBuffer) }

func newInputSize(r io.Reader, size int) *input {
	in := &input{src: r, br: bufio.NewReaderSize(r, size), size: -1}
	if s, ok := r.(io.Seeker); ok {
		if sa, ok := r.(Seekability); !ok || sa.Seekable() {
			in.sk = s
		}
	}
	if in.sk != nil {
		if cur, err := in.sk.Seek(0, io.SeekCurrent); err == nil {
			in.off = cur
			if end, err := in.sk.Seek(0, io.SeekEnd); err == nil {
				in.size = end
			}
			if _, err := in.sk.Seek(cur, io.SeekStart); err != nil {
				in.sk = nil
				in.size = -1
			}
		} else {
			in.sk = nil
		}
	}
	return in
}

func (in *input) seekable() bool { return in.sk != nil }

func (in *input) Read(p []byte) (int, error) {
	n, err := in.br.Read(p)
	in.off += int64(n)
	return n, err
}

func (in *input) peek(n int) ([]byte, error) { return in.br.Peek(n) }

func (in *input) readFull(p []byte) error {
	_, err := io.ReadFull(in, p)
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated at offset %d", ErrMalformed, in.off)
	}
	return err
}

func (in *input) discard(n int64) error {
	for n > 0 {
		k, err := in.br.Discard(int(min(n, 1<<30)))
		in.off += int64(k)
		n -= int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

// seekTo positions the next Read at absolute offset off: by discarding
// when it is ahead within the buffer or the source cannot seek, else by
// seeking the source.
func (in *input) seekTo(off int64) error {
	if off == in.off {
		return nil
	}
	if d := off - in.off; d > 0 && (d <= int64(in.br.Buffered()) || in.sk == nil) {
		return in.discard(d)
	}
	if in.sk == nil {
		return fmt.Errorf("%w: cannot go back from offset %d to %d", ErrNotSeekable, in.off, off)
	}
	if _, err := in.sk.Seek(off, io.SeekStart); err != nil {
		return err
	}
	in.br.Reset(in.src)
	in.off = off
	return nil
}

func (in *input) close() error {
	if c, ok := in.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// seekInput is an input that third-party decoders see as an io.ReadSeeker;
// it is handed out only when the source seeks.
type seekInput struct{ *input }

func (s seekInput) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		if s.size < 0 {
			return 0, ErrNotSeekable
		}
		offset += s.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: offset %d", ErrNegativeSeek, offset)
	}
	if err := s.seekTo(offset); err != nil {
		return 0, err
	}
	return offset, nil
}

// reader returns what a third-party decoder should read: a seeker when the
// source seeks, a plain reader otherwise.
func (in *input) reader() io.Reader {
	if in.sk != nil {
		return seekInput{in}
	}
	return in
}
