package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
)

// Usage is the help of the bench subcommand.
const Usage = `usage: discodo bench [run|scale|filters|latency] [flags]

  run      one configuration: N players against a fake Discord voice server
  scale    runs over lists of stream counts; writes a Markdown table,
           results.json and a PNG plot into -out
  filters  each built-in WASM filter on one 20 ms frame
  latency  the real binary: idle RSS, and loadSource of a local file to its
           first packet at a fake voice server

'discodo bench <command> -h' lists a command's flags. A run is a
measurement, not a test: run it on a quiet machine and read the load
figures it prints.
`

// RunCommand builds the command that runs one configuration in a fresh
// process ("bench run" with args); scale uses it.
var RunCommand = func(ctx context.Context, args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"bench", "run"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// runChild runs one configuration through RunCommand and decodes its
// JSON result.
func runChild(ctx context.Context, args []string, stderr io.Writer) (Result, error) {
	var res Result
	cmd, err := RunCommand(ctx, args)
	if err != nil {
		return res, err
	}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("bench run said %q: %w", out, err)
	}
	return res, nil
}

// SinkCommand builds the command that runs a fake voice server in its
// own process (the binary's "bench sink" mode). Main uses the running
// executable; tests replace it.
var SinkCommand = func(withDAVE bool) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "sink"}
	if withDAVE {
		args = append(args, "-dave")
	}
	return exec.Command(exe, args...), nil
}

// Main runs the bench subcommand with args (after "bench"), writing the
// results to stdout and progress to stderr. It returns flag.ErrHelp after
// printing the help.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch cmd {
	case "run", "scale":
		return mainRuns(ctx, cmd, args, stdout, stderr, log)
	case "filters":
		return mainFilters(ctx, args, stdout, stderr)
	case "latency":
		return mainLatency(ctx, args, stdout, stderr, log)
	case "sink":
		fs := flag.NewFlagSet("bench sink", flag.ContinueOnError)
		fs.SetOutput(stderr)
		withDAVE := fs.Bool("dave", false, "play the gateway's DAVE role")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return ServeSink(*withDAVE, os.Stdin, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, Usage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, Usage)
	return fmt.Errorf("%w: unknown bench command %q", ErrConfig, cmd)
}

