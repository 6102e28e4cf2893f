// Package servertest runs a real node — store file, appliance.Node and
// server.Server behind an httptest server on loopback — and dials it with a
// real websocket client (gws) and net/http, for the tests of every package
// that needs a node end to end.
//
// Everything it starts is stopped by t.Cleanup, in order.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/store"
	"github.com/discodo-go/discodo/wasm"
)

// Password is the password of every test node.
const Password = "test-password"

// Node is a running test node.
type Node struct {
	t      testing.TB
	URL    string // http://127.0.0.1:port
	Node   *appliance.Node
	Server *server.Server
	DB     *store.DB
	DBPath string

	stopNode context.CancelFunc
	nodeDone chan struct{}
	http     *httptest.Server
	filters  *wasm.Host // closed by Stop when Start made it
}

// Start starts a node. Zero configs are filled with test-friendly values;
// dbPath "" means a new file in t.TempDir().
func Start(t testing.TB, ncfg appliance.Config, scfg server.Config, dbPath string) *Node {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "state.db")
	}
	db, _, err := store.Open(dbPath, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var filters *wasm.Host
	if ncfg.Filters == nil {
		// A real WASM host; the compilation cache is shared by every test
		// run on this machine, so only the first compiles (≈1 s).
		filters, err = wasm.New(context.Background(), wasm.Config{CacheDir: filepath.Join(os.TempDir(), "discodo-test-wasm-cache")})
		if err != nil {
			t.Fatal(err)
		}
		ncfg.Filters = filters
	}
	node, err := appliance.New(ncfg, db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if scfg.Password == "" {
		scfg.Password = Password
	}
	srv, err := server.New(scfg, node)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{t: t, Node: node, Server: srv, DB: db, DBPath: dbPath, stopNode: cancel, nodeDone: make(chan struct{}), filters: filters}
	go func() {
		defer close(n.nodeDone)
		_ = node.Run(ctx)
	}()
	n.http = httptest.NewServer(srv)
	n.URL = n.http.URL
	t.Cleanup(n.Stop)
	return n
}

// Remote returns a Node for a node running elsewhere (a built binary): only
// Dial, TryDial and Do work on it.
func Remote(t testing.TB, url string) *Node {
	return &Node{t: t, URL: url}
}

// Stop shuts the node down as main does; it is idempotent.
func (n *Node) Stop() {
	if n.http == nil {
		return
	}
	n.http.Close()
	n.Server.Close()
	n.stopNode()
	<-n.nodeDone
	n.DB.Close()
	if n.filters != nil {
		n.filters.Close(context.Background())
	}
	n.http = nil
}

// Frame is a received frame.
type Frame struct {
	Op string          `json:"op"`
	D  json.RawMessage `json:"d"`
}

// Client is a websocket client of the node.
type Client struct {
	t      testing.TB
	conn   *gws.Conn
	frames chan Frame
	closed chan struct{}

	mu        sync.Mutex
	closeErr  error
	closeCode uint16
}

type clientHandler struct {
	gws.BuiltinEventHandler
	c *Client
}

func (h clientHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := bytes.Clone(m.Bytes())
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		f = Frame{Op: "<not json>", D: json.RawMessage(`"` + strings.ReplaceAll(string(b), `"`, `'`) + `"`)}
	}
	h.c.frames <- f
}

func (h clientHandler) OnClose(_ *gws.Conn, err error) {
	h.c.mu.Lock()
	h.c.closeErr = err
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		h.c.closeCode = ce.Code
	}
	h.c.mu.Unlock()
	close(h.c.closed)
}

// Dial opens /ws with the given Authorization (Password when "").
func (n *Node) Dial(password string) *Client {
	n.t.Helper()
	c, err := n.TryDial(password)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// TryDial is Dial that returns the error.
func (n *Node) TryDial(password string) (*Client, error) {
	if password == "" {
		password = Password
	}
	c := &Client{t: n.t, frames: make(chan Frame, 4096), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(clientHandler{c: c}, &gws.ClientOption{
		Addr:               "ws" + strings.TrimPrefix(n.URL, "http") + "/ws",
		RequestHeader:      http.Header{"Authorization": []string{password}},
		ReadMaxPayloadSize: 16 << 20,
	})
	if err != nil {
		return nil, err
	}
	c.conn = conn
	go conn.ReadLoop()
	n.t.Cleanup(c.Close)
	return c, nil
}

// Conn returns the underlying gws connection (to send odd frames).
func (c *Client) Conn() *gws.Conn { return c.conn }

// Send sends {"op": op, "d": d}.
func (c *Client) Send(op string, d any) {
	c.t.Helper()
	b, err := json.Marshal(map[string]any{"op": op, "d": d})
	if err != nil {
		c.t.Fatal(err)
	}
	c.SendRaw(b)
}

// SendRaw sends a text frame as given.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(gws.OpcodeText, b); err != nil {
		c.t.Fatalf("sending %.80s: %v", b, err)
	}
}

// Next returns the next frame, failing after a timeout.
func (c *Client) Next() Frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame within 5 s")
	}
	return Frame{}
}

// Expect returns the next frame with op, skipping others (up to 200).
func (c *Client) Expect(op string) Frame {
	c.t.Helper()
	var seen []string
	for range 200 {
		f := c.Next()
		if f.Op == op {
			return f
		}
		seen = append(seen, f.Op)
	}
	c.t.Fatalf("no %s; saw %v", op, seen)
	return Frame{}
}

// Quiet checks that no frame arrives for d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %s %s", f.Op, f.D)
	case <-time.After(d):
	}
}

// WaitClosed waits for the server to close the socket and returns the close
// code (0 when the connection dropped without one).
func (c *Client) WaitClosed(timeout time.Duration) uint16 {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(timeout):
		c.t.Fatalf("socket not closed within %s", timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// Close closes the socket and waits for its read loop.
func (c *Client) Close() {
	_ = c.conn.NetConn().Close()
	<-c.closed
}

// Identify sends IDENTIFY and returns the IDENTIFIED frame (skipping HELLO).
func (c *Client) Identify(userID any, shardID any) Frame {
	c.t.Helper()
	d := map[string]any{"user_id": userID}
	if shardID != nil {
		d["shard_id"] = shardID
	}
	c.Send("IDENTIFY", d)
	return c.Expect("IDENTIFIED")
}

// Decode unmarshals a frame's d.
func (f Frame) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(f.D, v); err != nil {
		t.Fatalf("decoding %s d %s: %v", f.Op, f.D, err)
	}
}

// Request is one REST call.
type Request struct {
	Method, Path string
	Body         any // encoded as JSON unless []byte or string
	Header       map[string]string
	NoAuth       bool
}

// Do performs a REST call and returns the status and body.
func (n *Node) Do(r Request) (int, []byte) {
	n.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		body = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(r.Method, n.URL+r.Path, body)
	if err != nil {
		n.t.Fatal(err)
	}
	if !r.NoAuth {
		req.Header.Set("Authorization", Password)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// VCHeaders returns the per-voice-client headers.
func VCHeaders(user, guild, vcID string) map[string]string {
	return map[string]string{"User-ID": user, "Guild-ID": guild, "VoiceClient-ID": vcID}
}
