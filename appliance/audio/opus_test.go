package audio

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hraban/opus"
)

func opusFixture(t *testing.T, ch int, extra ...string) string {
	t.Helper()
	requireTool(t, "ffmpeg")
	requireTool(t, "opusenc")
	dir := t.TempDir()
	fx := fixture{format: "wavf32", rate: 48000, channels: ch, signal: "tone", secs: 3}
	wav := fx.make(t, dir)
	out := filepath.Join(dir, "out.opus")
	run(t, "opusenc", append(append([]string{"--quiet"}, extra...), wav, out)...)
	return out
}

// TestOggOpusPassthrough reads the packets of an opusenc file without
// decoding them, then proves they are the audio by decoding them with
// libopus.
func TestOggOpusPassthrough(t *testing.T) {
	path := opusFixture(t, 2)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenOggOpus(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Head()
	if h.Channels != 2 || h.PreSkip == 0 || h.InputRate != 48000 || !h.Passthrough() {
		t.Fatalf("head %+v", h)
	}
	if d, ok := r.Duration(); !ok || d != 3*time.Second {
		t.Errorf("Duration %v %v, want 3s", d, ok)
	}
	dec, _ := opus.NewDecoder(SampleRate, 2)
	pkt := make([]byte, MaxOpusFrame)
	pcm := make([]float32, 5760*2)
	var all []float32
	packets := 0
	for {
		n, err := r.ReadPacket(pkt)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", packets, err)
		}
		k, err := dec.DecodeFloat32(pkt[:n], pcm)
		if err != nil || k != FrameSamples {
			t.Fatalf("packet %d decodes to %d samples: %v", packets, k, err)
		}
		all = append(all, pcm[:2*k]...)
		packets++
	}
	// 3 s + pre-skip, rounded up to whole packets.
	if want := (3*SampleRate + h.PreSkip + FrameSamples - 1) / FrameSamples; packets != want {
		t.Errorf("%d packets, want %d", packets, want)
	}
	x := channel(all[2*SampleRate/2:2*SampleRate*5/2], 0)
	y := channel(all[2*SampleRate/2:2*SampleRate*5/2], 1)
	if f := zeroCrossFreq(x, SampleRate); math.Abs(f-440) > 0.5 {
		t.Errorf("left %.2f Hz", f)
	}
	if f := zeroCrossFreq(y, SampleRate); math.Abs(f-1000) > 0.5 {
		t.Errorf("right %.2f Hz", f)
	}

	// Seek by granule: the next packet starts within 20 ms before the
	// target.
	for _, at := range []time.Duration{2 * time.Second, 1234 * time.Millisecond, 0, 2990 * time.Millisecond} {
		if err := r.Seek(at); err != nil {
			t.Fatal(err)
		}
		if p := r.Position(); p > at || at-p >= FrameDuration {
			t.Errorf("Seek(%v): next packet at %v", at, p)
		}
		if _, err := r.ReadPacket(pkt); err != nil {
			t.Errorf("after Seek(%v): %v", at, err)
		}
	}
}

