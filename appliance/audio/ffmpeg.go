package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ffmpegPath resolves the configured ffmpeg binary: "" looks up "ffmpeg"
// in PATH, "-" disables it; "" is returned when there is none.
func ffmpegPath(p string) string {
	switch p {
	case "-":
		return ""
	case "":
		p = "ffmpeg"
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return ""
	}
	return found
}

// ffmpegDecoder pipes the stream through an ffmpeg process that writes a
// WAV stream (float32, 48 kHz, the source's channel count), read by the
// WAV decoder: mono and multichannel sources are then converted exactly as
// the native formats are. A regular file is handed to ffmpeg as
// /dev/fd/3, so that ffmpeg can seek in it (MP4 files with the index at
// the end need that); anything else goes through its stdin, copied by
// exec's own goroutine that cmd.Wait waits for. The process lives until
// EOF or Close.
//
// Seeking restarts the process with -ss before -i: ffmpeg seeks in a file
// and decodes-and-discards up to the target (sample-accurate); on stdin
// the input is rewound first, which needs a seekable source.
type ffmpegDecoder struct {
	in     *input
	file   *os.File // the source when it is a regular file
	start  int64    // input offset of the stream
	path   string
	name   string
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *tailBuffer
	wav    *wavDecoder
}

func openFFmpeg(ctx context.Context, in *input, path, name string) (Decoder, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := &ffmpegDecoder{in: in, start: in.off, path: path, name: name}
	if f, ok := in.src.(*os.File); ok && in.seekable() {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			d.file = f
		}
	}
	if err := d.startProcess(0); err != nil {
		return nil, err
	}
	return newConverter(d), nil
}

func (d *ffmpegDecoder) startProcess(at int64) error {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error"}
	if at > 0 {
		args = append(args, "-ss", strconv.FormatFloat(float64(at)/SampleRate, 'f', 6, 64))
	}
	source := "pipe:0"
	if d.file != nil {
		source = "file:/dev/fd/3"
	}
	args = append(args, "-i", source, "-vn", "-f", "wav", "-c:a", "pcm_f32le", "-ar", "48000", "pipe:1")
	cmd := exec.Command(d.path, args...)
	if d.file != nil {
		cmd.ExtraFiles = []*os.File{d.file}
	} else {
		cmd.Stdin = d.in
	}
	// After a kill, Wait gives exec's stdin copier this long to notice.
	cmd.WaitDelay = time.Second
	d.stderr = &tailBuffer{max: 4096}
	cmd.Stderr = d.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("audio: ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("audio: starting ffmpeg: %w", err)
	}
	d.cmd, d.stdout = cmd, out
	wav, err := openWAV(newInput(out))
	if err != nil {
		d.stop()
		return d.failure(err)
	}
	if wav.h.rate != SampleRate {
		d.stop()
		return fmt.Errorf("%w: ffmpeg wrote %d Hz", ErrMalformed, wav.h.rate)
	}
	d.wav = wav
	return nil
}

// failure names what ffmpeg said when its output ended or broke.
func (d *ffmpegDecoder) failure(err error) error {
	msg := strings.TrimSpace(d.stderr.String())
	if msg == "" {
		return fmt.Errorf("%w: ffmpeg output for %s: %v", ErrMalformed, d.name, err)
	}
	return fmt.Errorf("%w: ffmpeg could not decode %s: %s", ErrMalformed, d.name, msg)
}

func (d *ffmpegDecoder) format() Format {
	return Format{Codec: "ffmpeg", SampleRate: SampleRate, Channels: d.wav.h.channels}
}

func (d *ffmpegDecoder) length() (int64, bool) { return 0, false }

func (d *ffmpegDecoder) read(dst []float32) (int, error) {
	n, err := d.wav.read(dst)
	if err == nil {
		return n, nil
	}
	if d.cmd == nil {
		return 0, err
	}
	werr := d.cmd.Wait()
	d.cmd = nil
	// ffmpeg exits 0 on some input errors: no audio at all plus a message
	// is a failure too.
	if werr != nil || !errors.Is(err, io.EOF) || (d.wav.pos == 0 && strings.TrimSpace(d.stderr.String()) != "") {
		return 0, d.failure(errors.Join(err, werr))
	}
	return 0, io.EOF
}

// stop kills the process and waits for it.
func (d *ffmpegDecoder) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	// The stdin copier may sit in a Read of the source: closing the source
	// unblocks it; waiting here is bounded by WaitDelay.
	d.cmd.Wait()
	d.cmd = nil
}

func (d *ffmpegDecoder) seek(n int64) error {
	if !d.in.seekable() {
		return fmt.Errorf("%w: ffmpeg-decoded stream", ErrNotSeekable)
	}
	d.stop()
	if d.file == nil {
		if err := d.in.seekTo(d.start); err != nil {
			return err
		}
	}
	return d.startProcess(n)
}

func (d *ffmpegDecoder) close() error {
	err := d.in.close()
	d.stop()
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > t.max {
		t.b.Next(t.b.Len() - t.max)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
