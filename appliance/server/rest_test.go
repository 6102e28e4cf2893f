package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
)

var vcRoutes = []struct{ method, path string }{
	{"GET", "/context"}, {"POST", "/context"}, {"POST", "/putSource"}, {"POST", "/loadSource"},
	{"GET", "/options"}, {"POST", "/options"}, {"GET", "/seek"}, {"POST", "/seek"}, {"POST", "/skip"},
	{"POST", "/pause"}, {"POST", "/resume"}, {"POST", "/shuffle"}, {"GET", "/current"}, {"POST", "/current"},
	{"GET", "/queue"}, {"GET", "/queue/0"}, {"POST", "/queue/0"}, {"DELETE", "/queue/0"},
}

// setup returns a node with user 10's voice client in guild 20 and a
// watching socket.
func setup(t *testing.T) (*servertest.Node, *servertest.Client, map[string]string) {
	n := start(t)
	c := n.Dial("")
	c.Identify("10", nil)
	id := join(t, c, "10", "20", "30")
	return n, c, servertest.VCHeaders("10", "20", id)
}

func TestEveryVoiceClientRouteChecksHeaders(t *testing.T) {
	n, _, h := setup(t)
	cases := []struct {
		name   string
		header map[string]string
		noAuth bool
		status int
	}{
		{"no Authorization", h, true, 403},
		{"no User-ID", map[string]string{"Guild-ID": "20", "VoiceClient-ID": h["VoiceClient-ID"]}, false, 400},
		{"bad User-ID", map[string]string{"User-ID": "ten", "Guild-ID": "20"}, false, 400},
		{"unknown user", servertest.VCHeaders("11", "20", h["VoiceClient-ID"]), false, 404},
		{"no Guild-ID", map[string]string{"User-ID": "10", "VoiceClient-ID": h["VoiceClient-ID"]}, false, 400},
		{"unknown guild", servertest.VCHeaders("10", "21", h["VoiceClient-ID"]), false, 404},
		{"wrong VoiceClient-ID", servertest.VCHeaders("10", "20", "nope"), false, 403},
		{"missing VoiceClient-ID", map[string]string{"User-ID": "10", "Guild-ID": "20"}, false, 403},
		{"unknown shard", map[string]string{"User-ID": "10", "Shard-ID": "3", "Guild-ID": "20", "VoiceClient-ID": h["VoiceClient-ID"]}, false, 404},
	}
	for _, r := range vcRoutes {
		for _, c := range cases {
			status, body := n.Do(servertest.Request{Method: r.method, Path: r.path, Header: c.header, NoAuth: c.noAuth, Body: "{}"})
			var e protocol.RESTError
			if status != c.status || json.Unmarshal(body, &e) != nil || e.Status != c.status || e.Message == "" {
				t.Errorf("%s %s, %s: %d %s; want %d with a JSON reason", r.method, r.path, c.name, status, body, c.status)
			}
		}
	}
}

