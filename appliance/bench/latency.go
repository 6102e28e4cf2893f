package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/voice/voicetest"
)

// LatencyResult is what a latency run measured on the real binary.
type LatencyResult struct {
	Binary string
	// Start-up: exec to the first answer of GET /, with an empty state
	// directory and again with the state the first start left.
	ColdStart, WarmStart time.Duration
	// Memory of the idle node IdleSettle after start-up.
	ColdIdle, WarmIdle memory
	// Trials: POST /loadSource of a local file to the arrival of its first
	// audio packet at the fake voice server, per file.
	Trials map[string][]time.Duration
	// Playing: the node's memory while it plays (after the trials).
	Playing memory
}

// IdleSettle is how long after start-up the idle node's memory is read.
const IdleSettle = 3 * time.Second

// LatencyBudget is issue 8's target from loadSource to the first packet.
const LatencyBudget = 150 * time.Millisecond

// node is the binary under test, serving on loopback.
type node struct {
	cmd      *exec.Cmd
	url      string
	password string
	done     chan error
}

func startNode(ctx context.Context, binary, stateDir, mediaDir string, stderr io.Writer) (*node, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &node{url: "http://127.0.0.1:" + strconv.Itoa(port), password: "bench-password", done: make(chan error, 1)}
	n.cmd = exec.Command(binary, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--password", n.password,
		"--state-dir", stateDir, "--media-dir", mediaDir, "--log-level", "warn")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISCODO_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			n.cmd.Env = append(n.cmd.Env, kv)
		}
	}
	n.cmd.Stdout, n.cmd.Stderr = stderr, stderr
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := n.cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNode, err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(n.url + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, time.Since(t0), nil
			}
		}
		select {
		case err := <-n.done:
			n.done <- err
			return nil, 0, fmt.Errorf("%w: %s exited before serving: %v", ErrNode, binary, err)
		case <-ctx.Done():
			n.stop()
			return nil, 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(t0) > 60*time.Second {
			n.stop()
			return nil, 0, fmt.Errorf("%w: %s not serving after 60 s", ErrNode, binary)
		}
	}
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (n *node) stop() error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		return err
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		return <-n.done
	}
}

// botClient is the bot's websocket to the node.
type botClient struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	frames chan botFrame
}

type botFrame struct {
	Op string          `json:"op"`
	D  json.RawMessage `json:"d"`
}

func (b *botClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	var f botFrame
	_ = json.Unmarshal(m.Bytes(), &f)
	_ = m.Close()
	select {
	case b.frames <- f:
	default: // nobody reads events the bench does not wait for
	}
}

func dialBot(n *node) (*botClient, error) {
	b := &botClient{frames: make(chan botFrame, 1024)}
	c, _, err := gws.NewClient(b, &gws.ClientOption{
		Addr:          "ws" + strings.TrimPrefix(n.url, "http") + "/ws",
		RequestHeader: http.Header{"Authorization": []string{n.password}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: websocket: %w", ErrNode, err)
	}
	b.conn = c
	go c.ReadLoop() // ends when the connection closes (close below)
	return b, nil
}

func (b *botClient) send(op string, d any) error {
	raw, err := json.Marshal(map[string]any{"op": op, "d": d})
	if err != nil {
		return err
	}
	return b.conn.WriteMessage(gws.OpcodeText, raw)
}

func (b *botClient) expect(op string, timeout time.Duration) (botFrame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case f := <-b.frames:
			if f.Op == op {
				return f, nil
			}
		case <-t.C:
			return botFrame{}, fmt.Errorf("%w: no %s within %v", ErrNode, op, timeout)
		}
	}
}

func (b *botClient) close() { _ = b.conn.NetConn().Close() }

