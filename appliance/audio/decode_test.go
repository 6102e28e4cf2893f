package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var nativeFormats = []string{"wav16", "wav24", "wavf32", "wav8", "flac", "mp3", "vorbis", "opus"}

// TestFormatsEndToEnd generates a 440 Hz (left) / 1 kHz (right) tone in
// every format, mono and stereo, at 44.1 and 48 kHz with ffmpeg/opusenc,
// decodes it and checks every second of it: frequency, level, length.
func TestFormatsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	const secs = 3
	const level = -21.07 // ffmpeg's sine source: amplitude 1/8
	for _, format := range append(nativeFormats, "aac") {
		for _, rate := range []int{44100, 48000} {
			for _, ch := range []int{1, 2} {
				fx := fixture{format: format, rate: rate, channels: ch, signal: "tone", secs: secs}
				t.Run(fx.String(), func(t *testing.T) {
					t.Parallel()
					path := fx.make(t, dir)
					pcm, d := decodeFile(t, path)
					wantCodec := map[string]string{"wav16": "wav", "wav24": "wav", "wavf32": "wav", "wav8": "wav", "aac": "ffmpeg"}[format]
					if wantCodec == "" {
						wantCodec = format
					}
					if got := d.Format().Codec; got != wantCodec {
						t.Errorf("codec %q, want %q", got, wantCodec)
					}
					frames := len(pcm) / 2
					// Lossless and trimmed formats are exact to a few
					// samples; AAC via ffmpeg carries its priming.
					tol := 48 // 1 ms
					if format == "aac" {
						tol = 2048 + 1024
					}
					if diff := frames - secs*SampleRate; diff < -tol || diff > tol {
						t.Errorf("decoded %d frames, want %d ±%d", frames, secs*SampleRate, tol)
					}
					if dur, ok := d.Duration(); ok {
						if diff := dur - secs*time.Second; diff < -20*time.Millisecond || diff > 20*time.Millisecond {
							t.Errorf("Duration %v, want %v", dur, secs*time.Second)
						}
					} else if format != "aac" && format != "mp3" {
						t.Errorf("Duration unknown for a seekable %s file", format)
					}
					want := [2]float64{440, 1000}
					if ch == 1 {
						want[1] = 440
					}
					for s := range secs {
						lo, hi := s*SampleRate+SampleRate/10, (s+1)*SampleRate-SampleRate/10
						if hi > frames {
							t.Fatalf("second %d missing", s)
						}
						for c := range 2 {
							x := channel(pcm[2*lo:2*hi], c)
							f := zeroCrossFreq(x, SampleRate)
							l := rmsDB(x)
							if math.Abs(f-want[c]) > 0.5 {
								t.Errorf("second %d channel %d: %.2f Hz, want %.0f", s, c, f, want[c])
							}
							if math.Abs(l-level) > 0.5 {
								t.Errorf("second %d channel %d: %.2f dBFS, want %.2f", s, c, l, level)
							}
						}
					}
				})
			}
		}
	}
}

// TestSeekAccuracy seeks into a chirp (whose instantaneous frequency
// identifies the time) in every format and measures, by correlation with
// the analytic chirp, where the decoded audio really is. It also checks
// the start of the stream (mp3 delay trimming, Opus pre-skip).
func TestSeekAccuracy(t *testing.T) {
	dir := t.TempDir()
	for _, format := range append(nativeFormats, "aac") {
		for _, rate := range []int{44100, 48000} {
			fx := fixture{format: format, rate: rate, channels: 2, signal: "chirp", secs: 5}
			t.Run(fx.String(), func(t *testing.T) {
				t.Parallel()
				path := fx.make(t, dir)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				d, err := Open(context.Background(), f, OpenOptions{Name: path})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				buf := make([]float32, 2*3000)
				check := func(at time.Duration) {
					t.Helper()
					n, err := d.Read(buf)
					if err != nil && !errors.Is(err, io.EOF) {
						t.Fatalf("Read at %v: %v", at, err)
					}
					if n < len(buf) {
						t.Fatalf("Read at %v: %d samples", at, n)
					}
					// Skip 10 ms: lossy decoders converge after a seek.
					const settle = 480
					x := channel(buf[2*settle:], 0)
					lag, corr := chirpLag(x, at.Seconds()+settle/float64(SampleRate), FrameSamples+48)
					t.Logf("at %v: lag %d samples (%.2f ms), correlation %.3f", at, lag, float64(lag)/48, corr)
					if corr < 0.9 {
						t.Errorf("at %v: audio does not match the chirp (correlation %.3f)", at, corr)
					}
					if lag < -FrameSamples || lag > FrameSamples {
						t.Errorf("at %v: off by %.2f ms (more than 20 ms)", at, float64(lag)/48)
					}
				}
				check(0)
				for _, at := range []time.Duration{1234 * time.Millisecond, 3500 * time.Millisecond, 500 * time.Millisecond, 0, 4 * time.Second} {
					if err := d.Seek(at); err != nil {
						t.Fatalf("Seek(%v): %v", at, err)
					}
					check(at)
				}
				// At or past the end: EOF, then seeking back works.
				if err := d.Seek(10 * time.Second); err != nil {
					t.Fatalf("Seek past end: %v", err)
				}
				if n, err := d.Read(buf); !errors.Is(err, io.EOF) {
					t.Errorf("Read past end: %d, %v; want EOF", n, err)
				}
				if err := d.Seek(2 * time.Second); err != nil {
					t.Fatal(err)
				}
				check(2 * time.Second)
			})
		}
	}
}

// TestFFmpegClose: closing an ffmpeg-decoded stream mid-way ends the
// process and its goroutines; a file ffmpeg cannot decode gives an error
// naming what ffmpeg said.
func TestFFmpegClose(t *testing.T) {
	requireTool(t, "ffmpeg")
	checkLeaks(t)
	dir := t.TempDir()
	path := fixture{format: "aac", rate: 48000, channels: 2, signal: "tone", secs: 3}.make(t, dir)
	// Through a pipe, ffmpeg needs the MP4 index at the front.
	fast := filepath.Join(dir, "fast.m4a")
	run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-c", "copy", "-movflags", "+faststart", fast)
	for _, viaPipe := range []bool{false, true} {
		p := path
		if viaPipe {
			p = fast
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if viaPipe {
			r = struct{ io.ReadCloser }{f} // no Seek: goes through stdin
		}
		d, err := Open(context.Background(), r, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Read(make([]float32, FrameLen)); err != nil {
			t.Fatalf("pipe %v: %v (%s)", viaPipe, err, d.(*converter).src.(*ffmpegDecoder).stderr)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if cmd := d.(*converter).src.(*ffmpegDecoder).cmd; cmd != nil {
			t.Errorf("ffmpeg still running after Close")
		}
		if err := d.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	// The index at the end, through a pipe: a clear error, not silence.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), struct{ io.ReadCloser }{f}, OpenOptions{})
	if err == nil {
		_, err = d.Read(make([]float32, FrameLen))
		d.Close()
	}
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ffmpeg") {
		t.Errorf("MP4 with the index at the end through a pipe: %v", err)
	}
	junk := append([]byte("\x00\x00\x00\x18ftypmp42"), bytes.Repeat([]byte{0xAB}, 5000)...)
	d, err = Open(context.Background(), bytes.NewReader(junk), OpenOptions{})
	if err == nil {
		_, err = d.Read(make([]float32, FrameLen))
		d.Close()
	}
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ffmpeg") {
		t.Errorf("junk through ffmpeg: %v", err)
	}
}
