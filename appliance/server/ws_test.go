package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

func start(t *testing.T) *servertest.Node {
	return servertest.Start(t, appliance.Config{}, server.Config{Version: "9.9.9"}, "")
}

func TestForbiddenFrameThenClose(t *testing.T) {
	n := start(t)
	c := n.Dial("wrong")
	f := c.Next()
	if f.Op != "FORBIDDEN" || !strings.Contains(string(f.D), "Password") {
		t.Fatalf("first frame %s %s", f.Op, f.D)
	}
	if code := c.WaitClosed(5 * time.Second); code != protocol.CloseForbidden {
		t.Fatalf("close code %d, want %d", code, protocol.CloseForbidden)
	}
}

func TestHelloAndHeartbeatEcho(t *testing.T) {
	n := start(t)
	c := n.Dial("")
	hello := c.Next()
	var h struct {
		Interval float64 `json:"heartbeat_interval"`
		Version  string  `json:"version"`
	}
	hello.Decode(t, &h)
	if hello.Op != "HELLO" || h.Interval != 15 || h.Version != "9.9.9" {
		t.Fatalf("HELLO %s", hello.D)
	}
	for _, d := range []string{`1764201600000`, `"text"`, `{"a":[1,2,{"b":null}]}`, `null`, `18446744073709551615`} {
		c.SendRaw([]byte(`{"op":"HEARTBEAT","d":` + d + `}`))
		f := c.Expect("HEARTBEAT_ACK")
		if string(f.D) != d {
			t.Errorf("echo of %s = %s", d, f.D)
		}
	}
	c.SendRaw([]byte(`{"op":"HEARTBEAT"}`)) // absent d echoes null
	if f := c.Expect("HEARTBEAT_ACK"); string(f.D) != "null" {
		t.Errorf("echo of absent d = %s", f.D)
	}
}

func TestIdentifyRules(t *testing.T) {
	n := start(t)
	c := n.Dial("")
	c.Expect("HELLO")
	c.Send("getState", map[string]any{"guild_id": "1"})
	f := c.Expect("getState")
	if !strings.Contains(string(f.D), `"NOT_IDENTIFIED":"Identify first."`) {
		t.Fatalf("before IDENTIFY: %s", f.D)
	}
	c.Send("IDENTIFY", map[string]any{"shard_id": 1})
	if f := c.Expect("IDENTIFY"); !strings.Contains(string(f.D), "BadRequest") {
		t.Fatalf("IDENTIFY without user_id: %s", f.D)
	}
	c.Send("IDENTIFY", map[string]any{"user_id": 1.5})
	if f := c.Expect("IDENTIFY"); !strings.Contains(string(f.D), "BadRequest") {
		t.Fatalf("IDENTIFY with a float id: %s", f.D)
	}
	// A snowflake above 2^53 as a bare JSON number survives exactly.
	c.SendRaw([]byte(`{"op":"IDENTIFY","d":{"user_id":852400327470727179,"shard_id":null}}`))
	if f := c.Expect("IDENTIFIED"); string(f.D) != `"ClientManager initialized."` {
		t.Fatalf("IDENTIFIED %s", f.D)
	}
	c.Send("IDENTIFY", map[string]any{"user_id": "852400327470727179"})
	if f := c.Expect("IDENTIFY"); !strings.Contains(string(f.D), `"ALREADY_IDENTIFIED":"This connection already identified."`) {
		t.Fatalf("second IDENTIFY: %s", f.D)
	}
	if _, err := n.Node.FindManager("852400327470727179", ""); err != nil {
		t.Fatalf("manager under the exact id: %v", err)
	}
}

func voiceState(guild, channel, user string) map[string]any {
	var ch any = channel
	if channel == "" {
		ch = nil
	}
	return map[string]any{"op": 0, "s": 5, "t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": guild, "channel_id": ch, "user_id": user, "session_id": "sess-" + user}}
}

func voiceServer(guild, endpoint string) map[string]any {
	return map[string]any{"op": 0, "t": "VOICE_SERVER_UPDATE",
		"d": map[string]any{"guild_id": guild, "token": "tok", "endpoint": endpoint}}
}

// join identifies c as user and creates a voice client in guild, returning
// its id.
func join(t *testing.T, c *servertest.Client, user, guild, channel string) string {
	t.Helper()
	c.Send("DISCORD_EVENT", voiceState(guild, channel, user))
	ed := c.Expect("VC_CHANNEL_EDITED")
	if !strings.Contains(string(ed.D), `"channel_id":"`+channel+`"`) || !strings.Contains(string(ed.D), `"guild_id":"`+guild+`"`) {
		t.Fatalf("VC_CHANNEL_EDITED %s", ed.D)
	}
	var created struct {
		GuildID string `json:"guild_id"`
		ID      string `json:"id"`
	}
	c.Expect("VC_CREATED").Decode(t, &created)
	if created.GuildID != guild || len(created.ID) != 36 {
		t.Fatalf("VC_CREATED %+v", created)
	}
	return created.ID
}