// MeasureLatency runs binary twice (cold and warm start) for its idle
// memory, then, on the warm node, joins a fake voice server as a bot
// would and loads each file trials times: POST /loadSource to the first
// audio packet at the fake, then POST /skip and a pause.
func MeasureLatency(ctx context.Context, binary string, trials int, log *slog.Logger, stderr io.Writer) (LatencyResult, error) {
	res := LatencyResult{Binary: binary, Trials: map[string][]time.Duration{}}
	dir, err := os.MkdirTemp("", "discodo-bench-latency-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "state")
	media, err := prepareMedia(filepath.Join(dir, "media"), audio.EncoderConfig{Bitrate: audio.DefaultBitrate})
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrMedia, err)
	}

	// Cold start: nothing in the state directory.
	n, took, err := startNode(ctx, binary, state, media.Dir, stderr)
	if err != nil {
		return res, err
	}
	res.ColdStart = took
	time.Sleep(IdleSettle)
	res.ColdIdle, err = readMemory(n.cmd.Process.Pid)
	n.stop()
	if err != nil {
		return res, err
	}
	log.Info("cold start", "serving_after", took, "rss", mb(res.ColdIdle.RSS), "hwm", mb(res.ColdIdle.HWM))

	// Warm start: the compilation cache and the store of the first.
	n, took, err = startNode(ctx, binary, state, media.Dir, stderr)
	if err != nil {
		return res, err
	}
	defer n.stop()
	res.WarmStart = took
	time.Sleep(IdleSettle)
	if res.WarmIdle, err = readMemory(n.cmd.Process.Pid); err != nil {
		return res, err
	}
	log.Info("warm start", "serving_after", took, "rss", mb(res.WarmIdle.RSS), "hwm", mb(res.WarmIdle.HWM))

	// The fake voice server notes when audio arrives.
	var armed atomic.Bool
	first := make(chan time.Time, 1)
	fake, err := voicetest.Start(voicetest.Options{
		SkipDecode: true, DiscardPCM: true, DiscardPackets: true,
		OnPayload: func(_ *voicetest.Session, p voicetest.Packet) {
			if !p.Silence && armed.CompareAndSwap(true, false) {
				first <- p.Arrival
			}
		},
	})
	if err != nil {
		return res, err
	}
	defer fake.Close()

	bot, err := dialBot(n)
	if err != nil {
		return res, err
	}
	defer bot.close()
	const user, guild, channel = "4242", "1001", "2002"
	if err := bot.send("IDENTIFY", map[string]any{"user_id": user}); err != nil {
		return res, err
	}
	if _, err := bot.expect("IDENTIFIED", 5*time.Second); err != nil {
		return res, err
	}
	_ = bot.send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE", "d": map[string]any{
		"guild_id": guild, "channel_id": channel, "user_id": user, "session_id": "bench-session"}})
	created, err := bot.expect("VC_CREATED", 5*time.Second)
	if err != nil {
		return res, err
	}
	var vc struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(created.D, &vc)
	_ = bot.send("DISCORD_EVENT", map[string]any{"t": "VOICE_SERVER_UPDATE", "d": map[string]any{
		"guild_id": guild, "token": "bench-token", "endpoint": fake.Endpoint()}})
	if !fake.Wait(10*time.Second, func() bool { s := fake.Session(); return s != nil && s.Mode() != "" }) {
		return res, fmt.Errorf("%w: the node never joined the fake voice server", ErrNode)
	}
	time.Sleep(500 * time.Millisecond) // the send loop is up
	headers := map[string]string{"Authorization": n.password, "User-ID": user, "Guild-ID": guild, "VoiceClient-ID": vc.ID}
	post := func(path, body string) (int, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url+path, strings.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, nil
	}
	for i := range trials {
		for _, file := range []string{media.WAV, media.Opus} {
			select {
			case <-first:
			default:
			}
			armed.Store(true)
			t0 := time.Now()
			status, body, err := post("/loadSource", `{"query":"`+file+`"}`)
			if err != nil || status != http.StatusOK {
				return res, fmt.Errorf("%w: loadSource %s: %d %s %v", ErrNode, file, status, bytes.TrimSpace(body), err)
			}
			select {
			case at := <-first:
				res.Trials[file] = append(res.Trials[file], at.Sub(t0))
			case <-time.After(5 * time.Second):
				return res, fmt.Errorf("%w: no audio within 5 s of loadSource %s (trial %d)", ErrNode, file, i+1)
			}
			if i == trials-1 && file == media.Opus {
				time.Sleep(time.Second)
				res.Playing, _ = readMemory(n.cmd.Process.Pid)
			}
			// The first packet can leave before the node has taken in its
			// SOURCE_START (the player reports it from another goroutine);
			// until then skip answers "nothing is playing".
			for try := 0; ; try++ {
				status, body, err := post("/skip", "")
				if err == nil && status/100 == 2 {
					break
				}
				if err != nil || status != http.StatusBadRequest || try == 50 {
					return res, fmt.Errorf("%w: skip: %d %s %v", ErrNode, status, bytes.TrimSpace(body), err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(400 * time.Millisecond) // the fade-out and the silence frames
		}
	}
	return res, nil
}

func mainLatency(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	binary := fs.String("binary", self, "the node binary")
	trials := fs.Int("trials", 10, "loadSource trials per file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := MeasureLatency(ctx, *binary, *trials, log, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "discodo bench latency %s\n\n%s\n", strings.Join(args, " "), machineLine())
	fmt.Fprintf(stdout, "| node | serving after | RSS | VmHWM |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(stdout, "| first start (empty state directory) | %v | %s | %s |\n", res.ColdStart.Round(time.Millisecond), mb(res.ColdIdle.RSS), mb(res.ColdIdle.HWM))
	fmt.Fprintf(stdout, "| restart (the first start's state) | %v | %s | %s |\n", res.WarmStart.Round(time.Millisecond), mb(res.WarmIdle.RSS), mb(res.WarmIdle.HWM))
	fmt.Fprintf(stdout, "| playing one guild (after the trials) | – | %s | %s |\n\n", mb(res.Playing.RSS), mb(res.Playing.HWM))
	fmt.Fprintf(stdout, "| file | trials | p50 | max | ≤ %v |\n|---|---:|---:|---:|---|\n", LatencyBudget)
	names := make([]string, 0, len(res.Trials))
	for k := range res.Trials {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		t := slices.Clone(res.Trials[k])
		slices.Sort(t)
		ok := "yes"
		if t[len(t)-1] > LatencyBudget {
			ok = "**no**"
		}
		fmt.Fprintf(stdout, "| %s | %d | %.1f ms | %.1f ms | %s |\n", k, len(t), msf(t[len(t)/2]), msf(t[len(t)-1]), ok)
	}
	fmt.Fprintf(stdout, "\nRSS/VmHWM from /proc/<pid>/status %v after the node served GET /. Latency: POST /loadSource sent to the first audio packet read by the fake voice server (loopback).\n", IdleSettle)
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