func TestRouteErrors(t *testing.T) {
	n, _, h := setup(t)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		reason       string
	}{
		{"POST", "/context", nil, 400, "body is required"},
		{"POST", "/context", "[1]", 400, "JSON object"},
		{"POST", "/context", "{}", 400, `needs "context"`},
		{"POST", "/context", `{"context":5}`, 400, "context must be a JSON object"},
		{"POST", "/putSource", `{}`, 400, `needs "source"`},
		{"POST", "/putSource", `{"source":{"title":"x"}}`, 400, "needs url or id"},
		{"POST", "/putSource", `{"source":[]}`, 400, "empty list"},
		{"POST", "/putSource", `{"source":[{"url":"a"},{"url":3}]}`, 400, "source[1]"},
		{"POST", "/putSource", `{"source":{"url":"a","duration":"long"}}`, 400, "duration"},
		{"POST", "/loadSource", `{}`, 400, "query"},
		{"POST", "/loadSource", `{"query":"x"}`, 501, "no source resolver"},
		{"POST", "/loadSource", `{"query":5}`, 400, "query"},
		{"POST", "/options", `{"volume":-1}`, 400, "volume must be between"},
		{"POST", "/options", `{"volume":"loud"}`, 400, "volume must be a number"},
		{"POST", "/options", `{"crossfade":1e9}`, 400, "crossfade"},
		{"POST", "/options", `{"autoplay":1}`, 400, "autoplay"},
		{"POST", "/options", `{"filter":"bass"}`, 400, "filter must be"},
		{"POST", "/options", `{"volum":1}`, 400, `unknown option "volum"`},
		{"GET", "/seek", nil, 400, "nothing is playing"},
		{"POST", "/seek", `{}`, 400, `needs "offset"`},
		{"POST", "/seek", `{"offset":-2}`, 400, "≥ 0"},
		{"POST", "/seek", `{"offset":"x"}`, 400, "offset"},
		{"POST", "/seek", `{"offset":30}`, 400, "nothing is playing"},
		{"POST", "/skip", `{"offset":0}`, 400, "≥ 1"},
		{"POST", "/skip", nil, 400, "nothing is playing"},
		{"POST", "/current", `{"context":{}}`, 400, "nothing is playing"},
		{"GET", "/queue/0", nil, 404, "no entry at index 0"},
		{"GET", "/queue/-1", nil, 404, "index -1"},
		{"GET", "/queue/sometag", nil, 404, `no entry with tag "sometag"`},
		{"POST", "/queue/0", `{"index":1}`, 404, "no entry"},
		{"DELETE", "/queue/x", nil, 404, "no entry"},
		{"PATCH", "/queue", nil, 405, "not allowed"},
		{"GET", "/nowhere", nil, 404, "no route"},
	} {
		status, body := n.Do(servertest.Request{Method: c.method, Path: c.path, Header: h, Body: c.body})
		var e protocol.RESTError
		json.Unmarshal(body, &e)
		if status != c.status || e.Status != c.status || !strings.Contains(e.Message, c.reason) {
			t.Errorf("%s %s %v: %d %s; want %d containing %q", c.method, c.path, c.body, status, body, c.status, c.reason)
		}
	}
	// Never a 500 for a client mistake, whatever the body.
	for range 200 {
		r := vcRoutes[rand.IntN(len(vcRoutes))]
		junk := randomJSON(3)
		status, body := n.Do(servertest.Request{Method: r.method, Path: r.path, Header: h, Body: junk})
		if status >= 500 {
			t.Errorf("%s %s %s: %d %s", r.method, r.path, junk, status, body)
		}
	}
}