func TestDiscordEventsAndVoiceClientLifecycle(t *testing.T) {
	n := start(t)
	a, b := n.Dial(""), n.Dial("")
	a.Expect("HELLO")
	b.Expect("HELLO")
	a.Identify("100", nil)
	b.Identify(100, nil) // the same tag from a number: both watch it

	// Someone else's voice state is not ours.
	a.Send("DISCORD_EVENT", voiceState("7", "8", "999"))
	id := join(t, a, "100", "7", "8")
	b.Expect("VC_CREATED") // every socket of the tag gets the events

	a.Send("getState", map[string]any{"guild_id": 7})
	var st map[string]any
	a.Expect("getState").Decode(t, &st)
	if st["id"] != id || st["guild_id"] != "7" || st["channel_id"] != "8" || st["state"] != 0.0 || st["remainQueue"] != 0.0 {
		t.Fatalf("getState %v", st)
	}
	opts := st["options"].(map[string]any)
	if opts["volume"] != 1.0 || opts["crossfade"] != 10.0 || opts["autoplay"] != true {
		t.Fatalf("default options %v", opts)
	}

	a.Send("DISCORD_EVENT", voiceServer("7", "127.0.0.1:9"))
	a.Send("DISCORD_EVENT", voiceState("7", "", "100")) // the bot left
	if f := a.Expect("VC_CHANNEL_EDITED"); !strings.Contains(string(f.D), `"channel_id":null`) {
		t.Fatalf("leaving: %s", f.D)
	}
	a.Send("getQueue", map[string]any{"guild_id": "7"})
	if f := a.Expect("getQueue"); string(f.D) != `{"entries":[],"guild_id":"7"}` {
		t.Fatalf("getQueue %s", f.D)
	}
	a.Send("VC_DESTROY", map[string]any{"guild_id": "7"})
	a.Expect("VC_DESTROYED")
	b.Expect("VC_DESTROYED")
	a.Send("getState", map[string]any{"guild_id": "7"})
	if f := a.Expect("getState"); !strings.Contains(string(f.D), "VoiceClientNotFound") || !strings.Contains(string(f.D), `"guild_id":"7"`) {
		t.Fatalf("after VC_DESTROY: %s", f.D)
	}
	// A VOICE_SERVER_UPDATE for an unknown guild creates the voice client.
	a.Send("DISCORD_EVENT", voiceServer("9", "127.0.0.1:9"))
	a.Expect("VC_CREATED")
}

func TestResumedForms(t *testing.T) {
	for _, form := range []string{appliance.ResumedPairs, appliance.ResumedDiscodo3} {
		t.Run(form, func(t *testing.T) {
			n := servertest.Start(t, appliance.Config{ResumedFormat: form}, server.Config{}, "")
			c := n.Dial("")
			c.Identify("5", 2)
			id := join(t, c, "5", "70", "80")
			c.Send("DISCORD_EVENT", voiceState("71", "81", "5"))
			c.Expect("VC_CREATED")
			c.Close()

			c = n.Dial("")
			c.Identify("5", "2")
			f := c.Expect("RESUMED")
			want := `{"voice_clients":[["70","80"],["71","81"]]}`
			if form == appliance.ResumedDiscodo3 {
				var got struct {
					VC map[string]struct{ ID, Channel string } `json:"voice_clients"`
				}
				f.Decode(t, &got)
				if got.VC["70"].ID != id || got.VC["70"].Channel != "80" || got.VC["71"].Channel != "81" {
					t.Fatalf("RESUMED %s", f.D)
				}
				return
			}
			if string(f.D) != want {
				t.Fatalf("RESUMED %s, want %s", f.D, want)
			}
		})
	}
}

func TestBadFramesKeepTheSocketOpen(t *testing.T) {
	n := start(t)
	c := n.Dial("")
	c.Expect("HELLO")
	for raw, want := range map[string]string{
		`not json`:                             `"ERROR"`,
		`[1,2,3]`:                              `NotJSON`,
		`{"op":12}`:                            `BadRequest`,
		`{"op":"FLY","d":{}}`:                  `UnknownOp`,
		`{"op":"IDENTIFY","d":"x"}`:            `BadRequest`,
		`{"op":"IDENTIFY","d":{"user_id":{}}}`: `BadRequest`,
	} {
		c.SendRaw([]byte(raw))
		f := c.Next()
		if !strings.Contains(f.Op+string(f.D), strings.Trim(want, `"`)) {
			t.Errorf("%s -> %s %s, want %s", raw, f.Op, f.D, want)
		}
	}
	_ = c.Conn().WriteMessage(gws.OpcodeBinary, []byte{1, 2, 3})
	if f := c.Next(); f.Op != "ERROR" {
		t.Errorf("binary frame -> %s", f.Op)
	}
	c.Identify("1", nil)
	c.Send("getState", map[string]any{"guild_id": []int{1}})
	if f := c.Expect("getState"); !strings.Contains(string(f.D), "BadRequest") {
		t.Errorf("wrong guild_id type: %s", f.D)
	}
	c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_SERVER_UPDATE", "d": map[string]any{"guild_id": "1"}})
	if f := c.Expect("DISCORD_EVENT"); !strings.Contains(string(f.D), "token") {
		t.Errorf("VOICE_SERVER_UPDATE without token: %s", f.D)
	}
	c.Send("HEARTBEAT", 1)
	c.Expect("HEARTBEAT_ACK") // still alive
}

