package audio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errNeedsFFmpeg marks a stream whose container is known but whose content
// (a codec, a channel mapping) the native decoders do not handle: Open
// hands it to ffmpeg when ffmpeg is there.
var errNeedsFFmpeg = errors.New("needs ffmpeg")

// OpenOptions tunes Open. The zero value works.
type OpenOptions struct {
	// Name is the file name or URL of the stream, used in error messages.
	Name string
	// FFmpeg is the ffmpeg binary for formats decoded by no native decoder:
	// "" looks up "ffmpeg" in PATH, "-" disables the fallback.
	FFmpeg string
}

// Kind is what Sniff recognises from a stream's first bytes.
type Kind int

const (
	KindUnknown Kind = iota
	KindOggOpus
	KindOggVorbis
	KindOggOther // Ogg FLAC, Speex, Theora...: ffmpeg's job
	KindWAV
	KindFLAC
	KindMP3
	KindID3 // an ID3v2 tag: MP3, or rarely FLAC, behind it
)

var kindNames = [...]string{"unknown", "ogg-opus", "ogg-vorbis", "ogg-other", "wav", "flac", "mp3", "id3"}

func (k Kind) String() string { return kindNames[k] }

// sniffLen is how many bytes Sniff wants to see.
const sniffLen = 64

// Sniff recognises a container from its first bytes (at least sniffLen
// when the stream has them):
//
//	"OggS" ... (page header, 27 + segments bytes) then the first packet:
//	           "OpusHead" → Ogg Opus, "\x01vorbis" → Ogg Vorbis
//	"RIFF" size "WAVE"      → WAV
//	"fLaC"                  → FLAC
//	"ID3"                   → ID3v2 tag (MP3 or FLAC follows)
//	0xFFE (11 bits) with layer bits 01 → an MPEG-1/2/2.5 Layer III frame
func Sniff(b []byte) Kind {
	switch {
	case len(b) >= 4 && string(b[:4]) == "OggS":
		if len(b) < 27 {
			return KindOggOther
		}
		nseg := int(b[26])
		p := 27 + nseg
		switch {
		case len(b) >= p+8 && string(b[p:p+8]) == "OpusHead":
			return KindOggOpus
		case len(b) >= p+7 && string(b[p:p+7]) == "\x01vorbis":
			return KindOggVorbis
		}
		return KindOggOther
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return KindWAV
	case len(b) >= 4 && string(b[:4]) == "fLaC":
		return KindFLAC
	case len(b) >= 10 && string(b[:3]) == "ID3":
		return KindID3
	case len(b) >= 4 && isMP3Header(binary.BigEndian.Uint32(b)):
		return KindMP3
	}
	return KindUnknown
}

// isMP3Header checks an MPEG audio frame header for Layer III with a valid
// bitrate and sample rate index (ISO/IEC 11172-3 2.4.1.3):
//
//	AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM
//	A sync (all ones), B version (01 reserved), C layer (01 = III),
//	E bitrate index (1111 bad), F sample rate index (11 reserved)
func isMP3Header(h uint32) bool {
	return h>>21 == 0x7FF &&
		(h>>19)&3 != 1 &&
		(h>>17)&3 == 1 &&
		(h>>12)&0xF != 0xF &&
		(h>>10)&3 != 3
}

// id3Size returns the size of an ID3v2 tag including its 10-byte header
// (and footer), from the syncsafe size field.
func id3Size(b []byte) int64 {
	s := int64(b[6]&0x7F)<<21 | int64(b[7]&0x7F)<<14 | int64(b[8]&0x7F)<<7 | int64(b[9]&0x7F)
	if b[5]&0x10 != 0 {
		s += 10 // footer
	}
	return 10 + s
}

// Open sniffs the container of r and returns a Decoder yielding 48 kHz
// stereo float32. r may be an io.Seeker (and a Seekability) for seeking
// and durations; a plain reader plays from start to end.
//
// Natively decoded: Ogg Opus (libopus), Ogg Vorbis, WAV, FLAC, MP3. Anything
// else, or a native container with content the native decoders refuse,
// goes to ffmpeg when it is installed; otherwise the error wraps
// ErrUnsupportedFormat. A malformed stream yields an error wrapping
// ErrMalformed. ctx bounds the ffmpeg process when one is started.
//
// On error, Open does not close r.
func Open(ctx context.Context, r io.Reader, opts OpenOptions) (Decoder, error) {
	in := newInput(r)
	start := in.off
	head, err := in.peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("audio: reading %s: %w", opts.name(), err)
	}
	if len(head) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrMalformed, opts.name())
	}
	kind := Sniff(head)
	if kind == KindID3 {
		kind = KindMP3
		if in.seekable() {
			// Look behind the tag: FLAC files sometimes carry one.
			size := id3Size(head)
			if err := in.seekTo(start + size); err == nil {
				if b, _ := in.peek(4); bytes.Equal(b, []byte("fLaC")) {
					kind = KindFLAC
				}
			}
			if err := in.seekTo(start); err != nil {
				return nil, fmt.Errorf("audio: rewinding %s: %w", opts.name(), err)
			}
		}
	}
	var src native
	switch kind {
	case KindOggOpus:
		src, err = openOpusDecoder(in)
	case KindOggVorbis:
		src, err = openVorbis(in)
	case KindWAV:
		src, err = openWAV(in)
	case KindFLAC:
		src, err = openFLAC(in)
	case KindMP3:
		src, err = openMP3(in)
	default:
		err = errNeedsFFmpeg
	}
	if err == nil {
		return newConverter(src), nil
	}
	if !errors.Is(err, errNeedsFFmpeg) {
		return nil, fmt.Errorf("audio: %s (%s): %w", opts.name(), kind, err)
	}
	path := ffmpegPath(opts.FFmpeg)
	if path == "" {
		return nil, fmt.Errorf("%w: %s sniffed as %s (%v) and ffmpeg is not installed", ErrUnsupportedFormat, opts.name(), kind, err)
	}
	if err := in.seekTo(start); err != nil {
		// A native reader consumed bytes of a stream that cannot rewind;
		// only the sniffed prefix is still buffered.
		return nil, fmt.Errorf("%w: %s (%s) cannot be handed to ffmpeg: %v", ErrUnsupportedFormat, opts.name(), kind, err)
	}
	return openFFmpeg(ctx, in, path, opts.name())
}

func (o OpenOptions) name() string {
	if o.Name == "" {
		return "stream"
	}
	return o.Name
}
