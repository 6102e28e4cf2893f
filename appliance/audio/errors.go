package audio

import "errors"

// Errors returned while opening or decoding a stream.
var (
	// ErrUnsupportedFormat is returned by Open when the bytes are none of
	// the formats decoded natively (Ogg Opus, Ogg Vorbis, WAV, FLAC, MP3)
	// and ffmpeg is not available to decode them.
	ErrUnsupportedFormat = errors.New("audio: unsupported format (supported: Ogg Opus, Ogg Vorbis, WAV, FLAC, MP3; others need ffmpeg)")

	// ErrMalformed is returned when a container or codec header is
	// invalid: a bad Ogg page, a truncated WAV header, a packet that does
	// not parse.
	ErrMalformed = errors.New("audio: malformed stream")

	// ErrNotSeekable is returned by Seek when the underlying stream cannot
	// seek (a pipe, an HTTP server without range requests).
	ErrNotSeekable = errors.New("audio: stream is not seekable")

	// ErrNegativeSeek is returned by Seek for an offset below zero.
	ErrNegativeSeek = errors.New("audio: negative seek offset")

	// ErrClosed is returned by any method of a decoder or reader after
	// Close.
	ErrClosed = errors.New("audio: closed")

	// ErrDecoderPanic is returned when a third-party decoder panicked on
	// malformed input; the panic is recovered at the Read/Seek boundary.
	ErrDecoderPanic = errors.New("audio: decoder panicked on malformed input")
)

// Errors of the Opus passthrough reader.
var (
	// ErrNotOpus is returned by OpenOggOpus when the first logical Ogg
	// stream does not carry an OpusHead.
	ErrNotOpus = errors.New("audio: not an Ogg Opus stream")

	// ErrPacketDuration is returned by OggOpusReader.ReadPacket for a
	// packet that does not hold exactly 20 ms of audio: the caller falls
	// back to decoding and re-encoding. The packet is not consumed twice:
	// the reader stays positioned after it.
	ErrPacketDuration = errors.New("audio: Opus packet is not 20 ms")
)

// Errors of the Opus encoder.
var (
	// ErrFrameSize is returned by Encoder.Encode when the PCM slice is not
	// exactly FrameLen samples.
	ErrFrameSize = errors.New("audio: PCM frame is not 20 ms of 48 kHz stereo")
)

// Errors of source resolution (Resolver). The node maps them to HTTP
// statuses: ErrUnsupportedQuery and ErrOutsideMediaDir to 400, ErrNotFound
// to 404, ErrSourceUnavailable and ErrExtractor to 502-ish 4xx answers
// naming the upstream status.
var (
	// ErrUnsupportedQuery is returned for a query that is neither an
	// http(s) URL, nor a file in a media directory, nor (when the
	// extractor is enabled) something the extractor accepts.
	ErrUnsupportedQuery = errors.New("unsupported query: use an http(s) URL to an audio file, a file path inside a --media-dir, or (with yt-dlp enabled) a page URL or ytsearch:<terms>")

	// ErrNotFound is returned when a file is not in any media directory,
	// an HTTP server answers 404/410, or a search finds nothing.
	ErrNotFound = errors.New("source not found")

	// ErrOutsideMediaDir is returned for a path that leaves the media
	// directories: "..", an absolute path elsewhere, a symlink pointing
	// out.
	ErrOutsideMediaDir = errors.New("path is outside the media directories")

	// ErrSourceUnavailable is returned when an HTTP source answers an
	// error status other than 404/410, times out or stalls.
	ErrSourceUnavailable = errors.New("source unavailable")

	// ErrExtractor is returned when the external extractor fails or prints
	// something that is not its JSON.
	ErrExtractor = errors.New("extractor failed")

	// ErrNotAudio is returned when an http(s) URL serves a web page and no
	// extractor is enabled to find the audio in it.
	ErrNotAudio = errors.New("URL serves a web page, not audio (enable yt-dlp for page URLs)")
)
