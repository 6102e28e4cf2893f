package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/wasm"
)

// filterParams returns typical settings that exercise the whole of each
// built-in (every equalizer band on); the same as wasm's BenchmarkBuiltin.
// A switch rather than a map, so that the node binary allocates nothing
// for it at start.
func filterParams(name string) string {
	switch name {
	case "volume":
		return `{"volume": 0.8}`
	case "equalizer":
		return `{"gains": [0.2, 0.15, 0.1, 0.05, 0.02, -0.05, -0.1, -0.1, -0.05, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25]}`
	case "karaoke":
		return `{"level": 1, "monoLevel": 1, "filterBand": 220, "filterWidth": 100}`
	case "timescale":
		return `{"speed": 1.25, "pitch": 1.1}`
	case "tremolo":
		return `{"frequency": 4, "depth": 0.5}`
	case "vibrato":
		return `{"frequency": 4, "depth": 0.5}`
	case "rotation":
		return `{"rotationHz": 0.2}`
	case "distortion":
		return `{"sinOffset": 0, "sinScale": 1.2, "cosOffset": 0.1, "cosScale": 1, "tanOffset": 0, "tanScale": 1, "offset": 0, "scale": 1}`
	case "channelMix":
		return `{"leftToLeft": 0.5, "leftToRight": 0.5, "rightToLeft": 0.5, "rightToRight": 0.5}`
	case "lowPass":
		return `{"smoothing": 20}`
	}
	return "{}"
}

// FilterResult is one built-in's cost per 20 ms stereo frame, through the
// node's path (wasm.Chain.Process: copies in and out included).
type FilterResult struct {
	Name string
	// Best is the mean of the quietest round (see MeasureFilters): the
	// filter's own cost. Mean, P99 and Worst are over all rounds.
	Best, Mean, P99, Worst time.Duration
	Frames                 int
}

// FilterBudget is issue 8's target per built-in filter and frame.
const FilterBudget = 50 * time.Microsecond

// filterRounds: the frames of each filter are measured in this many
// rounds, every filter in each round, so that a slow phase of the machine
// (on a shared VM whole seconds run at half speed, when another tenant
// shares the core) spoils some rounds of every filter rather than all of
// one filter's frames.
const filterRounds = 5

// MeasureFilters runs each built-in (and all ten chained) over frames
// frames of the bench signal, in filterRounds rounds, each call timed on
// one locked thread.
func MeasureFilters(ctx context.Context, h *wasm.Host, frames int) ([]FilterResult, error) {
	pcm := signal(2)
	nframes := len(pcm) / audio.FrameLen
	var names []string
	for _, in := range h.List() {
		if in.Builtin {
			names = append(names, in.Name)
		}
	}
	var all []string
	for _, n := range names {
		all = append(all, fmt.Sprintf("%q: %s", n, filterParams(n)))
	}
	specs := make([][2]string, 0, len(names)+1)
	for i, n := range names {
		specs = append(specs, [2]string{n, "{" + all[i] + "}"})
	}
	specs = append(specs, [2]string{"all ten, chained", "{" + strings.Join(all, ", ") + "}"})

	var failed error
	chains := make([]*wasm.Chain, len(specs))
	defer func() {
		for _, c := range chains {
			if c != nil {
				_ = c.Close(ctx)
			}
		}
	}()
	for i, c := range specs {
		spec, err := wasm.ParseChain([]byte(c[1]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c[0], err)
		}
		name := c[0]
		if chains[i], err = h.NewChain(ctx, spec, func(f string, err error) { failed = fmt.Errorf("%s: %s: %w", name, f, err) }); err != nil {
			return nil, fmt.Errorf("%s: %w", c[0], err)
		}
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	in := make([]float32, audio.FrameLen)
	perRound := max(1, frames/filterRounds)
	times := make([][]time.Duration, len(specs))
	best := make([]time.Duration, len(specs))
	for round := range filterRounds {
		for i, chain := range chains {
			warm := 0
			if round == 0 {
				warm = 50
			}
			var sum time.Duration
			for f := range perRound + warm {
				k := (round*perRound + f) % nframes
				copy(in, pcm[k*audio.FrameLen:])
				t := time.Now()
				chain.Process(in)
				if d := time.Since(t); f >= warm {
					times[i] = append(times[i], d)
					sum += d
				}
			}
			if m := sum / time.Duration(perRound); round == 0 || m < best[i] {
				best[i] = m
			}
			if failed != nil {
				return nil, failed
			}
		}
	}
	out := make([]FilterResult, len(specs))
	for i, ts := range times {
		slices.Sort(ts)
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		out[i] = FilterResult{
			Name: specs[i][0], Best: best[i], Mean: sum / time.Duration(len(ts)),
			P99: ts[len(ts)*99/100], Worst: ts[len(ts)-1], Frames: len(ts),
		}
	}
	return out, nil
}

func mainFilters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench filters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	frames := fs.Int("frames", 2000, "frames per filter")
	interp := fs.Bool("interpreter", false, "wazero's interpreter (what 32-bit ARM gets)")
	cache := fs.String("cache", filepath.Join(os.TempDir(), "discodo-bench-wasm-cache"), "compilation cache")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := time.Now()
	h, err := wasm.New(ctx, wasm.Config{CacheDir: *cache, Interpreter: *interp, CallBudget: time.Second})
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	loaded := time.Since(t0)
	res, err := MeasureFilters(ctx, h, *frames)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "discodo bench filters %s\n\n%s\nWASM host start (built-ins compiled or loaded from the cache): %v\n\n",
		strings.Join(args, " "), machineLine(), loaded.Round(time.Millisecond))
	fmt.Fprintf(stdout, "| filter | mean, quietest round | mean | p99 | max | ≤ %v per frame |\n|---|---:|---:|---:|---:|---|\n", FilterBudget)
	for _, r := range res {
		ok := "yes"
		if r.Best > FilterBudget {
			ok = "**no**"
		}
		if r.Name == "all ten, chained" {
			ok = "–"
		}
		fmt.Fprintf(stdout, "| %s | %.1f µs | %.1f µs | %.1f µs | %.1f µs | %s |\n", r.Name, us(r.Best), us(r.Mean), us(r.P99), us(r.Worst), ok)
	}
	fmt.Fprintf(stdout, "\nOne 20 ms stereo frame (1920 float32) through wasm.Chain.Process, %d frames each in %d rounds (every filter in each round), timed one by one on one thread. "+
		"The verdict reads the mean of each filter's quietest round, its own cost: on this shared VM whole seconds run at half speed when another tenant shares the core; mean, p99 and max are over all rounds.\n", *frames, filterRounds)
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
