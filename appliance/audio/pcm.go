package audio

import (
	"time"
)

// The PCM every Decoder yields and every Encoder takes: 48 kHz, stereo,
// interleaved float32 in [-1, 1], cut into 20 ms frames.
const (
	SampleRate    = 48000                   // samples per second and channel
	Channels      = 2                       // interleaved left, right
	FrameDuration = 20 * time.Millisecond   // one Opus frame, one RTP packet
	FrameSamples  = SampleRate / 50         // 960 samples per channel and frame
	FrameLen      = FrameSamples * Channels // 1920 interleaved float32 per frame
	MaxOpusFrame  = 4000                    // bytes; the voice connection's buffer size
)

// A Decoder yields interleaved 48 kHz stereo float32 PCM, whatever the
// source's format, rate and channel count.
//
// A Decoder is not safe for concurrent use; the player owns it and calls it
// from one goroutine. Close may be called from another goroutine to abort a
// Read that blocks on a slow source (it closes the source underneath).
type Decoder interface {
	// Read fills dst (whose length must be even) with interleaved stereo
	// samples. It fills dst completely unless the stream ends or fails:
	// n < len(dst) comes with io.EOF or another error, and n is always
	// even.
	Read(dst []float32) (n int, err error)

	// Seek moves to offset d from the start of the audio. Precision per
	// format is documented in the package comment; every format is
	// accurate to a sample or to well within one 20 ms frame. Seeking at
	// or past the end makes the next Read return io.EOF. Returns
	// ErrNotSeekable when the stream cannot seek, ErrNegativeSeek for d < 0.
	Seek(d time.Duration) error

	// Duration returns the length of the audio when it is known.
	Duration() (time.Duration, bool)

	// Format tells what the decoder reads (for logs and tests).
	Format() Format

	// Close releases the decoder and closes the reader it was opened on
	// when that is an io.Closer. Close is idempotent.
	Close() error
}

// Format describes the source a Decoder reads, before conversion.
type Format struct {
	Codec      string // "opus", "vorbis", "wav", "flac", "mp3", "ffmpeg"
	SampleRate int    // the source's rate; 0 when unknown (ffmpeg)
	Channels   int    // the source's channel count; 0 when unknown (ffmpeg)
}

// frameDur converts a count of samples at rate to a duration, rounding down.
func samplesToDuration(n int64, rate int) time.Duration {
	sec := n / int64(rate)
	rem := n % int64(rate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}

// durationToSamples converts d to a count of samples at rate, rounding to
// the nearest sample.
func durationToSamples(d time.Duration, rate int) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*int64(rate) + (rem*int64(rate)+int64(time.Second)/2)/int64(time.Second)
}
