package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/server/servertest"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// toneWAV writes seconds of a 440 Hz sine, 48 kHz stereo 16-bit PCM.
func toneWAV(t *testing.T, path string, seconds float64) {
	t.Helper()
	frames := int(seconds * 48000)
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + frames*4))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))         // PCM
	le(uint16(2))         // channels
	le(uint32(48000))     // rate
	le(uint32(48000 * 4)) // bytes per second
	le(uint16(4))         // block align
	le(uint16(16))        // bits
	b.WriteString("data")
	le(uint32(frames * 4))
	for i := range frames {
		s := int16(0.5 * 32767 * math.Sin(2*math.Pi*440*float64(i)/48000))
		le(s)
		le(s)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestARMUnderQEMU runs the static arm64 and armv7 binaries under
// qemu-user and checks what a Raspberry Pi would do first: HELLO and
// IDENTIFY over the websocket; a local Ogg Opus file and a WAV file
// resolved by the ARM binary (for Ogg Opus the node opens a decoder of the
// statically linked libopus; the full decode is the audio subtest's job);
// and, after the bot's DISCORD_EVENTs, a join
// of the fake Discord voice server: Identify and Select Protocol reach
// it. The "audio" subtest plays the WAV into the fake server and checks
// the decoded 440 Hz tone; it waits for the player.
func TestARMUnderQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds and emulates the binaries")
	}
	media := t.TempDir()
	toneWAV(t, filepath.Join(media, "tone.wav"), 2)
	needTools(t, "opusenc")
	if out, err := exec.Command("opusenc", "--quiet", filepath.Join(media, "tone.wav"), filepath.Join(media, "tone.opus")).CombinedOutput(); err != nil {
		t.Fatalf("opusenc: %v %s", err, out)
	}
	for _, arch := range []string{"arm64", "armhf"} {
		t.Run(arch, func(t *testing.T) {
			needTools(t, qemu[arch])
			nodeBinary(t, arch)
			srv := voicetest.New(t, voicetest.Options{Logf: t.Logf})
			state, port := t.TempDir(), freePort(t)
			began := time.Now()
			p := start(t, arch, state, port, nil, "--media-dir", media, "--log-level", "debug")
			p.waitListening(60 * time.Second)
			t.Logf("%s under qemu: listening %s after exec", arch, time.Since(began).Round(time.Millisecond))

			c := servertest.Remote(t, p.url).Dial("")
			c.Expect("HELLO")
			c.Identify("4242", nil)

			// Sources decoded on the ARM binary.
			r := newREST(p.url, nil)
			defer r.close()
			sources := map[string]json.RawMessage{}
			for _, name := range []string{"tone.opus", "tone.wav"} {
				status, body, err := r.do(t.Context(), "GET", "/getSource?query="+name, "")
				if err != nil || status != 200 {
					t.Fatalf("getSource %s: %d %s %v\nlog:\n%s", name, status, body, err, p.logs)
				}
				var got struct {
					Source json.RawMessage `json:"source"`
				}
				json.Unmarshal(body, &got)
				var src struct {
					Duration float64 `json:"duration"`
					IsFile   bool    `json:"is_file"`
				}
				json.Unmarshal(got.Source, &src)
				if !src.IsFile || math.Abs(src.Duration-2) > 0.1 {
					t.Errorf("getSource %s: duration %v is_file %v, want 2 s of a file: %s", name, src.Duration, src.IsFile, body)
				}
				sources[name] = got.Source
			}

			// The bot's voice events: the node joins the fake voice server.
			c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
				"d": map[string]any{"guild_id": "77", "channel_id": "88", "user_id": "4242", "session_id": "voice-session"}})
			c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_SERVER_UPDATE",
				"d": map[string]any{"guild_id": "77", "token": "voice-token", "endpoint": srv.Endpoint()}})
			var created struct{ ID string }
			c.Expect("VC_CREATED").Decode(t, &created)
			joined := srv.Wait(30*time.Second, func() bool {
				s := srv.SessionOf("77")
				return s != nil && s.Mode() != ""
			})
			if !joined {
				t.Fatalf("%s: the fake voice server saw %d Identify and no Select Protocol within 30 s; log:\n%s", arch, srv.Identifies(), p.logs)
			}
			t.Logf("%s: joined the voice server (%s) %s after exec", arch, srv.SessionOf("77").Mode(), time.Since(began).Round(time.Millisecond))

			t.Run("audio", func(t *testing.T) {
				vc := newREST(p.url, servertest.VCHeaders("4242", "77", created.ID))
				defer vc.close()
				body := `{"source":` + string(sources["tone.wav"]) + `}`
				if status, b, err := vc.do(t.Context(), "POST", "/putSource", body); err != nil || status != 200 {
					t.Fatalf("putSource tone.wav: %d %s %v", status, b, err)
				}
				// One second of decoded audio at the fake server (96,000
				// interleaved samples), past the first 100 ms of fade-in.
				heard := srv.Wait(30*time.Second, func() bool { return len(srv.SessionOf("77").PCM()) >= 96000+9600 })
				pcm := srv.SessionOf("77").PCM()
				if !heard {
					t.Fatalf("%s: %d samples decoded at the voice server within 30 s; log:\n%s", arch, len(pcm), p.logs)
				}
				at, off := voicetest.Level(pcm[9600:], 440), voicetest.Level(pcm[9600:], 1000)
				if at < 0.2 || off > at/10 {
					t.Errorf("%s: 440 Hz level %.3f, 1 kHz level %.3f; want a clear 440 Hz tone", arch, at, off)
				}
			})
			if v := srv.Violations(); len(v) > 0 {
				t.Errorf("%s: voice protocol violations: %v", arch, v)
			}
			c.Close()
			p.stop()
		})
	}
}
