package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// benchDecoder opens a 20 s fixture from memory.
func benchDecoder(b *testing.B, fx fixture) Decoder {
	b.Helper()
	fx.secs = 20
	data, err := os.ReadFile(fx.make(b, b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	d, err := Open(context.Background(), bytes.NewReader(data), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// BenchmarkDecoderRead measures one 20 ms frame of 48 kHz stereo from
// each decoder, conversion and resampling included. Allocations per frame
// are the figure to watch: 0 for WAV and Ogg Opus.
func BenchmarkDecoderRead(b *testing.B) {
	for _, fx := range []fixture{
		{format: "wav16", rate: 48000, channels: 2, signal: "tone"},
		{format: "wav16", rate: 44100, channels: 2, signal: "tone"},
		{format: "wav16", rate: 44100, channels: 1, signal: "tone"},
		{format: "opus", rate: 48000, channels: 2, signal: "tone"},
		{format: "flac", rate: 44100, channels: 2, signal: "tone"},
		{format: "mp3", rate: 44100, channels: 2, signal: "tone"},
		{format: "vorbis", rate: 44100, channels: 2, signal: "tone"},
	} {
		b.Run(fx.String(), func(b *testing.B) {
			d := benchDecoder(b, fx)
			buf := make([]float32, FrameLen)
			b.ReportAllocs()
			b.SetBytes(FrameLen * 4)
			for b.Loop() {
				if _, err := d.Read(buf); err != nil {
					if !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					b.StopTimer()
					d.Seek(0)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkReadPacket measures the passthrough path: one Opus packet.
func BenchmarkReadPacket(b *testing.B) {
	fx := fixture{format: "opus", rate: 48000, channels: 2, signal: "tone", secs: 20}
	data, err := os.ReadFile(fx.make(b, b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	r, err := OpenOggOpus(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	pkt := make([]byte, MaxOpusFrame)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadPacket(pkt); err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			b.StopTimer()
			r.Seek(0)
			b.StartTimer()
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []int{5, 10} {
		b.Run("complexity"+string(rune('0'+c/10))+string(rune('0'+c%10)), func(b *testing.B) {
			enc, err := NewEncoder(EncoderConfig{Complexity: c})
			if err != nil {
				b.Fatal(err)
			}
			pcm := stereoSine(SampleRate, 440, 0.25, 0.02)
			out := make([]byte, MaxOpusFrame)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.Encode(pcm, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResampler measures resampling one 20 ms output frame.
func BenchmarkResampler(b *testing.B) {
	for _, rate := range []int{44100, 96000, 44056} {
		b.Run(time.Duration(rate).String(), func(b *testing.B) {
			r := NewResampler(rate)
			in := stereoSine(rate, 440, 0.5, 1)
			out := make([]float32, FrameLen)
			off := 0
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for n < len(out) {
					k := r.Pull(out[n:])
					n += k
					if n < len(out) {
						if off >= len(in) {
							off = 0
						}
						off += r.Push(in[off:])
					}
				}
			}
		})
	}
}
