// Command discodo is discodo-go: an audio node for Discord bots that speaks
// the discodo node protocol. See README.md.
//
// main only wires the pieces: configuration, logging, the store, the node,
// the websocket/REST server and the listener; it is the only place that
// exits the process.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/bench"
	"github.com/discodo-go/discodo/appliance/config"
	"github.com/discodo-go/discodo/appliance/metrics"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/appliance/voice/dave"
	"github.com/discodo-go/discodo/firmware/systemd"
	"github.com/discodo-go/discodo/store"
	"github.com/discodo-go/discodo/wasm"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		mainBench(os.Args[2:])
		return
	}
	cfg, err := config.Load(os.Args[1:], os.Environ(), os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "discodo:", err)
		os.Exit(2)
	}
	log := newLogger(cfg)
	if cfg.GeneratedPassword {
		// Printed once, to the terminal, never to the log.
		fmt.Fprintf(os.Stderr, "discodo: generated a password (stored in %s): %s\n",
			filepath.Join(cfg.StateDir, "password"), cfg.Password)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("the node stopped", "err", err)
		os.Exit(1)
	}
}

// mainBench runs the benchmark harness (appliance/bench; see its doc).
func mainBench(args []string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Main(ctx, args, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "discodo bench:", err)
		os.Exit(1)
	}
}

func newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run serves until ctx ends, then shuts down in order: stop accepting, close
// the websockets, stop the node (voice connections), close the store.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	dbPath := filepath.Join(cfg.StateDir, "discodo.db")
	db, opened, err := store.Open(dbPath, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if opened.MovedAside != "" {
		log.Error("THE STORE WAS UNREADABLE: it was moved aside and the node starts with no sessions",
			"path", dbPath, "moved_to", opened.MovedAside, "reason", opened.Reason)
	}

	sources, err := audio.NewResolver(audio.SourceConfig{MediaDirs: cfg.MediaDirs, Extractor: cfg.Extractor})
	if err != nil {
		return err
	}
	defer sources.Close()
	if cfg.Extractor != "" && !sources.ExtractorEnabled() {
		log.Warn("the extractor is not installed: page URLs and searches are refused", "extractor", cfg.Extractor)
	}
	filters, err := wasm.New(ctx, wasm.Config{CacheDir: filepath.Join(cfg.StateDir, "wasm-cache"), Logger: log.With("part", "wasm")})
	if err != nil {
		return err
	}
	defer filters.Close(context.Background())
	daveLog := log.With("part", "dave")
	mx := metrics.New()
	node, err := appliance.New(appliance.Config{
		ObserveSend:   mx.ObserveSend,
		ObserveCommit: mx.ObserveCommit,
		Sources:       sources,
		Filters:       filters,
		Encoder:       audio.EncoderConfig{Bitrate: cfg.Bitrate, Complexity: cfg.Complexity},
		BufferLimit:   cfg.BufferLimit,
		PreloadTime:   cfg.PreloadTime,
		NewE2EE: func(userID, channelID uint64, send func(op int, payload []byte, binary bool) error) (voice.E2EE, error) {
			return dave.New(dave.Config{UserID: userID, ChannelID: channelID, Send: send, Logger: daveLog})
		},
		VCTimeout:     cfg.VCTimeout,
		ResumedFormat: cfg.ResumedFormat,
		DefaultOptions: &appliance.Options{
			Autoplay: cfg.DefaultAutoplay, Volume: cfg.DefaultVolume, Crossfade: cfg.DefaultCrossfade,
		},
		MaxSessions: cfg.MaxSessions,
		Logger:      log.With("part", "node"),
	}, db)
	if err != nil {
		return err
	}
	mx.Watch(node.Snapshot)
	srv, err := server.New(server.Config{
		Password:          cfg.Password,
		HeartbeatInterval: cfg.HeartbeatInterval,
		HeartbeatTimeout:  cfg.HeartbeatTimeout,
		MaxFrameBytes:     cfg.MaxFrameBytes,
		Version:           version,
		Logger:            log.With("part", "server"),
		Metrics:           mx.Handler(),
	}, node)
	if err != nil {
		return err
	}

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ln = server.LimitListener(ln, cfg.MaxConnections, cfg.MaxConnectionsPerAddr)
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("loading the TLS certificate: %w", err)
		}
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, httpSrv.TLSConfig)
		scheme = "https"
	}

	nodeCtx, stopNode := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- httpSrv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "scheme", scheme, "version", version,
		"state_dir", cfg.StateDir, "resumed_format", cfg.ResumedFormat)

	// systemd (Type=notify): READY once serving, the watchdog petted only
	// while the node is healthy, STOPPING at shutdown. Nothing outside systemd.
	sd := notifier(log)
	if err := sd.Ready("serving on " + ln.Addr().String()); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}
	wdCtx, stopWatchdog := context.WithCancel(context.Background())
	wdDone := make(chan error, 1)
	go func() { wdDone <- sd.Run(wdCtx, node.Healthy) }()

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-serveDone:
	}
	_ = sd.Stopping("shutting down")
	stopWatchdog()
	<-wdDone
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	srv.Close()
	stopNode()
	if err := <-nodeDone; err != nil {
		log.Error("stopping the node", "err", err)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// notifier talks to systemd when $NOTIFY_SOCKET is set, else does nothing.
func notifier(log *slog.Logger) *systemd.Notifier {
	cfg, err := systemd.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Warn("the systemd watchdog is off", "err", err)
	}
	cfg.Logger = log.With("part", "systemd")
	sd, err := systemd.New(cfg)
	if err != nil {
		log.Warn("not notifying systemd", "err", err)
	}
	return sd
}