func randomJSON(depth int) string {
	switch k := rand.IntN(8); {
	case depth == 0 || k == 0:
		return []string{`1`, `-3.5`, `"s"`, `null`, `true`, `1e400`, `""`}[rand.IntN(7)]
	case k < 4:
		var parts []string
		for range rand.IntN(4) {
			key := []string{"source", "context", "volume", "offset", "index", "filter", "query", "url", "start_position"}[rand.IntN(9)]
			parts = append(parts, fmt.Sprintf("%q:%s", key, randomJSON(depth-1)))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case k < 6:
		return "[" + randomJSON(depth-1) + "," + randomJSON(depth-1) + "]"
	}
	return `{"source":{"url":"u","context":` + randomJSON(depth-1) + `}}`
}

func TestQueueRoutesAndEvents(t *testing.T) {
	n, c, h := setup(t)
	do := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		status, b := n.Do(servertest.Request{Method: method, Path: path, Header: h, Body: body})
		var m map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &m); err != nil && status != 200 {
				t.Fatalf("%s %s: %d %s", method, path, status, b)
			}
		}
		return status, m
	}
	// The client's copy of the queue, kept only from QUEUE_EVENTs.
	var mirror []map[string]any
	drain := func(k int) {
		t.Helper()
		for range k {
			f := c.Expect("QUEUE_EVENT")
			var ev struct {
				Name string            `json:"name"`
				Args []json.RawMessage `json:"args"`
			}
			f.Decode(t, &ev)
			var idx int
			var item map[string]any
			switch ev.Name {
			case "append":
				json.Unmarshal(ev.Args[0], &item)
				mirror = append(mirror, item)
			case "insert":
				json.Unmarshal(ev.Args[0], &idx)
				json.Unmarshal(ev.Args[1], &item)
				mirror = slices.Insert(mirror, idx, item)
			case "setItem":
				json.Unmarshal(ev.Args[0], &idx)
				json.Unmarshal(ev.Args[1], &item)
				mirror[idx] = item
			case "delItem", "pop":
				json.Unmarshal(ev.Args[0], &idx)
				mirror = slices.Delete(mirror, idx, idx+1)
			default:
				t.Fatalf("unexpected QUEUE_EVENT %s", ev.Name)
			}
		}
	}
	status, m := do("POST", "/putSource", `{"source":{"url":"http://a","title":"A"}}`)
	if status != 200 || m["source"].(map[string]any)["title"] != "A" {
		t.Fatalf("putSource single: %d %v", status, m)
	}
	drain(1)
	if f := c.Expect("putSource"); !strings.Contains(string(f.D), `"sources":[`) {
		t.Fatalf("putSource event %s", f.D)
	}
	status, m = do("POST", "/putSource", `{"source":[{"url":"http://b","tag":"tb"},{"id":"c","title":"C"},{"url":"http://d"}]}`)
	if status != 200 || len(m["source"].([]any)) != 3 {
		t.Fatalf("putSource list: %d %v", status, m)
	}
	drain(3)
	status, m = do("GET", "/queue/tb", nil)
	if status != 200 || m["url"] != "http://b" {
		t.Fatalf("by tag: %d %v", status, m)
	}
	status, m = do("GET", "/queue/-1", nil)
	if status != 200 || m["url"] != "http://d" {
		t.Fatalf("negative index: %d %v", status, m)
	}
	// Move the last entry to the front, with a context.
	status, m = do("POST", "/queue/-1", `{"index":0,"context":{"requester":"x"}}`)
	if status != 200 || m["context"].(map[string]any)["requester"] != "x" {
		t.Fatalf("move: %d %v", status, m)
	}
	drain(2)
	status, m = do("POST", "/queue/tb", `{"start_position":12.5}`)
	if status != 200 || m["start_position"] != 12.5 {
		t.Fatalf("start_position: %d %v", status, m)
	}
	drain(1)
	status, m = do("POST", "/shuffle", nil)
	if status != 200 || len(m["entries"].([]any)) != 4 {
		t.Fatalf("shuffle: %d %v", status, m)
	}
	// A shuffle emits a setItem per changed position; count them from the
	// node's answer and our mirror.
	_, q := do("GET", "/queue", nil)
	entries := q["entries"].([]any)
	changed := 0
	for i, e := range entries {
		if e.(map[string]any)["tag"] != mirror[i]["tag"] {
			changed++
		}
	}
	drain(changed)
	status, m = do("DELETE", "/queue/1", nil)
	if status != 200 || m["removed"] == nil || len(m["entries"].([]any)) != 3 {
		t.Fatalf("delete: %d %v", status, m)
	}
	drain(1)
	_, q = do("GET", "/queue", nil)
	got, _ := json.Marshal(q["entries"])
	want, _ := json.Marshal(mirror)
	if string(got) != string(want) {
		t.Fatalf("replaying QUEUE_EVENTs gives\n%s\nthe node has\n%s", want, got)
	}
	// Options and context round trip and show in getState.
	status, m = do("POST", "/options", `{"volume":0.5,"crossfade":0,"autoplay":false,"filter":{"lowPass":{"smoothing":20}}}`)
	if status != 200 || m["volume"] != 0.5 || m["autoplay"] != false || m["filter"].(map[string]any)["lowPass"] == nil {
		t.Fatalf("options: %d %v", status, m)
	}
	status, m = do("POST", "/context", `{"context":{"k":[1,2]}}`)
	if status != 200 || m["k"] == nil {
		t.Fatalf("context: %d %v", status, m)
	}
	c.Send("getState", map[string]any{"guild_id": "20"})
	var st map[string]any
	c.Expect("getState").Decode(t, &st)
	if st["remainQueue"] != 3.0 || st["options"].(map[string]any)["volume"] != 0.5 || st["context"].(map[string]any)["k"] == nil {
		t.Fatalf("getState %v", st)
	}
	if status, b := n.Do(servertest.Request{Method: "GET", Path: "/current", Header: h}); status != 200 || string(b) != "null" {
		t.Fatalf("current: %d %s", status, b)
	}
	if status, _ := n.Do(servertest.Request{Method: "POST", Path: "/pause", Header: h}); status != 204 {
		t.Fatalf("pause: %d", status)
	}
}

