package bench

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

func numCPU() int       { return runtime.NumCPU() }
func gomaxprocs() int   { return runtime.GOMAXPROCS(0) }
func goVersion() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }

// formatTable renders results as a Markdown table, one row per run.
func formatTable(results []Result) string {
	var b strings.Builder
	b.WriteString("| mode | streams | DAVE | CPU (cores) | CPU/stream (% core) | libopus alone (% core) | overhead | p50 | p99 | max | deficit | nulled | late | RSS idle | RSS active | per player | sink (cores) | machine busy (cores) | preempted/s | load 1m | sink: packets, drops (measured, whole run), violations (whole run) |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		mode := r.Mode
		if r.Mode == ModeEncode {
			mode = fmt.Sprintf("encode c%d", r.Complexity)
		}
		if r.Filter != "" {
			mode += " + filter"
		}
		dave := "off"
		if r.DAVE {
			dave = fmt.Sprintf("on (%d/%d decrypted)", r.Sink.DAVEDecrypted, r.Sink.DAVEChecked)
		}
		libopus, overhead := "–", "–"
		if r.EncodeFrame > 0 {
			libopus, overhead = fmt.Sprintf("%.2f", r.EncodePct), fmt.Sprintf("%+.0f %%", 100*r.Overhead)
		}
		sinkCores := "in process"
		if r.SinkCores >= 0 {
			sinkCores = fmt.Sprintf("%.2f", r.SinkCores)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %.3f | %s | %s | %s | %s | %s | %d | %d | %d | %s | %s | %s | %s | %.2f | %.0f | %.2f→%.2f | %d, %d, %d, %d |\n",
			mode, r.Streams, dave, r.Cores, r.PerStream, libopus, overhead,
			ms(r.P50), ms(r.P99), ms(r.Max), r.Deficit, r.Nulled, r.Late,
			mb(r.RSSIdle), mb(r.RSSActive), kb(r.PerPlayer), sinkCores, r.MachineBusy, r.Preempted, r.LoadStart, r.LoadEnd,
			r.Sink.Packets, r.SinkDrops, r.SinkDropsRun, r.Sink.Violations)
	}
	for _, r := range results {
		if len(r.Sink.Examples) > 0 {
			fmt.Fprintf(&b, "\n%s %d streams (DAVE %v): the fake server saw %d violations over the whole run, start-up included, when %d datagrams were dropped by full socket buffers (each drop is a gap in sequence numbers and nonces: two violations), e.g. %q\n",
				r.Mode, r.Streams, r.DAVE, r.Sink.Violations, r.SinkDropsRun, r.Sink.Examples)
		}
	}
	b.WriteString("\nCPU: the process's user+system time over the measured wall time (the fake voice server runs in its own process unless marked). " +
		"libopus alone: the CPU time the players' encoders spent inside libopus per frame during the measurement (the encoding thread's CPU clock around each call; audio.EncodeMeter). " +
		"p50/p99/max: how far from its slot of the 20 ms grid each packet left, early or late (voice send loop), to 10 µs. " +
		"deficit: grid slots skipped after stalls; nulled: slots a playing player had nothing ready; late: slots started ≥ 5 ms late. " +
		"per player: (RSS active − RSS idle) / streams. preempted/s: involuntary context switches of the node's threads.\n")
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mb(n int64) string         { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
func kb(n int64) string         { return fmt.Sprintf("%.0f KB", float64(n)/(1<<10)) }

// formatFits fits cores = fixed + perStream·N by least squares over the
// runs of each mode (at least three stream counts): the marginal cost of
// a stream, which small runs' fixed costs (runtime, idle wake-ups, the
// harness) do not blur. For encoded streams it is set against libopus
// alone (the mean over those runs): the node's marginal overhead.
func formatFits(results []Result) string {
	type key struct {
		mode       string
		dave       bool
		complexity int
	}
	groups := map[key][]Result{}
	var order []key
	for _, r := range results {
		if r.Filter != "" {
			continue
		}
		k := key{r.Mode, r.DAVE, r.Complexity}
		if r.Mode == ModePassthrough {
			k.complexity = 0
		}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var b strings.Builder
	for _, k := range order {
		rs := groups[k]
		if len(rs) < 3 {
			continue
		}
		var mx, my, enc float64
		for _, r := range rs {
			mx += float64(r.Streams)
			my += r.Cores
			enc += r.EncodePct
		}
		n := float64(len(rs))
		mx, my, enc = mx/n, my/n, enc/n
		var sxy, sxx float64
		for _, r := range rs {
			dx := float64(r.Streams) - mx
			sxy += dx * (r.Cores - my)
			sxx += dx * dx
		}
		slope := sxy / sxx
		fixed := my - slope*mx
		name := k.mode
		if k.mode == ModeEncode {
			name = fmt.Sprintf("encode c%d", k.complexity)
		}
		perPacket := time.Duration(slope * float64(20*time.Millisecond))
		fmt.Fprintf(&b, "- %s, DAVE %v: cores ≈ %.3f + %.5f·streams: %.3f %% of a core per stream (%v of CPU per 20 ms frame)",
			name, onOff(k.dave), fixed, slope, 100*slope, perPacket.Round(100*time.Nanosecond))
		if k.mode == ModeEncode {
			fmt.Fprintf(&b, "; libopus alone %.3f %%: marginal overhead %+.0f %%", enc, 100*(100*slope/enc-1))
		}
		b.WriteString(".\n")
	}
	if b.Len() == 0 {
		return ""
	}
	return "Least-squares fit of CPU against streams (marginal cost of a stream):\n\n" + b.String()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
