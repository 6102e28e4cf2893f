package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// mp3Decoder wraps github.com/hajimehoshi/go-mp3 (pure Go; it always
// yields 16-bit stereo). go-mp3 outputs the Xing/Info frame as silence and
// keeps the encoder and decoder delays and the end padding; when the first
// frame carries a Xing/Info header with a LAME extension, those are
// trimmed here as LAME documents them (gapless playback, and positions
// agree with ffmpeg's).
//
// Seeking: the stream is opened without seeking so that playback starts at
// once; the first Seek rewinds and reopens it with go-mp3's seeking
// decoder, which indexes the frame headers (one pass over the file), after
// which seeks are sample-accurate.
type mp3Decoder struct {
	in      *input
	start   int64 // offset of the stream (ID3 tag included)
	d       *mp3.Decoder
	indexed bool // d was opened on a seeker
	raw     []byte
	rate    int
	skip    int64 // samples to drop before pos 0
	total   int64 // samples of audio, -1 when unknown
	pos     int64 // next output sample
	toDrop  int64 // samples still to drop (start, seek)
	eof     bool
}

// mp3DecoderDelay is the delay of the MPEG Layer III synthesis filterbank
// the LAME tag's delay field does not include (LAME's "decoder delay").
const mp3DecoderDelay = 529

func openMP3(in *input) (native, error) {
	m := &mp3Decoder{in: in, start: in.off, total: -1, raw: make([]byte, nativeChunk*4)}
	m.parseXing()
	d, err := mp3.NewDecoder(in) // *input has no Seek: no index pass now
	if err != nil {
		return nil, fmt.Errorf("%w: MP3: %v", ErrMalformed, err)
	}
	m.d, m.rate = d, d.SampleRate()
	if m.rate < 8000 || m.rate > 48000 {
		return nil, fmt.Errorf("%w: MP3 sample rate %d", ErrMalformed, m.rate)
	}
	m.toDrop = m.skip
	return m, nil
}

// parseXing looks for a Xing/Info header with a LAME extension in the
// first frame (behind an ID3v2 tag that fits the input buffer):
//
//	frame header (4) | side info (9, 17 or 32) | "Xing"/"Info" | flags (4 BE)
//	| frames (4, flag 1) | bytes (4, flag 2) | TOC (100, flag 4) | quality (4, flag 8)
//	| LAME tag: version (9) ... byte 21-23: delay (12 bits) padding (12 bits)
func (m *mp3Decoder) parseXing() {
	b, _ := m.in.peek(10)
	off := 0
	if len(b) == 10 && string(b[:3]) == "ID3" {
		off = int(id3Size(b))
	}
	b, _ = m.in.peek(min(off+512, inputBuffer))
	if len(b) < off+4+32+8 {
		return
	}
	h := binary.BigEndian.Uint32(b[off:])
	if !isMP3Header(h) {
		return
	}
	mpeg1 := (h>>19)&3 == 3
	mono := (h>>6)&3 == 3
	side, spf := 17, int64(576)
	switch {
	case mpeg1 && mono:
		side, spf = 17, 1152
	case mpeg1:
		side, spf = 32, 1152
	case mono:
		side = 9
	}
	x := b[off+4+side:]
	if len(x) < 8 || (string(x[:4]) != "Xing" && string(x[:4]) != "Info") {
		return
	}
	flags := binary.BigEndian.Uint32(x[4:8])
	p := 8
	frames := int64(-1)
	if flags&1 != 0 {
		if len(x) < p+4 {
			return
		}
		frames = int64(binary.BigEndian.Uint32(x[p:]))
		p += 4
	}
	if flags&2 != 0 {
		p += 4
	}
	if flags&4 != 0 {
		p += 100
	}
	if flags&8 != 0 {
		p += 4
	}
	delay, padding := int64(0), int64(0)
	lame := false
	if len(x) >= p+24 && (string(x[p:p+4]) == "LAME" || string(x[p:p+4]) == "Lavc" || string(x[p:p+4]) == "Lavf") {
		delay = int64(x[p+21])<<4 | int64(x[p+22])>>4
		padding = int64(x[p+22]&0x0F)<<8 | int64(x[p+23])
		lame = true
	}
	// go-mp3 decodes the Info frame itself to one frame of silence.
	m.skip = spf
	if lame {
		m.skip += delay + mp3DecoderDelay
	}
	if frames > 0 {
		m.total = max(0, frames*spf-delay-padding)
	}
}

func (m *mp3Decoder) format() Format {
	return Format{Codec: "mp3", SampleRate: m.rate, Channels: 2}
}

func (m *mp3Decoder) length() (int64, bool) {
	if m.total >= 0 {
		return m.total, true
	}
	if m.indexed {
		return max(0, m.d.Length()/4-m.skip), true
	}
	return 0, false
}

func (m *mp3Decoder) read(dst []float32) (int, error) {
	if m.eof {
		return 0, io.EOF
	}
	for {
		want := min(len(dst)/2, len(m.raw)/4)
		if m.toDrop > 0 {
			want = int(min(int64(len(m.raw)/4), m.toDrop))
		} else if m.total >= 0 {
			want = int(min(int64(want), m.total-m.pos))
			if want <= 0 {
				m.eof = true
				return 0, io.EOF
			}
		}
		n, err := io.ReadFull(m.d, m.raw[:want*4])
		frames := n / 4
		if frames == 0 {
			if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			if errors.Is(err, io.EOF) {
				m.eof = true
			}
			return 0, err
		}
		if m.toDrop > 0 {
			m.toDrop -= int64(frames)
			continue
		}
		for i := range frames * 2 {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(m.raw[2*i:]))) / 32768
		}
		m.pos += int64(frames)
		return frames * 2, nil
	}
}

func (m *mp3Decoder) seek(n int64) error {
	if !m.in.seekable() {
		return fmt.Errorf("%w: MP3", ErrNotSeekable)
	}
	if !m.indexed {
		if err := m.in.seekTo(m.start); err != nil {
			return err
		}
		d, err := mp3.NewDecoder(seekInput{m.in})
		if err != nil {
			return fmt.Errorf("%w: MP3 reopening to seek: %v", ErrMalformed, err)
		}
		m.d, m.indexed = d, true
	}
	m.eof, m.toDrop = false, 0
	if l, ok := m.length(); ok && n >= l {
		m.pos, m.eof = l, true
		return nil
	}
	byteOff := (m.skip + n) * 4
	if byteOff >= m.d.Length() {
		m.pos, m.eof = n, true
		return nil
	}
	if _, err := m.d.Seek(byteOff, io.SeekStart); err != nil {
		return fmt.Errorf("audio: MP3 seek to sample %d: %w", n, err)
	}
	m.pos = n
	return nil
}

func (m *mp3Decoder) close() error { return m.in.close() }
