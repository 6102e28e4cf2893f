// Package metrics exposes the node's figures in the Prometheus text format
// (GET /metrics) with github.com/prometheus/client_golang.
//
// Gauges and counters are read from appliance.Node.Snapshot at scrape time
// (a custom collector), so the node keeps no Prometheus types and pays
// nothing between scrapes. Two histograms are observed as things happen:
// how far from its 20 ms slot each voice packet left, early or late (from
// the voice send loop, lock-free and allocation-free) and how long each
// store commit took.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/discodo-go/discodo/appliance"
)

// Metrics is the node's registry.
type Metrics struct {
	reg     *prometheus.Registry
	sendDev prometheus.Histogram
	commit  prometheus.Histogram
}

// New returns a registry with the Go runtime and process collectors and
// the two histograms.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sendDev: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "discodo_send_deviation_seconds",
			Help:    "How far from its slot of the 20 ms grid each voice packet left, early or late.",
			Buckets: []float64{.00025, .0005, .001, .002, .005, .01, .02},
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "discodo_store_commit_seconds",
			Help:    "Duration of store commits (fdatasync included).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.sendDev, m.commit)
	return m
}

// ObserveSend records one packet's deviation (appliance.Config.ObserveSend).
func (m *Metrics) ObserveSend(d time.Duration) { m.sendDev.Observe(d.Seconds()) }

// ObserveCommit records one store commit (appliance.Config.ObserveCommit).
func (m *Metrics) ObserveCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// Watch registers the node's figures, read at every scrape.
func (m *Metrics) Watch(snapshot func() appliance.Snapshot) {
	m.reg.MustRegister(&nodeCollector{snapshot: snapshot})
}

// Handler serves the text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descSessions   = prometheus.NewDesc("discodo_sessions", "Client managers (session tags).", nil, nil)
	descPlayers    = prometheus.NewDesc("discodo_players", "Voice clients.", nil, nil)
	descConnected  = prometheus.NewDesc("discodo_players_connected", "Voice clients with a live Discord voice connection.", nil, nil)
	descPlaying    = prometheus.NewDesc("discodo_players_playing", "Voice clients playing audio.", nil, nil)
	descFrames     = prometheus.NewDesc("discodo_frames_sent_total", "Audio frames sent.", nil, nil)
	descSilence    = prometheus.NewDesc("discodo_silence_frames_sent_total", "F8 FF FE frames sent after audio stopped.", nil, nil)
	descNulled     = prometheus.NewDesc("discodo_frames_nulled_total", "Slots where a playing player had no frame ready.", nil, nil)
	descDeficit    = prometheus.NewDesc("discodo_frames_deficit_total", "Grid slots skipped after stalls.", nil, nil)
	descReconnects = prometheus.NewDesc("discodo_voice_reconnects_total", "Voice reconnects by the close code behind them (0: local).", []string{"code"}, nil)
	descFilterErrs = prometheus.NewDesc("discodo_filter_errors_total", "Filters bypassed after a trap, overrun or rejection.", nil, nil)
)

type nodeCollector struct {
	snapshot func() appliance.Snapshot
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descPlayers, descConnected, descPlaying, descFrames, descSilence, descNulled, descDeficit, descReconnects, descFilterErrs} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descSessions, s.Sessions)
	gauge(descPlayers, s.Players)
	gauge(descConnected, s.Connected)
	gauge(descPlaying, s.Playing)
	counter(descFrames, s.Frames)
	counter(descSilence, s.Silence)
	counter(descNulled, s.Nulled)
	counter(descDeficit, s.Deficit)
	counter(descFilterErrs, s.FilterErrors)
	for code, n := range s.Reconnects {
		counter(descReconnects, n, strconv.Itoa(code))
	}
}
