package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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

// ffmpegDecoder pipes the stream through an ffmpeg process that writes
// 48 kHz stereo float32 (f32le). The process lives until Close (or EOF);
// exec's own goroutine copies the input to its stdin and is waited for by
// cmd.Wait. Seeking restarts the process on the rewound input with -ss
// before -i, which ffmpeg makes sample-accurate by decoding and
// discarding up to the target.
type ffmpegDecoder struct {
	in     *input
	start  int64 // input offset of the stream
	path   string
	name   string
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	raw    []byte
	rawN   int // bytes held in raw (a partial sample)
	eof    bool
}

func openFFmpeg(ctx context.Context, in *input, path, name string) (Decoder, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := &ffmpegDecoder{in: in, start: in.off, path: path, name: name, raw: make([]byte, nativeChunk*8)}
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
	args = append(args, "-i", "pipe:0", "-vn", "-f", "f32le", "-ar", "48000", "-ac", "2", "pipe:1")
	cmd := exec.Command(d.path, args...)
	cmd.Stdin = d.in
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
	d.cmd, d.out, d.rawN, d.eof = cmd, out, 0, false
	return nil
}

func (d *ffmpegDecoder) format() Format {
	return Format{Codec: "ffmpeg", SampleRate: SampleRate, Channels: Channels}
}

func (d *ffmpegDecoder) length() (int64, bool) { return 0, false }

func (d *ffmpegDecoder) read(dst []float32) (int, error) {
	if d.eof {
		return 0, io.EOF
	}
	want := min(len(dst)*4, len(d.raw))
	want -= want % 8
	for d.rawN < 8 {
		n, err := d.out.Read(d.raw[d.rawN:want])
		d.rawN += n
		if err != nil {
			if d.rawN >= 8 {
				break
			}
			return 0, d.finish(err)
		}
	}
	samples := d.rawN / 8 * 2
	for i := range samples {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.raw[4*i:]))
	}
	used := samples * 4
	d.rawN = copy(d.raw, d.raw[used:d.rawN])
	return samples, nil
}

// finish waits for the process at the end of its output and turns its exit
// into io.EOF or an error naming what ffmpeg said.
func (d *ffmpegDecoder) finish(readErr error) error {
	d.eof = true
	err := d.cmd.Wait()
	d.cmd = nil
	if err != nil {
		msg := strings.TrimSpace(d.stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w: ffmpeg could not decode %s: %s", ErrMalformed, d.name, msg)
	}
	if !errors.Is(readErr, io.EOF) {
		return readErr
	}
	return io.EOF
}

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
	if err := d.in.seekTo(d.start); err != nil {
		return err
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
