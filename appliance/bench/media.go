package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/discodo-go/discodo/appliance/audio"
)

// The harness plays files it writes itself, so that it runs on a board
// without ffmpeg or opus-tools: a music-like signal (three tones and some
// noise, harder on the encoder than a pure tone) as 16-bit WAV for the
// encoded path, and as Ogg Opus for passthrough.

// signal returns seconds of 48 kHz stereo float32: 220, 1234 and 5555 Hz
// tones and noise, the channels slightly different.
func signal(seconds int) []float32 {
	n := seconds * audio.SampleRate
	pcm := make([]float32, 2*n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		t := float64(i) / audio.SampleRate
		v := 0.3*math.Sin(2*math.Pi*220*t) + 0.15*math.Sin(2*math.Pi*1234*t) + 0.1*math.Sin(2*math.Pi*5555*t)
		pcm[2*i] = float32(v + 0.05*(rng.Float64()-0.5))
		pcm[2*i+1] = float32(0.9*v + 0.05*(rng.Float64()-0.5))
	}
	return pcm
}

// writeWAV writes pcm as a 16-bit stereo 48 kHz WAV file.
func writeWAV(path string, pcm []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	data := uint32(2 * len(pcm))
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+data)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], audio.Channels)
	binary.LittleEndian.PutUint32(h[24:], audio.SampleRate)
	binary.LittleEndian.PutUint32(h[28:], audio.SampleRate*audio.Channels*2)
	binary.LittleEndian.PutUint16(h[32:], audio.Channels*2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], data)
	_, _ = w.Write(h[:])
	var s [2]byte
	for _, v := range pcm {
		binary.LittleEndian.PutUint16(s[:], uint16(int16(max(-1, min(1, v))*32767)))
		_, _ = w.Write(s[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// preSkip is libopus's encoder delay at 48 kHz (application "audio"):
// what a decoder drops at the start (RFC 7845 section 4.2).
const preSkip = 312

// writeOggOpus encodes pcm with enc into an Ogg Opus file (RFC 7845):
// OpusHead (stereo, mapping family 0, no output gain: a stream the player
// passes through), OpusTags, then 20 ms packets, 50 to a page. The end is
// padded with silence so that the last samples leave the encoder, and the
// final granule position trims the padding.
func writeOggOpus(path string, pcm []float32, enc *audio.Encoder) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	og := oggWriter{w: w, serial: 0x0D15C0D0}

	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1 // version
	head[9] = audio.Channels
	binary.LittleEndian.PutUint16(head[10:], preSkip)
	binary.LittleEndian.PutUint32(head[12:], audio.SampleRate)
	// output gain 0, mapping family 0
	og.page(oggBOS, 0, head)
	vendor := "discodo bench"
	tags := binary.LittleEndian.AppendUint32([]byte("OpusTags"), uint32(len(vendor)))
	tags = binary.LittleEndian.AppendUint32(append(tags, vendor...), 0)
	og.page(0, 0, tags)

	samples := len(pcm) / audio.Channels
	frames := (samples + preSkip + audio.FrameSamples - 1) / audio.FrameSamples
	padded := make([]float32, frames*audio.FrameLen)
	copy(padded, pcm)
	const perPage = 50
	var packets [][]byte
	buf := make([]byte, audio.MaxOpusFrame)
	for i := range frames {
		n, err := enc.Encode(padded[i*audio.FrameLen:(i+1)*audio.FrameLen], buf)
		if err != nil {
			f.Close()
			return err
		}
		packets = append(packets, append([]byte(nil), buf[:n]...))
		if len(packets) == perPage || i == frames-1 {
			granule := int64((i + 1) * audio.FrameSamples)
			flags := byte(0)
			if i == frames-1 {
				flags, granule = oggEOS, int64(preSkip+samples)
			}
			og.page(flags, granule, packets...)
			packets = packets[:0]
		}
	}
	if og.err == nil {
		og.err = w.Flush()
	}
	if err := f.Close(); og.err == nil {
		og.err = err
	}
	return og.err
}

const (
	oggBOS = 0x02
	oggEOS = 0x04
)

// oggWriter writes the pages of one logical bitstream (RFC 3533 section 6;
// the layout is drawn in package audio's ogg.go). Every packet here is
// under 255·255 bytes and a page holds whole packets only.
type oggWriter struct {
	w      *bufio.Writer
	serial uint32
	seq    uint32
	err    error
}

func (o *oggWriter) page(flags byte, granule int64, packets ...[]byte) {
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
	if len(lacing) > 255 {
		o.err = fmt.Errorf("bench: Ogg page of %d lacing values", len(lacing))
		return
	}
	h := make([]byte, 27, 27+len(lacing)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], o.serial)
	binary.LittleEndian.PutUint32(h[18:], o.seq)
	h[26] = byte(len(lacing))
	h = append(append(h, lacing...), body...)
	binary.LittleEndian.PutUint32(h[22:], oggCRC(h))
	o.seq++
	if o.err == nil {
		_, o.err = o.w.Write(h)
	}
}

// oggCRCTable: polynomial 0x04c11db7, not reflected.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// Media are the files a run plays, in a media directory.
type Media struct {
	Dir  string // the media directory
	WAV  string // file name of the 16-bit WAV
	Opus string // file name of the Ogg Opus
}

// mediaSeconds is the length of the generated files; players loop them.
const mediaSeconds = 30

// prepareMedia writes the files into dir unless they are there already
// (from an earlier run with the same encoder settings).
func prepareMedia(dir string, enc audio.EncoderConfig) (Media, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Media{}, err
	}
	m := Media{
		Dir:  dir,
		WAV:  fmt.Sprintf("signal-%ds.wav", mediaSeconds),
		Opus: fmt.Sprintf("signal-%ds-%dk.opus", mediaSeconds, enc.Bitrate/1000),
	}
	var pcm []float32
	if _, err := os.Stat(filepath.Join(dir, m.WAV)); err != nil {
		pcm = signal(mediaSeconds)
		if err := writeWAV(filepath.Join(dir, m.WAV)+".tmp", pcm); err != nil {
			return m, err
		}
		if err := os.Rename(filepath.Join(dir, m.WAV)+".tmp", filepath.Join(dir, m.WAV)); err != nil {
			return m, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, m.Opus)); err != nil {
		if pcm == nil {
			pcm = signal(mediaSeconds)
		}
		e, err := audio.NewEncoder(audio.EncoderConfig{Bitrate: enc.Bitrate, Complexity: 10})
		if err != nil {
			return m, err
		}
		defer e.Close()
		if err := writeOggOpus(filepath.Join(dir, m.Opus)+".tmp", pcm, e); err != nil {
			return m, err
		}
		if err := os.Rename(filepath.Join(dir, m.Opus)+".tmp", filepath.Join(dir, m.Opus)); err != nil {
			return m, err
		}
	}
	return m, nil
}