func TestQueueCap(t *testing.T) {
	n := servertest.Start(t, appliance.Config{MaxQueue: 3}, server.Config{}, "")
	c := n.Dial("")
	c.Identify("10", nil)
	h := servertest.VCHeaders("10", "20", join(t, c, "10", "20", "30"))
	status, _ := n.Do(servertest.Request{Method: "POST", Path: "/putSource", Header: h, Body: `{"source":[{"url":"1"},{"url":"2"}]}`})
	if status != 200 {
		t.Fatal(status)
	}
	status, b := n.Do(servertest.Request{Method: "POST", Path: "/putSource", Header: h, Body: `{"source":[{"url":"3"},{"url":"4"}]}`})
	if status != 400 || !strings.Contains(string(b), "queue is full") {
		t.Fatalf("over the cap: %d %s", status, b)
	}
	if _, b := n.Do(servertest.Request{Method: "GET", Path: "/queue", Header: h}); strings.Count(string(b), `"url"`) != 2 {
		t.Fatalf("a refused putSource changed the queue: %s", b)
	}
}

func TestOpenRoutes(t *testing.T) {
	n := start(t)
	for path, want := range map[string]string{"/": `"version":"9.9.9"`, "/status": `"UsedMemory"`} {
		status, b := n.Do(servertest.Request{Method: "GET", Path: path, NoAuth: true})
		if status != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", path, status, b)
		}
	}
	if status, _ := n.Do(servertest.Request{Method: "GET", Path: "/getSource?query=x", NoAuth: true}); status != 403 {
		t.Errorf("getSource without auth: %d", status)
	}
	if status, b := n.Do(servertest.Request{Method: "GET", Path: "/getSource"}); status != 400 || !strings.Contains(string(b), "query") {
		t.Errorf("getSource without query: %d %s", status, b)
	}
}

// FuzzRESTBodies posts arbitrary bodies to every voice-client route of a
// real handler: the answer is never a 5xx and the node keeps working.
func FuzzRESTBodies(f *testing.F) {
	for _, s := range []string{`{"source":{"url":"u"}}`, `{"context":{}}`, `{"volume":2}`, `{"index":-1}`, `{"offset":1}`, `{`, `[]`, "\x00"} {
		f.Add(uint8(0), []byte(s))
	}
	n := servertest.Start(f, appliance.Config{}, server.Config{}, "")
	node := n.Node
	c := n.Dial("")
	c.Identify("10", nil)
	c.Send("DISCORD_EVENT", voiceState("20", "30", "10"))
	var created struct{ ID string }
	c.Expect("VC_CREATED").Decode(f, &created)
	h := servertest.VCHeaders("10", "20", created.ID)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := vcRoutes[int(route)%len(vcRoutes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", servertest.Password)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		n.Server.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("error body is not JSON: %s", rec.Body)
		}
		if _, err := node.FindManager("10", ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSizeLimitsKeepFramesSmall(t *testing.T) {
	n, c, h := setup(t)
	big := `{"k":"` + strings.Repeat("x", 20<<10) + `"}`
	n.Do(servertest.Request{Method: "POST", Path: "/putSource", Header: h, Body: `{"source":{"url":"u"}}`})
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/context", `{"context":` + big + `}`},
		{"POST", "/queue/0", `{"context":` + big + `}`},
		{"POST", "/putSource", `{"source":{"url":"v","context":` + big + `}}`},
		{"POST", "/options", `{"filter":{"volume":{"volume":1,"pad":"` + strings.Repeat("y", 20<<10) + `"}}}`},
	} {
		if status, b := n.Do(servertest.Request{Method: r.method, Path: r.path, Header: h, Body: r.body}); status != 400 {
			t.Errorf("%s %s with 20 KiB: %d %.200s", r.method, r.path, status, b)
		}
	}
	c.Send("getQueue", map[string]any{"guild_id": "20"})
	if f := c.Expect("getQueue"); len(f.D) > 4096 {
		t.Errorf("getQueue grew to %d bytes", len(f.D))
	}
}