func TestOversizedFrameGetsErrorThen1009(t *testing.T) {
	n := servertest.Start(t, appliance.Config{}, server.Config{MaxFrameBytes: 64 << 10}, "")
	other := n.Dial("")
	other.Identify("1", nil)
	c := n.Dial("")
	c.Expect("HELLO")
	c.Identify("1", nil)
	c.SendRaw([]byte(`{"op":"HEARTBEAT","d":"` + strings.Repeat("x", 100<<10) + `"}`))
	f := c.Expect("ERROR")
	if !strings.Contains(string(f.D), "FrameTooLarge") {
		t.Fatalf("ERROR %s", f.D)
	}
	if code := c.WaitClosed(5 * time.Second); code != 1009 {
		t.Fatalf("close code %d, want 1009", code)
	}
	// The other socket of the same tag is untouched.
	other.Send("HEARTBEAT", 2)
	other.Expect("HEARTBEAT_ACK")
}

func TestFragmentedOversizedMessage(t *testing.T) {
	n := servertest.Start(t, appliance.Config{}, server.Config{MaxFrameBytes: 64 << 10}, "")
	c := n.Dial("")
	c.Expect("HELLO")
	// Three continuation frames of 30 KiB: each under the limit, the
	// message over it.
	conn := c.Conn().NetConn()
	chunk := strings.Repeat("y", 30<<10)
	for i, op := range []byte{0x01, 0x00, 0x00} {
		fin := byte(0)
		if i == 2 {
			fin = 0x80
		}
		frame := []byte{fin | op, 0x80 | 126, byte(len(chunk) >> 8), byte(len(chunk)), 0, 0, 0, 0}
		if _, err := conn.Write(append(frame, chunk...)); err != nil {
			break
		}
	}
	if f := c.Expect("ERROR"); !strings.Contains(string(f.D), "FrameTooLarge") {
		t.Fatalf("ERROR %s", f.D)
	}
	c.WaitClosed(5 * time.Second)
}

func TestSilentSocketIsClosed(t *testing.T) {
	n := servertest.Start(t, appliance.Config{}, server.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 600 * time.Millisecond}, "")
	c := n.Dial("")
	c.Expect("HELLO")
	alive := n.Dial("")
	alive.Expect("HELLO")
	start := time.Now()
	for time.Since(start) < 1200*time.Millisecond { // keeps heartbeating
		alive.Send("HEARTBEAT", nil)
		alive.Expect("HEARTBEAT_ACK")
		time.Sleep(150 * time.Millisecond)
	}
	if code := c.WaitClosed(2 * time.Second); code != protocol.CloseHeartbeatTimeout {
		t.Fatalf("close code %d, want %d", code, protocol.CloseHeartbeatTimeout)
	}
	alive.Send("HEARTBEAT", nil)
	alive.Expect("HEARTBEAT_ACK")
}

func TestReaderThatCannotKeepUpIsDropped(t *testing.T) {
	n := servertest.Start(t, appliance.Config{}, server.Config{OutboundQueue: 16, WriteTimeout: 500 * time.Millisecond}, "")
	watcher := n.Dial("")
	watcher.Identify("1", nil)

	// A raw client that asks for big echoes and never reads one.
	slow := rawDial(t, n.URL)
	payload := `"` + strings.Repeat("z", 60<<10) + `"`
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for range 400 {
			if _, err := slow.Write(maskedText(`{"op":"HEARTBEAT","d":` + payload + `}`)); err != nil {
				return
			}
		}
	}()
	<-wrote
	// The node drops it: reading what was buffered ends in EOF or a reset.
	slow.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.Copy(io.Discard, slow); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the slow socket was not dropped within 15 s")
	}
	watcher.Send("HEARTBEAT", "still here")
	if f := watcher.Expect("HEARTBEAT_ACK"); string(f.D) != `"still here"` {
		t.Fatalf("watcher: %s", f.D)
	}
}

// rawDial upgrades a plain TCP connection to /ws by hand.
func rawDial(t *testing.T, base string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n", servertest.Password)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn
}

// maskedText builds one masked client text frame by hand.
func maskedText(s string) []byte {
	n := len(s)
	var h []byte
	switch {
	case n < 126:
		h = []byte{0x81, 0x80 | byte(n)}
	case n < 1<<16:
		h = []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x81, 0x80 | 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(append(h, 0, 0, 0, 0), s...) // zero mask key: payload as is
}