func mainRuns(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: discodo bench %s [flags]\n", cmd); fs.PrintDefaults() }
	mode := fs.String("mode", ModeEncode, "run: encode or passthrough")
	n := fs.Int("n", DefaultStreams, "run: streams")
	withDAVE := fs.Bool("dave", false, "run: DAVE on (the fake server requires it and a member joins every call)")
	encodeList := fs.String("encode", "10,20,40,60,80,100", "scale: stream counts of encoded runs")
	passList := fs.String("passthrough", "100,250,500,1000,1500", "scale: stream counts of passthrough runs")
	daveList := fs.String("dave-passthrough", "100,500,1000", "scale: stream counts of passthrough runs with DAVE")
	daveEncList := fs.String("dave-encode", "40", "scale: stream counts of encoded runs with DAVE")
	out := fs.String("out", "", "scale: directory for table.md, results.json and scaling.png (default: print only)")
	duration := fs.Duration("duration", DefaultDuration, "measured time per run")
	warmup := fs.Duration("warmup", DefaultWarmup, "time between all streams sending and the measurement")
	complexity := fs.Int("complexity", audio.DefaultComplexity, "Opus complexity")
	bitrate := fs.Int("bitrate", audio.DefaultBitrate, "Opus bitrate (b/s)")
	buffer := fs.Duration("buffer", 0, "players' BUFFERLIMIT (0: the player's default, 5s)")
	filter := fs.String("filter", "", `filter chain of every encoding player, e.g. {"volume":{"volume":0.8}}`)
	media := fs.String("media", "", "directory for the generated media (default: a directory in $TMPDIR)")
	sinkMode := fs.String("sink", "process", "where the fake voice server runs: process (its own, not measured) or inproc")
	asJSON := fs.Bool("json", false, "run: print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "run: write a CPU profile of the measured time to this file")
	traceFile := fs.String("trace", "", "run: write an execution trace of the measured time to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrConfig, fs.Args())
	}
	if *sinkMode != "process" && *sinkMode != "inproc" {
		return fmt.Errorf("%w: -sink %q (want process or inproc)", ErrConfig, *sinkMode)
	}
	base := Config{
		Duration: *duration, Warmup: *warmup,
		Encoder:     audio.EncoderConfig{Bitrate: *bitrate, Complexity: *complexity},
		BufferLimit: *buffer, Filter: *filter, MediaDir: *media, Logger: log,
	}
	runOne := func(c Config) (Result, error) {
		if *sinkMode == "process" {
			sc, err := SinkCommand(c.DAVE)
			if err != nil {
				return Result{}, err
			}
			sk, err := StartSinkProcess(ctx, sc)
			if err != nil {
				return Result{}, err
			}
			defer sk.Close()
			c.Sink = sk
		}
		return Run(ctx, c)
	}
	command := "discodo bench " + strings.Join(append([]string{cmd}, args...), " ")

	if cmd == "run" {
		c := base
		c.Mode, c.Streams, c.DAVE = *mode, *n, *withDAVE
		c.CPUProfile, c.Trace = *cpuProfile, *traceFile
		res, err := runOne(c)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		fmt.Fprintf(stdout, "%s\n\n%s\n%s", command, machineLine(), formatTable([]Result{res}))
		return nil
	}

	type plan struct {
		mode     string
		withDAVE bool
		list     string
	}
	var runs []Config
	for _, p := range []plan{{ModePassthrough, false, *passList}, {ModeEncode, false, *encodeList}, {ModePassthrough, true, *daveList}, {ModeEncode, true, *daveEncList}} {
		counts, err := parseCounts(p.list)
		if err != nil {
			return err
		}
		for _, k := range counts {
			c := base
			c.Mode, c.Streams, c.DAVE = p.mode, k, p.withDAVE
			runs = append(runs, c)
		}
	}
	// Each configuration runs in a fresh process (discodo bench run
	// -json), so that one run's heap and goroutines do not count in the
	// next one's memory.
	var results []Result
	for i, c := range runs {
		log.Info("scale", "run", fmt.Sprintf("%d/%d", i+1, len(runs)), "mode", c.Mode, "streams", c.Streams, "dave", c.DAVE)
		args := []string{"-json", "-mode", c.Mode, "-n", strconv.Itoa(c.Streams), "-dave=" + strconv.FormatBool(c.DAVE),
			"-duration", c.Duration.String(), "-warmup", c.Warmup.String(),
			"-complexity", strconv.Itoa(*complexity), "-bitrate", strconv.Itoa(*bitrate),
			"-buffer", c.BufferLimit.String(), "-filter", c.Filter, "-media", c.MediaDir, "-sink", *sinkMode}
		res, err := runChild(ctx, args, stderr)
		if err != nil {
			return fmt.Errorf("%s %d streams (dave %v): %w", c.Mode, c.Streams, c.DAVE, err)
		}
		results = append(results, res)
	}
	table := fmt.Sprintf("%s\n\n%s\n%s\n%s", command, machineLine(), formatTable(results), formatFits(results))
	fmt.Fprint(stdout, table)
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "table.md"), []byte(table), 0o644); err != nil {
		return err
	}
	return writePlot(filepath.Join(*out, "scaling.png"), results)
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: stream count %q", ErrConfig, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// machineLine describes where the figures were taken.
func machineLine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("Machine: %s, %d cores (GOMAXPROCS %d), %s; %s.\n",
		model, numCPU(), gomaxprocs(), goVersion(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

var errNoRows = errors.New("bench: no results")
