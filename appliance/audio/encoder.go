package audio

import (
	"fmt"

	"github.com/hraban/opus"
)

// EncoderConfig configures an Encoder. The zero value works.
type EncoderConfig struct {
	// Bitrate in bits per second; 0 means DefaultBitrate. libopus accepts
	// 6,000 to 510,000.
	Bitrate int
	// Complexity from 1 (cheapest) to 10 (best); 0 means
	// DefaultComplexity.
	Complexity int
	// Meter, when set, is given the CPU time each Encode spends in libopus
	// (discodo bench measures libopus inside the running node with it);
	// nil costs nothing.
	Meter *EncodeMeter
}

const (
	DefaultBitrate    = 128000
	DefaultComplexity = 10
)

// Encoder encodes 20 ms frames of 48 kHz stereo float32 to Opus packets
// with libopus (application "audio", the music mode). It is not safe for
// concurrent use.
type Encoder struct {
	enc *opus.Encoder
	cfg EncoderConfig
}

// Validate reports what NewEncoder would refuse in cfg, without making
// an encoder (a player checks its settings at start-up and makes its
// encoder when it first needs one).
func (cfg EncoderConfig) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

func (cfg EncoderConfig) withDefaults() (EncoderConfig, error) {
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if cfg.Complexity == 0 {
		cfg.Complexity = DefaultComplexity
	}
	if cfg.Bitrate < 6000 || cfg.Bitrate > 510000 {
		return cfg, fmt.Errorf("audio: Opus bitrate %d outside 6000-510000", cfg.Bitrate)
	}
	if cfg.Complexity < 1 || cfg.Complexity > 10 {
		return cfg, fmt.Errorf("audio: Opus complexity %d outside 1-10", cfg.Complexity)
	}
	return cfg, nil
}

// NewEncoder returns an encoder configured by cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	enc, err := opus.NewEncoder(SampleRate, Channels, opus.AppAudio)
	if err != nil {
		return nil, fmt.Errorf("audio: libopus encoder: %w", err)
	}
	if err := enc.SetBitrate(cfg.Bitrate); err != nil {
		return nil, fmt.Errorf("audio: Opus bitrate %d: %w", cfg.Bitrate, err)
	}
	if err := enc.SetComplexity(cfg.Complexity); err != nil {
		return nil, fmt.Errorf("audio: Opus complexity %d: %w", cfg.Complexity, err)
	}
	return &Encoder{enc: enc, cfg: cfg}, nil
}

// Config returns the configuration in effect (defaults filled in).
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// Encode encodes one frame (exactly FrameLen interleaved samples) into out
// and returns the packet length. out should hold MaxOpusFrame bytes.
// Encode allocates nothing.
func (e *Encoder) Encode(pcm []float32, out []byte) (int, error) {
	if e.enc == nil {
		return 0, ErrClosed
	}
	if len(pcm) != FrameLen {
		return 0, fmt.Errorf("%w: %d samples, want %d", ErrFrameSize, len(pcm), FrameLen)
	}
	var n int
	var err error
	if m := e.cfg.Meter; m != nil {
		n, err = m.encode(e.enc, pcm, out)
	} else {
		n, err = e.enc.EncodeFloat32(pcm, out)
	}
	if err != nil {
		return 0, fmt.Errorf("audio: Opus encode: %w", err)
	}
	return n, nil
}

// Close releases the encoder; it is idempotent.
func (e *Encoder) Close() error {
	e.enc = nil
	return nil
}
