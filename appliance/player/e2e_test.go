package player

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// connected runs p against a fake voice server and waits until the voice
// connection pulls frames.
func connected(t *testing.T, p *Player) *voicetest.Server {
	t.Helper()
	srv := voiceRun(t, p)
	deadline := time.Now().Add(10 * time.Second)
	for !p.active() {
		if time.Now().After(deadline) {
			t.Fatal("the voice connection never pulled a frame")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return srv
}

// perf fails the test, or only logs under the race detector, for checks
// that depend on the machine keeping up in real time.
func perf(t *testing.T, format string, args ...any) {
	t.Helper()
	if raceEnabled {
		t.Logf("(race detector) "+format, args...)
		return
	}
	t.Errorf(format, args...)
}

// received returns the PCM the server decoded, as float32.
func received(srv *voicetest.Server) []float32 { return int16ToFloat(srv.PCM()) }

func checkViolations(t *testing.T, srv *voicetest.Server) {
	t.Helper()
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("voice server violations: %v", v)
	}
}

// TestFormatsOverVoice plays each format end to end and checks frequency
// and level of every second the fake Discord server decoded.
func TestFormatsOverVoice(t *testing.T) {
	const freq, amp, secs = 440.0, 0.5, 2.0
	for _, fx := range []fixture{
		{format: "wav16", rate: 44100},
		{format: "flac", rate: 44100},
		{format: "mp3", rate: 44100},
		{format: "vorbis", rate: 44100},
		{format: "opus", rate: 48000},
		{format: "aac", rate: 48000}, // ffmpeg
	} {
		fx.signal, fx.secs = tone(freq, amp), secs
		name := fx.path(t)
		t.Run(fx.format, func(t *testing.T) {
			t.Parallel()
			h := newHost()
			p := newPlayer(t, h, nil)
			srv := connected(t, p)
			h.add(item(fx.format, name))
			h.wait(t, "stop", fx.format, 10*time.Second)
			checkViolations(t, srv)
			pcm := received(srv)
			if got := float64(len(pcm)/2) / 48000; math.Abs(got-secs) > 0.1 {
				t.Errorf("received %.3f s of audio, want %v", got, secs)
			}
			for s := range int(secs) {
				w := pcm[2*(s*48000+2400) : 2*((s+1)*48000-2400)] // skip edges
				if f := zeroCrossFreq(w); math.Abs(f-freq) > 1 {
					t.Errorf("second %d: %.2f Hz, want %v", s, f, freq)
				}
				if l := level(w, freq); math.Abs(l-amp) > 0.02 {
					perf(t, "second %d: level %.4f, want %v (underruns: %+v)", s, l, amp, p.Stats())
				}
			}
			st := p.Stats()
			if fx.format == "opus" {
				if st.Encoded != 0 || st.Passed == 0 {
					t.Errorf("Ogg Opus not passed through: %+v", st)
				}
			} else if st.Passed != 0 || st.Encoded < 99 {
				t.Errorf("stats %+v", st)
			}
			if st.Nulled != 0 {
				perf(t, "%d underruns", st.Nulled)
			}
		})
	}
}

// maxStep is the largest difference between consecutive left samples: a
// gap, a jump in time or a click shows as a step far above the signal's
// own (2π·f/48000·amp = 0.029 for 440 Hz at 0.5).
func maxStep(pcm []float32) (float64, int) {
	var m float64
	at := 0
	for i := 2; i < len(pcm); i += 2 {
		if d := math.Abs(float64(pcm[i] - pcm[i-2])); d > m {
			m, at = d, i/2
		}
	}
	return m, at
}

// TestPassthroughOverVoice: the file's packets arrive byte for byte with
// no encoder call; lowering the volume mid-stream switches to
// decode+encode with no missing slot and no click, and volume 1 goes back
// to the file's packets.
func TestPassthroughOverVoice(t *testing.T) {
	t.Parallel()
	name := fixture{format: "opus", signal: tone(440, 0.5), secs: 3}.path(t)
	file := opusPackets(t, name, 0)
	h := newHost()
	p := newPlayer(t, h, nil)
	srv := connected(t, p)
	h.add(item("a", name))
	h.wait(t, "start", "a", 5*time.Second)
	srv.Wait(5*time.Second, func() bool { return len(audioPackets(srv)) >= 50 })
	if st := p.Stats(); st.Encoded != 0 {
		t.Fatalf("encoder called during passthrough: %+v", st)
	}
	p.SetVolume(0.5)
	srv.Wait(5*time.Second, func() bool { return len(audioPackets(srv)) >= 100 })
	p.SetVolume(1)
	h.wait(t, "stop", "a", 10*time.Second)
	time.Sleep(150 * time.Millisecond) // the silence frames
	checkViolations(t, srv)

	pkts := srv.Packets()
	var audioPkts []voicetest.Packet
	for i, pk := range pkts {
		if pk.Silence && i < len(pkts)-5 {
			t.Fatalf("silence frame at packet %d of %d: the stream had a gap", i, len(pkts))
		}
		if !pk.Silence {
			audioPkts = append(audioPkts, pk)
		}
	}
	if len(audioPkts) != len(file) {
		t.Fatalf("%d audio packets, the file has %d", len(audioPkts), len(file))
	}
	same := make([]bool, len(file))
	for i, pk := range audioPkts {
		same[i] = bytes.Equal(pk.Payload, file[i])
	}
	firstDiff := slices.Index(same, false)
	lastDiff := -1
	for i, ok := range same {
		if !ok {
			lastDiff = i
		}
	}
	if firstDiff < 45 || firstDiff > 58 || lastDiff < 95 || lastDiff > 108 {
		t.Errorf("re-encoded packets %d..%d; want the switch around 50 and back around 100", firstDiff, lastDiff)
	}
	for i := lastDiff + 1; i < len(same); i++ {
		if !same[i] {
			t.Fatalf("packet %d after the switch back is not the file's", i)
		}
	}
	pcm := received(srv)
	for _, w := range []struct {
		from, to int // frames
		want     float64
	}{{5, 45, 0.5}, {firstDiff + 3, lastDiff - 3, 0.25}, {lastDiff + 5, len(file) - 5, 0.5}} {
		if l := level(pcm[w.from*frameLen:w.to*frameLen], 440); math.Abs(l-w.want) > 0.02 {
			t.Errorf("frames %d..%d: level %.3f, want %v", w.from, w.to, l, w.want)
		}
	}
	if m, at := maxStep(pcm); m > 0.04 {
		t.Errorf("a step of %.3f at sample %d (frame %d): a click or a gap", m, at, at/960)
	}
	st := p.Stats()
	if st.Encoded == 0 || st.Passed+st.Encoded < uint64(len(file)) || st.Nulled != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats %+v; re-encoded packets %d..%d", st, firstDiff, lastDiff)
}

// TestCrossfadeOverVoice measures a 1 s crossfade of 440 Hz into 880 Hz
// from what the fake Discord server decoded, per 100 ms: its timing, the
// cos/sin shape and the constant power.
func TestCrossfadeOverVoice(t *testing.T) {
	t.Parallel()
	a := fixture{format: "wav16", signal: tone(440, 0.5), secs: 2}.path(t)
	b := fixture{format: "opus", signal: tone(880, 0.5), secs: 2}.path(t)
	h := newHost()
	p := newPlayer(t, h, func(c *Config) { c.Crossfade = time.Second })
	srv := connected(t, p)
	h.add(item("a", a), item("b", b))
	h.wait(t, "stop", "b", 10*time.Second)
	checkViolations(t, srv)
	pcm := received(srv)
	if got := float64(len(pcm)/2) / 48000; math.Abs(got-3) > 0.05 {
		t.Fatalf("received %.3f s, want 3 s (2 + 2 − 1 s of crossfade)", got)
	}
	const win = 4800
	for k := 1; k < 30; k++ { // (the first window holds the encoder's 312-sample delay)
		w := pcm[2*k*win : 2*(k+1)*win]
		la, lb := level(w, 440), level(w, 880)
		mid := (float64(k)+0.5)*0.1 - 0.0065 // the encoder delays by 312 samples
		x := math.Min(math.Max(mid-1, 0), 1)
		wa, wb := 0.5*math.Cos(x*math.Pi/2), 0.5*math.Sin(x*math.Pi/2)
		if mid > 2 {
			wa, wb = 0, 0.5
		}
		if math.Abs(la-wa) > 0.03 || math.Abs(lb-wb) > 0.03 {
			t.Errorf("%.1f–%.1f s: 440 Hz %.3f (want %.3f), 880 Hz %.3f (want %.3f)", float64(k)/10, float64(k+1)/10, la, wa, lb, wb)
		}
		if pw := la*la + lb*lb; math.Abs(pw-0.25) > 0.03 {
			t.Errorf("%.1f s: power %.3f, want 0.25 (equal power)", float64(k)/10, pw)
		}
	}
	// b is Ogg Opus: after the fade its own packets follow our encoded
	// ones; no click at the hand-over (the steepest step of the two
	// sines is 0.058).
	if m, at := maxStep(pcm); m > 0.08 {
		t.Errorf("a step of %.3f at %.3f s", m, float64(at)/48000)
	}
	if st := p.Stats(); st.Passed < 40 {
		t.Errorf("b was not passed through after the fade: %+v", st)
	}
	wantKinds(t, h, "start a", "start b", "require b", "stop a ended", "stop b ended")
	ea, _ := h.find("start", "a")
	eb, _ := h.find("start", "b")
	sa, _ := h.find("stop", "a")
	if d := eb.at.Sub(ea.at); math.Abs(d.Seconds()-1) > 0.1 {
		perf(t, "b started %v after a, want 1 s", d)
	}
	if d := sa.at.Sub(eb.at); math.Abs(d.Seconds()-1) > 0.1 {
		perf(t, "a stopped %v after b started, want 1 s", d)
	}
}

// TestSeekOverVoice: a seek is heard within 100 ms and lands where asked
// (the fixture's frequency changes every second).
func TestSeekOverVoice(t *testing.T) {
	t.Parallel()
	name := fixture{format: "flac", signal: "0.5*sin(2*PI*t*(440+220*floor(t)))", secs: 3}.path(t)
	h := newHost()
	p := newPlayer(t, h, nil)
	srv := connected(t, p)
	h.add(item("a", name))
	h.wait(t, "start", "a", 5*time.Second)
	srv.Wait(5*time.Second, func() bool { return len(audioPackets(srv)) >= 20 })
	asked := time.Now()
	if err := p.Seek(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "stop", "a", 5*time.Second)
	pkts := audioPackets(srv)
	pcm := received(srv)
	heard := -1 // the first packet carrying the new position (faded in)
	for i := range pkts {
		if !pkts[i].Arrival.Before(asked) && level(pcm[2*960*i:2*960*(i+1)], 880) > 0.1 {
			heard = i
			break
		}
	}
	if heard < 0 {
		t.Fatal("880 Hz never heard after the seek")
	}
	d := pkts[heard].Arrival.Sub(asked)
	t.Logf("the seek was heard %v after Seek", d)
	if d > 100*time.Millisecond {
		perf(t, "the seek was heard after %v", d)
	}
	after := pcm[2*960*(heard+1):]
	if got := float64(len(after)/2) / 48000; math.Abs(got-0.96) > 0.05 {
		t.Errorf("%.3f s heard after the seek to 2 s of a 3 s source", got)
	}
	if f := zeroCrossFreq(after[:2*24000]); math.Abs(f-880) > 2 {
		t.Errorf("after the seek: %.1f Hz", f)
	}
	checkViolations(t, srv)
}

// TestPauseOverVoice: five silence frames follow the pause, nothing while
// paused, and the audio picks up where it was.
func TestPauseOverVoice(t *testing.T) {
	t.Parallel()
	name := fixture{format: "wav16", signal: tone(440, 0.5), secs: 1.5}.path(t)
	h := newHost()
	p := newPlayer(t, h, nil)
	srv := connected(t, p)
	h.add(item("a", name))
	h.wait(t, "start", "a", 5*time.Second)
	srv.Wait(5*time.Second, func() bool { return len(audioPackets(srv)) >= 25 })
	p.Pause()
	time.Sleep(500 * time.Millisecond)
	before := srv.Packets()
	pos, _ := p.Current()
	time.Sleep(300 * time.Millisecond)
	if n := len(srv.Packets()); n != len(before) {
		t.Fatalf("%d packets while paused", n-len(before))
	}
	if pl, _ := p.Current(); pl.Position != pos.Position {
		t.Errorf("position moved while paused: %v → %v", pos.Position, pl.Position)
	}
	tail := 0
	for i := len(before) - 1; i >= 0 && before[i].Silence; i-- {
		tail++
	}
	if tail != 5 {
		t.Errorf("%d silence frames after the pause, want 5", tail)
	}
	sp := srv.Session().Speaking()
	if len(sp) < 2 || sp[len(sp)-1].On {
		t.Errorf("speaking not cleared after the pause: %+v", sp)
	}
	p.Resume()
	h.wait(t, "stop", "a", 5*time.Second)
	if got := float64(len(received(srv))/2) / 48000; math.Abs(got-1.5) > 0.03 {
		t.Errorf("received %.3f s in all, want 1.5 s: nothing lost or repeated", got)
	}
	if st := p.Stats(); st.Nulled != 0 {
		t.Errorf("stats %+v", st)
	}
	checkViolations(t, srv)
}

// TestLatencyOverVoice: from the queue getting a local file to its first
// packet at the server (target ≤ 150 ms, issue 8).
func TestLatencyOverVoice(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"wav16", "opus"} {
		name := fixture{format: format, signal: tone(440, 0.5), secs: 0.5}.path(t)
		h := newHost()
		p := newPlayer(t, h, nil)
		srv := connected(t, p)
		time.Sleep(100 * time.Millisecond)
		added := time.Now()
		h.add(item("a", name))
		srv.Wait(5*time.Second, func() bool { return len(audioPackets(srv)) > 0 })
		d := audioPackets(srv)[0].Arrival.Sub(added)
		t.Logf("%s: first packet %v after the queue got it", format, d)
		if d > 150*time.Millisecond {
			perf(t, "%s: first packet after %v, want ≤ 150 ms", format, d)
		}
	}
}

