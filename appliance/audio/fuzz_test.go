package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

// oggPage builds one Ogg page (RFC 3533) holding whole packets, for seeds
// and malformed-stream tests.
func oggPage(serial, seq uint32, granule int64, flags byte, packets ...[]byte) []byte {
	var lacing []byte
	var body []byte
	for _, p := range packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	h := make([]byte, oggHeaderLen, oggHeaderLen+len(lacing)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	h[26] = byte(len(lacing))
	page := append(append(h, lacing...), body...)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	return page
}

// synthOggOpus encodes frames of a 440 Hz stereo sine with the Encoder
// into an Ogg Opus stream, one packet per page.
func synthOggOpus(t testing.TB, frames int) []byte {
	t.Helper()
	enc, err := NewEncoder(EncoderConfig{Bitrate: 64000, Complexity: 1})
	if err != nil {
		t.Fatal(err)
	}
	head := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	var out []byte
	out = append(out, oggPage(7, 0, 0, oggBOS, head)...)
	out = append(out, oggPage(7, 1, 0, 0, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	pcm := make([]float32, FrameLen)
	pkt := make([]byte, MaxOpusFrame)
	for k := range frames {
		for i := range FrameSamples {
			v := float32(0.25 * math.Sin(2*math.Pi*440*float64(k*FrameSamples+i)/SampleRate))
			pcm[2*i], pcm[2*i+1] = v, v
		}
		n, err := enc.Encode(pcm, pkt)
		if err != nil {
			t.Fatal(err)
		}
		flags := byte(0)
		if k == frames-1 {
			flags = oggEOS
		}
		out = append(out, oggPage(7, uint32(k+2), int64((k+1)*FrameSamples), flags, pkt[:n])...)
	}
	return out
}

// synthWAV builds a 16-bit WAV of a 440 Hz sine.
func synthWAV(rate, ch, frames int) []byte {
	var b bytes.Buffer
	data := make([]byte, 2*ch*frames)
	for i := range frames {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for c := range ch {
			binary.LittleEndian.PutUint16(data[2*(i*ch+c):], uint16(v))
		}
	}
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(ch), uint32(rate), uint32(rate * ch * 2), uint16(ch * 2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestSynthOggOpus(t *testing.T) {
	data := synthOggOpus(t, 50)
	d, err := Open(context.Background(), bytes.NewReader(data), OpenOptions{FFmpeg: "-"})
	if err != nil {
		t.Fatal(err)
	}
	pcm := readAll(t, d)
	// 50 frames minus the 312-sample pre-skip, end trimmed by granule.
	if want := 50*FrameSamples - 312; len(pcm)/2 != want {
		t.Errorf("%d samples, want %d", len(pcm)/2, want)
	}
	if dur, ok := d.Duration(); !ok || dur != samplesToDuration(50*FrameSamples-312, SampleRate) {
		t.Errorf("Duration %v %v", dur, ok)
	}
}

// TestMalformedOgg: damaged streams give errors or skip the damage, never
// panic or hang.
func TestMalformedOgg(t *testing.T) {
	good := synthOggOpus(t, 20)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xFF // a CRC failure mid-stream: resync
	d, err := Open(context.Background(), bytes.NewReader(corrupt), OpenOptions{FFmpeg: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, d)) / 2; n < 18*FrameSamples-312 || n >= 20*FrameSamples-312 {
		t.Errorf("corrupted page: %d samples, want one packet fewer", n)
	}
	for name, data := range map[string][]byte{
		"truncated head":   good[:40],
		"no tags":          good[:len(oggPage(7, 0, 0, oggBOS, []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")))],
		"bad version":      append(oggPage(7, 0, 0, oggBOS, []byte("OpusHead\x10\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")), good[47:]...),
		"zero channels":    append(oggPage(7, 0, 0, oggBOS, []byte("OpusHead\x01\x00\x38\x01\x80\xbb\x00\x00\x00\x00\x00")), good[47:]...),
		"family 0, 3 chan": append(oggPage(7, 0, 0, oggBOS, []byte("OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x00")), good[47:]...),
	} {
		d, err := Open(context.Background(), bytes.NewReader(data), OpenOptions{FFmpeg: "-"})
		if err == nil {
			_, err = d.Read(make([]float32, FrameLen))
			d.Close()
		}
		if err == nil || errors.Is(err, ErrDecoderPanic) {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
}

func TestMalformedWAV(t *testing.T) {
	good := synthWAV(44100, 2, 1000)
	for name, data := range map[string][]byte{
		"truncated header": good[:20],
		"no data chunk":    good[:36],
		"huge fmt":         append([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"), good[20:]...),
		"bad block align":  func() []byte { b := bytes.Clone(good); b[32] = 3; return b }(),
		"zero channels":    func() []byte { b := bytes.Clone(good); b[22] = 0; return b }(),
		"alaw":             func() []byte { b := bytes.Clone(good); b[20] = 6; return b }(),
	} {
		_, err := Open(context.Background(), bytes.NewReader(data), OpenOptions{FFmpeg: "-"})
		if err == nil {
			t.Errorf("%s: opened", name)
		}
		if name == "alaw" && !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("alaw without ffmpeg: %v, want ErrUnsupportedFormat", err)
		}
	}
	// Truncated data: plays what is there.
	d, err := Open(context.Background(), bytes.NewReader(good[:len(good)-401]), OpenOptions{FFmpeg: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, d)); n == 0 {
		t.Error("truncated WAV gave nothing")
	}
	if _, err := Open(context.Background(), bytes.NewReader([]byte("hello world, not audio")), OpenOptions{FFmpeg: "-"}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("text: %v, want ErrUnsupportedFormat", err)
	}
	if _, err := Open(context.Background(), bytes.NewReader(nil), OpenOptions{FFmpeg: "-"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v, want ErrMalformed", err)
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("OggS\x00\x02"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Add([]byte("fLaC\x00"))
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x10"))
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x64})
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Sniff(b)
		_ = k.String()
		if len(b) >= 10 && k == KindID3 && id3Size(b) < 10 {
			t.Fatal("ID3 size below header")
		}
	})
}

func FuzzOggPageHeader(f *testing.F) {
	f.Add(oggPage(1, 0, 0, oggBOS, []byte("OpusHead")))
	f.Add(oggPage(1, 5, -1, oggContinued, make([]byte, 600)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h oggPageHeader
		n, err := parseOggPageHeader(b, &h)
		if err == nil && (n < oggHeaderLen || n > len(b) || h.bodyLen > oggMaxBody) {
			t.Fatalf("header length %d of %d, body %d", n, len(b), h.bodyLen)
		}
	})
}

// FuzzOggOpus feeds arbitrary bytes to the Ogg demuxer and Opus decoder
// (own code: a panic is a bug, never recovered away) and the passthrough
// reader, including seeks.
func FuzzOggOpus(f *testing.F) {
	good := synthOggOpus(f, 6)
	f.Add(good)
	f.Add(good[:len(good)-30])
	f.Add(append(bytes.Clone(good[:200]), good[100:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := OpenOggOpus(bytes.NewReader(b)); err == nil {
			pkt := make([]byte, MaxOpusFrame)
			for range 50 {
				if _, err := r.ReadPacket(pkt); err != nil && !errors.Is(err, ErrPacketDuration) {
					break
				}
			}
			r.Seek(40 * time.Millisecond)
			r.ReadPacket(pkt)
		}
		d, err := Open(context.Background(), bytes.NewReader(b), OpenOptions{FFmpeg: "-"})
		if err != nil {
			return
		}
		defer d.Close()
		exercise(t, d)
	})
}

func FuzzWAV(f *testing.F) {
	f.Add(synthWAV(44100, 2, 100))
	f.Add(synthWAV(8000, 1, 10))
	f.Add(synthWAV(48000, 6, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := newInput(bytes.NewReader(b))
		h, err := parseWAVHeader(in)
		if err == nil && (h.blockAlign <= 0 || h.channels <= 0) {
			t.Fatalf("accepted header %+v", h)
		}
		d, err := Open(context.Background(), bytes.NewReader(b), OpenOptions{FFmpeg: "-"})
		if err != nil {
			return
		}
		defer d.Close()
		exercise(t, d)
	})
}

// FuzzThirdParty feeds arbitrary bytes to the FLAC, MP3 and Vorbis
// decoders behind Open: a panic inside them must come out as
// ErrDecoderPanic (recovered at the converter), never crash.
func FuzzThirdParty(f *testing.F) {
	f.Add([]byte("fLaC\x00\x00\x00\x22\x10\x00\x10\x00\x00\x00\x00\x00\x00\x00\x0a\xc4\x42\xf0\x00\x00\x00\x00"))
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0})
	f.Add(oggPage(3, 0, 0, oggBOS, []byte("\x01vorbis\x00\x00\x00\x00\x02\x44\xac\x00\x00")))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openRecovered(b)
		if err != nil {
			return
		}
		defer d.Close()
		exercise(t, d)
	})
}

// openRecovered opens b, turning a panic during Open (inside a third-party
// constructor) into an error, as Open's callers see it... Open itself must
// not panic: this helper fails loudly if it does.
func openRecovered(b []byte) (d Decoder, err error) {
	return Open(context.Background(), bytes.NewReader(b), OpenOptions{FFmpeg: "-"})
}

// exercise reads, seeks and reads again; errors are fine, panics in our
// own code are not.
func exercise(t *testing.T, d Decoder) {
	buf := make([]float32, FrameLen)
	for range 20 {
		if _, err := d.Read(buf); err != nil {
			if errors.Is(err, ErrDecoderPanic) && (d.Format().Codec == "wav" || d.Format().Codec == "opus") {
				t.Fatalf("own decoder panicked: %v", err)
			}
			break
		}
	}
	d.Seek(30 * time.Millisecond)
	d.Read(buf)
	d.Duration()
	_ = io.EOF
}
