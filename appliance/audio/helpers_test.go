package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// requireTool skips the test when an external oracle is missing, unless
// DISCODO_REQUIRE_INTEROP=1 (CI), where it fails.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s is required (DISCODO_REQUIRE_INTEROP=1): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install ffmpeg opus-tools): %v", name, err)
	}
	return p
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// fixture describes a generated test file.
type fixture struct {
	format   string // "wav16", "wav24", "wavf32", "flac", "mp3", "vorbis", "opus", "aac"
	rate     int
	channels int
	// signal: "tone" is 440 Hz left (and mono), 1000 Hz right; "chirp" is
	// 0.5·sin(2π(200t + 300t²)) on every channel.
	signal string
	secs   float64
}

func (f fixture) String() string {
	return fmt.Sprintf("%s-%s-%dHz-%dch", f.format, f.signal, f.rate, f.channels)
}

var fixtureExt = map[string]string{
	"wav16": "wav", "wav24": "wav", "wavf32": "wav", "wav8": "wav", "flac": "flac", "mp3": "mp3",
	"vorbis": "ogg", "opus": "opus", "aac": "m4a",
}

var fixtureCodec = map[string][]string{
	"wav16":  {"-c:a", "pcm_s16le"},
	"wav24":  {"-c:a", "pcm_s24le"},
	"wav8":   {"-c:a", "pcm_u8"},
	"wavf32": {"-c:a", "pcm_f32le"},
	"flac":   {"-c:a", "flac"},
	"mp3":    {"-c:a", "libmp3lame", "-b:a", "192k"},
	"vorbis": {"-c:a", "libvorbis", "-q:a", "6"},
	"aac":    {"-c:a", "aac", "-b:a", "192k"},
}

// make generates the fixture in dir with ffmpeg (and opusenc for Opus) and
// returns its path.
func (f fixture) make(t testing.TB, dir string) string {
	t.Helper()
	requireTool(t, "ffmpeg")
	var graph string
	switch f.signal {
	case "tone":
		if f.channels == 1 {
			graph = fmt.Sprintf("sine=frequency=440:sample_rate=%d:duration=%g", f.rate, f.secs)
		} else {
			graph = fmt.Sprintf("sine=frequency=440:sample_rate=%[1]d:duration=%[2]g[a];sine=frequency=1000:sample_rate=%[1]d:duration=%[2]g[b];[a][b]amerge=inputs=2", f.rate, f.secs)
		}
	case "chirp":
		expr := "0.5*sin(2*PI*(200*t+300*t*t))"
		if f.channels == 2 {
			expr += "|" + expr
		}
		graph = fmt.Sprintf("aevalsrc=%s:s=%d:d=%g", expr, f.rate, f.secs)
	default:
		t.Fatalf("unknown signal %q", f.signal)
	}
	out := filepath.Join(dir, f.String()+"."+fixtureExt[f.format])
	if f.format == "opus" {
		requireTool(t, "opusenc")
		wav := filepath.Join(dir, f.String()+".src.wav")
		run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph, "-c:a", "pcm_f32le", wav)
		run(t, "opusenc", "--quiet", "--bitrate", "160", wav, out)
		return out
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph}
	args = append(args, fixtureCodec[f.format]...)
	run(t, "ffmpeg", append(args, out)...)
	return out
}

// decodeFile opens path with Open and returns all its samples.
func decodeFile(t testing.TB, path string) ([]float32, Decoder) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), f, OpenOptions{Name: path})
	if err != nil {
		f.Close()
		t.Fatalf("Open(%s): %v", filepath.Base(path), err)
	}
	t.Cleanup(func() { d.Close() })
	return readAll(t, d), d
}

func readAll(t testing.TB, d Decoder) []float32 {
	t.Helper()
	var all []float32
	buf := make([]float32, FrameLen)
	for {
		n, err := d.Read(buf)
		all = append(all, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatalf("Read after %d samples: %v", len(all)/2, err)
		}
	}
}

// channel extracts one channel of interleaved stereo.
func channel(s []float32, c int) []float64 {
	out := make([]float64, len(s)/2)
	for i := range out {
		out[i] = float64(s[2*i+c])
	}
	return out
}

// zeroCrossFreq estimates the frequency of a sine from its rising zero
// crossings, interpolated between samples.
func zeroCrossFreq(x []float64, rate int) float64 {
	first, last := -1.0, -1.0
	n := 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			t := float64(i-1) + x[i-1]/(x[i-1]-x[i])
			if first < 0 {
				first = t
			}
			last = t
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / (last - first) * float64(rate)
}

// rmsDB returns the RMS level in dBFS.
func rmsDB(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return 10 * math.Log10(s/float64(len(x))+1e-30)
}

// chirp is the analytic "chirp" fixture signal at time t seconds.
func chirp(t float64) float64 {
	return 0.5 * math.Sin(2*math.Pi*(200*t+300*t*t))
}

// chirpLag returns the lag (in 48 kHz samples, within ±span) that best
// aligns x, taken to start at time t0, with the analytic chirp:
// x[i] ≈ chirp(t0 + (i+lag)/48000), and the normalised correlation there.
func chirpLag(x []float64, t0 float64, span int) (int, float64) {
	const n = 2400
	if len(x) < n {
		return 0, 0
	}
	ref := make([]float64, n+2*span)
	for j := range ref {
		ref[j] = chirp(t0 + float64(j-span)/SampleRate)
	}
	best, bestC := 0, math.Inf(-1)
	for lag := -span; lag <= span; lag++ {
		r := ref[lag+span : lag+span+n]
		var c, e float64
		for i, v := range x[:n] {
			c += v * r[i]
			e += r[i] * r[i]
		}
		c /= math.Sqrt(e)
		if c > bestC {
			best, bestC = lag, c
		}
	}
	var ex float64
	for _, v := range x[:n] {
		ex += v * v
	}
	return best, bestC / math.Sqrt(ex+1e-30)
}

// f32bytes and bytesF32 view float32 buffers as bytes and back.
func f32bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

func bytesF32(b []byte) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}

// checkLeaks fails the test when goroutines started during it are still
// running shortly after it ends (cleanups run first). Not for parallel
// tests.
func checkLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines leaked:\n%s", n-base, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
