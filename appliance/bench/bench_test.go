package bench

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/wasm"
)

// The test binary doubles as the sink process: StartSinkProcess runs it
// with BENCH_SINK_CHILD set.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_SINK_CHILD") != "" {
		if err := ServeSink(os.Getenv("BENCH_SINK_CHILD") == "dave", os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func childSink(t *testing.T, withDAVE bool) Sink {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	mode := "plain"
	if withDAVE {
		mode = "dave"
	}
	cmd.Env = append(os.Environ(), "BENCH_SINK_CHILD="+mode)
	sk, err := StartSinkProcess(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

// TestRunSmoke runs two streams for a second in each mode, the sink in
// its own process, and checks what the figures must say: every stream
// sent, the fake server received and accepted what was sent, the CPU and
// memory figures are there, passthrough passed packets and encode encoded.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts voice connections and a sink process")
	}
	media := t.TempDir()
	for _, tc := range []struct {
		mode     string
		withDAVE bool
	}{{ModeEncode, false}, {ModePassthrough, false}, {ModePassthrough, true}} {
		t.Run(fmt.Sprintf("%s/dave=%v", tc.mode, tc.withDAVE), func(t *testing.T) {
			sk := childSink(t, tc.withDAVE)
			res, err := Run(context.Background(), Config{
				Mode: tc.mode, Streams: 2, DAVE: tc.withDAVE, Duration: time.Second, Warmup: 200 * time.Millisecond,
				MediaDir: media, Sink: sk,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			// 2 streams × 50 packets a second, give or take the edges.
			if res.Sent < 80 || res.Sent > 110 {
				t.Errorf("%d packets observed in 1 s of 2 streams", res.Sent)
			}
			if res.Sink.Sessions != 2 || res.Sink.Packets < res.Sent || res.Sink.Violations != 0 {
				t.Errorf("sink: %+v", res.Sink)
			}
			if res.Cores <= 0 || res.SinkCores < 0 || res.RSSIdle <= 0 || res.RSSActive <= 0 || (res.EncodeFrame > 0) != (tc.mode == ModeEncode) {
				t.Errorf("figures missing: %+v", res)
			}
			if res.P99 <= 0 || res.P99 < res.P50 || res.Max < res.P99-histStep {
				t.Errorf("deviation p50 %v p99 %v max %v", res.P50, res.P99, res.Max)
			}
			switch tc.mode {
			case ModePassthrough:
				if res.Passed < 80 || res.Encoded != 0 {
					t.Errorf("passthrough: %d passed, %d encoded", res.Passed, res.Encoded)
				}
			case ModeEncode:
				if res.Encoded < 80 || res.Passed != 0 {
					t.Errorf("encode: %d passed, %d encoded", res.Passed, res.Encoded)
				}
			}
			if tc.withDAVE && (res.Sink.DAVEFrames < 80 || res.Sink.DAVEChecked == 0 || res.Sink.DAVEDecrypted != res.Sink.DAVEChecked) {
				t.Errorf("DAVE: %+v", res.Sink)
			}
			if res.Failures != 0 {
				t.Errorf("%d failures", res.Failures)
			}
		})
	}
}

// TestOggOpusFile: the generated passthrough file is read by the node's
// own demuxer as a passthrough stream of 20 ms packets lasting what was
// encoded, and by opusinfo (opus-tools) when installed.
func TestOggOpusFile(t *testing.T) {
	dir := t.TempDir()
	enc, err := audio.NewEncoder(audio.EncoderConfig{Complexity: 5})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.opus")
	const secs = 3
	if err := writeOggOpus(path, signal(secs), enc); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := audio.OpenOggOpus(f)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Head().Passthrough() {
		t.Errorf("OpusHead %+v does not qualify for passthrough", r.Head())
	}
	if d, ok := r.Duration(); !ok || d != secs*time.Second {
		t.Errorf("duration %v %v, want %v", d, ok, secs*time.Second)
	}
	buf := make([]byte, audio.MaxOpusFrame)
	packets := 0
	for {
		n, err := r.ReadPacket(buf)
		if err != nil {
			break
		}
		if s, err := audio.PacketSamples(buf[:n]); err != nil || s != audio.FrameSamples {
			t.Fatalf("packet %d: %d samples, %v", packets, s, err)
		}
		packets++
	}
	if want := (secs*audio.SampleRate + preSkip + audio.FrameSamples - 1) / audio.FrameSamples; packets != want {
		t.Errorf("%d packets, want %d", packets, want)
	}
	if _, err := exec.LookPath("opusinfo"); err != nil {
		t.Log("opusinfo not installed: the independent check is skipped")
		return
	}
	out, err := exec.Command("opusinfo", path).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("WARNING")) || bytes.Contains(out, []byte("ERROR")) {
		t.Fatalf("opusinfo: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("Playback length: 0m:03.000s")) {
		t.Errorf("opusinfo:\n%s", out)
	}
}

// TestHistogram: quantiles land on the bucket holding them; observations
// before start or after stop are not counted.
func TestHistogram(t *testing.T) {
	var h histogram
	h.observe(time.Second) // before start: ignored
	h.start()
	for i := range 100 {
		h.observe(time.Duration(i) * 100 * time.Microsecond) // 0 … 9.9 ms
	}
	h.observe(-time.Millisecond) // clock oddity: counted as 0
	n, p50, p99, worst := h.stop()
	h.observe(time.Hour)
	if n != 101 || p50 != 4910*time.Microsecond || p99 != 9810*time.Microsecond || worst != 9900*time.Microsecond {
		t.Errorf("n %d p50 %v p99 %v max %v", n, p50, p99, worst)
	}
}

// TestPlot draws a plot that decodes as a PNG of the expected size.
func TestPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	var rs []Result
	for i, n := range []int{100, 500, 1000} {
		rs = append(rs, Result{Mode: ModePassthrough, Streams: n, Cores: float64(i) * 0.4, P99: time.Duration(i) * time.Millisecond})
		rs = append(rs, Result{Mode: ModeEncode, Complexity: 10, Streams: n / 10, Cores: float64(i) * 0.6, P99: 2 * time.Millisecond, DAVE: i == 2})
	}
	if err := writePlot(path, rs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 960 {
		t.Errorf("size %v", b)
	}
}

func TestParseCounts(t *testing.T) {
	got, err := parseCounts(" 10, 20,,40")
	if err != nil || fmt.Sprint(got) != "[10 20 40]" {
		t.Errorf("%v %v", got, err)
	}
	if _, err := parseCounts("10,x"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("bad count accepted: %v", err)
	}
}

// TestFits: the least-squares line through exact points is found, and
// the encoded overhead is set against libopus alone.
func TestFits(t *testing.T) {
	var rs []Result
	for _, n := range []int{10, 20, 40} {
		rs = append(rs, Result{Mode: ModeEncode, Complexity: 10, Streams: n, Cores: 0.1 + 0.012*float64(n), EncodePct: 1.0})
	}
	rs = append(rs, Result{Mode: ModePassthrough, Streams: 100, Cores: 0.5}) // one point: no fit
	got := formatFits(rs)
	for _, want := range []string{"encode c10, DAVE off: cores ≈ 0.100 + 0.01200·streams", "1.200 % of a core per stream (240µs", "marginal overhead +20 %"} {
		if !strings.Contains(got, want) {
			t.Errorf("fits %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "passthrough") {
		t.Errorf("a fit from one point: %q", got)
	}
}

// TestMeasureFiltersSmoke: every built-in and the chain of all ten are
// measured, in rounds, with figures that make sense.
func TestMeasureFiltersSmoke(t *testing.T) {
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Config{CallBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	res, err := MeasureFilters(ctx, h, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 11 || res[10].Name != "all ten, chained" {
		t.Fatalf("results: %+v", res)
	}
	for _, r := range res {
		if r.Frames != 50 || r.Best <= 0 || r.Best > r.Worst || r.Mean > r.Worst || r.P99 > r.Worst {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
}