// TestOggOpusNot20ms: packets of other durations are reported so the
// player decodes instead; mono streams are not passthrough.
func TestOggOpusNot20ms(t *testing.T) {
	for _, fs := range []string{"10", "40", "60"} {
		path := opusFixture(t, 2, "--framesize", fs)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenOggOpus(f)
		if err != nil {
			t.Fatal(err)
		}
		pkt := make([]byte, MaxOpusFrame)
		n, err := r.ReadPacket(pkt)
		if !errors.Is(err, ErrPacketDuration) || n == 0 {
			t.Errorf("framesize %s: ReadPacket = %d, %v; want ErrPacketDuration", fs, n, err)
		}
		r.Close()
	}
	f, err := os.Open(opusFixture(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenOggOpus(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := r.Head(); h.Channels != 1 || h.Passthrough() {
		t.Errorf("mono head %+v, passthrough %v", h, h.Passthrough())
	}
}

// TestOpusDecoderMatchesLibopusfile compares the Ogg Opus decoder
// (own demuxer + libopus) sample by sample with libopusfile (through
// hraban/opus Stream), an independent demuxer with pre-skip and end
// trimming.
func TestOpusDecoderMatchesLibopusfile(t *testing.T) {
	path := opusFixture(t, 2)
	ours, _ := decodeFile(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := opus.NewStream(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref []float32
	buf := make([]float32, 5760*2)
	for {
		n, err := s.ReadFloat32(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, buf[:2*n]...)
	}
	if len(ours) != len(ref) {
		t.Fatalf("%d samples, libopusfile %d", len(ours), len(ref))
	}
	var maxDiff float64
	for i := range ours {
		maxDiff = max(maxDiff, math.Abs(float64(ours[i]-ref[i])))
	}
	if maxDiff > 1e-6 {
		t.Errorf("max difference %g from libopusfile", maxDiff)
	}
}

func TestPacketSamples(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want int
	}{
		{[]byte{0xFC}, 960},        // CELT FB 20 ms, code 0
		{[]byte{0xF8 | 1}, 1920},   // CELT 20 ms, two frames
		{[]byte{0xF0}, 480},        // CELT 10 ms
		{[]byte{0x08}, 960},        // SILK NB 20 ms
		{[]byte{0x18}, 2880},       // SILK NB 60 ms
		{[]byte{0x70}, 480},        // Hybrid FB 10 ms
		{[]byte{0xE3, 0x04}, 480},  // CELT 2.5 ms × 4 frames (code 3)
		{[]byte{0x1B, 0x02}, 5760}, // SILK 60 ms × 2 = 120 ms
	} {
		got, err := PacketSamples(tc.p)
		if err != nil || got != tc.want {
			t.Errorf("PacketSamples(%x) = %d, %v; want %d", tc.p, got, err, tc.want)
		}
	}
	for _, p := range [][]byte{nil, {0x03}, {0x03, 0x00}, {0x1B, 0x03}} {
		if _, err := PacketSamples(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("PacketSamples(%x) = %v, want ErrMalformed", p, err)
		}
	}
}

// TestEncoder encodes a stereo tone and decodes it with libopus.
func TestEncoder(t *testing.T) {
	if _, err := NewEncoder(EncoderConfig{Bitrate: 1000}); err == nil {
		t.Error("bitrate 1000 accepted")
	}
	if _, err := NewEncoder(EncoderConfig{Complexity: 11}); err == nil {
		t.Error("complexity 11 accepted")
	}
	if (EncoderConfig{Bitrate: 1000}).Validate() == nil || (EncoderConfig{Complexity: 11}).Validate() == nil {
		t.Error("Validate accepts what NewEncoder refuses")
	}
	if err := (EncoderConfig{}).Validate(); err != nil {
		t.Errorf("Validate of the zero value: %v", err)
	}
	enc, err := NewEncoder(EncoderConfig{Bitrate: 96000, Complexity: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if c := enc.Config(); c.Bitrate != 96000 || c.Complexity != 5 {
		t.Errorf("config %+v", c)
	}
	if _, err := enc.Encode(make([]float32, 100), make([]byte, MaxOpusFrame)); !errors.Is(err, ErrFrameSize) {
		t.Errorf("short frame: %v", err)
	}
	dec, _ := opus.NewDecoder(SampleRate, 2)
	pcm := make([]float32, FrameLen)
	out := make([]byte, MaxOpusFrame)
	dpcm := make([]float32, FrameLen)
	var all []float32
	for k := range 100 {
		for i := range FrameSamples {
			n := float64(k*FrameSamples + i)
			pcm[2*i] = float32(0.25 * math.Sin(2*math.Pi*440*n/SampleRate))
			pcm[2*i+1] = float32(0.25 * math.Sin(2*math.Pi*1000*n/SampleRate))
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := PacketSamples(out[:n]); s != FrameSamples {
			t.Fatalf("packet of %d samples", s)
		}
		m, err := dec.DecodeFloat32(out[:n], dpcm)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, dpcm[:2*m]...)
	}
	want := 20 * math.Log10(0.25/math.Sqrt2)
	for c, f := range []float64{440, 1000} {
		x := channel(all[2*4800:], c)
		if got := zeroCrossFreq(x, SampleRate); math.Abs(got-f) > 0.5 {
			t.Errorf("channel %d: %.2f Hz, want %.0f", c, got, f)
		}
		if l := rmsDB(x); math.Abs(l-want) > 0.5 {
			t.Errorf("channel %d: %.2f dBFS, want %.2f", c, l, want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { enc.Encode(pcm, out) }); a != 0 {
		t.Errorf("Encode allocates %.1f times per frame", a)
	}
}

// TestEncodeMeter: a metered encoder counts its frames and the CPU time
// libopus took (complexity 10 takes well over a microsecond a frame, and
// less than the wall time the frames took), and encodes the same bytes.
func TestEncodeMeter(t *testing.T) {
	m := new(EncodeMeter)
	plain, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	metered, err := NewEncoder(EncoderConfig{Meter: m})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, FrameLen)
	a, b := make([]byte, MaxOpusFrame), make([]byte, MaxOpusFrame)
	start := time.Now()
	const frames = 50
	for k := range frames {
		for i := range pcm {
			pcm[i] = float32(0.3 * math.Sin(float64(k*FrameLen+i)/7))
		}
		na, _ := plain.Encode(pcm, a)
		nb, err := metered.Encode(pcm, b)
		if err != nil || !bytes.Equal(a[:na], b[:nb]) {
			t.Fatalf("frame %d: metered packet differs (%v)", k, err)
		}
	}
	wall := time.Since(start)
	cpu, n := m.Load()
	if n != frames || cpu < frames*time.Microsecond || cpu > wall {
		t.Errorf("meter: %d frames, %v of CPU in %v", n, cpu, wall)
	}
}