// TestHTTPSourcesOverVoice: a dead server, a stream that stalls, and a
// malformed response each give SOURCE_TRACEBACK; an Ogg Opus stream with
// range requests is passed through; the underrun of the stall is counted.
func TestHTTPSourcesOverVoice(t *testing.T) {
	t.Parallel()
	wavName := fixture{format: "wav16", signal: tone(440, 0.5), secs: 10}.path(t)
	opusName := fixture{format: "opus", signal: tone(660, 0.5), secs: 0.5}.path(t)
	wav, err := os.ReadFile(filepath.Join(fixtureDir, wavName))
	if err != nil {
		t.Fatal(err)
	}
	full := len(wav)
	wav = wav[:len(wav)-int(9.7*96000*2)] // 0.3 s of the 10
	opus, err := os.ReadFile(filepath.Join(fixtureDir, opusName))
	if err != nil {
		t.Fatal(err)
	}
	stall := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stall.wav", func(w http.ResponseWriter, r *http.Request) {
		// The header claims 10 s; 0.3 s arrive, then nothing.
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", strconv.Itoa(full))
		w.Write(wav)
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/garbage.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		io.WriteString(w, "RIFF\x10\x00\x00\x00WAVEjunkjunkjunkjunkjunk")
	})
	mux.HandleFunc("/a.opus", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a.opus", time.Time{}, bytes.NewReader(opus))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer close(stall)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/gone.wav"
	dead.Close()

	h := newHost()
	p := newPlayer(t, h, func(c *Config) {
		c.Opener = resolver(t, func(sc *audio.SourceConfig) { sc.IdleTimeout = time.Second })
	})
	srv := connected(t, p)
	web := func(tag, url string) Item { return Item{Tag: tag, Source: audio.Metadata{URL: url}} }
	h.add(web("dead", deadURL), web("stall", hs.URL+"/stall.wav"), web("garbage", hs.URL+"/garbage.wav"), web("opus", hs.URL+"/a.opus"))
	h.wait(t, "stop", "opus", 15*time.Second)
	// garbage is prepared while stall plays and fails at once.
	wantKinds(t, h, "traceback dead", "start stall", "traceback garbage", "traceback stall", "stop stall failed",
		"start opus", "require opus", "stop opus ended")
	st := p.Stats()
	if st.Nulled < 20 || st.Nulled > 60 {
		t.Errorf("%d underruns; the stall should leave about 35 slots empty", st.Nulled)
	}
	if st.Passed != uint64(len(opusPackets(t, opusName, 0))) {
		t.Errorf("the HTTP Ogg Opus stream was not passed through: %+v", st)
	}
	for _, tag := range []string{"dead", "stall", "garbage"} {
		ev, _ := h.find("traceback", tag)
		t.Logf("%s: %v", tag, ev.err)
	}
	checkViolations(t, srv)
}
