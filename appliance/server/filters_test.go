package server_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// TestFiltersThroughREST uploads a hand-written WAT module, uses it and a
// built-in in a voice client's chain, checks the 400s that name the filter
// and the parameter, and that uploads and chains survive a restart.
func TestFiltersThroughREST(t *testing.T) {
	gain, err := os.ReadFile("../../wasm/testdata/gain.wasm")
	if err != nil {
		t.Fatal(err)
	}
	n, c, h := setup(t)
	put := func(name string, body []byte) (int, map[string]any) {
		status, b := n.Do(servertest.Request{Method: "PUT", Path: "/filters/" + name, Body: body})
		var m map[string]any
		json.Unmarshal(b, &m)
		return status, m
	}
	if status, m := put("my-gain", gain); status != 201 || m["name"] != "my-gain" || len(m["sha256"].(string)) != 64 {
		t.Fatalf("upload: %d %v", status, m)
	}
	for name, want := range map[string]string{
		"volume":    "built-in",
		"Bad Name!": "invalid filter name",
	} {
		if status, m := put(name, gain); status != 400 || !strings.Contains(m["message"].(string), want) {
			t.Errorf("upload as %q: %d %v", name, status, m)
		}
	}
	if status, m := put("junk", []byte("not wasm at all")); status != 400 || !strings.Contains(m["message"].(string), "invalid module") {
		t.Errorf("junk upload: %d %v", status, m)
	}
	status, b := n.Do(servertest.Request{Method: "GET", Path: "/filters"})
	if status != 200 || !strings.Contains(string(b), `"my-gain"`) || !strings.Contains(string(b), `"equalizer"`) {
		t.Fatalf("list: %d %s", status, b)
	}
	if status, _ := n.Do(servertest.Request{Method: "GET", Path: "/filters", NoAuth: true}); status != 403 {
		t.Errorf("list without a password: %d", status)
	}

	opt := func(body string) (int, protocol.RESTError, []byte) {
		status, b := n.Do(servertest.Request{Method: "POST", Path: "/options", Header: h, Body: body})
		var e protocol.RESTError
		json.Unmarshal(b, &e)
		return status, e, b
	}
	status, _, b = opt(`{"filter":{"equalizer":{"gains":[0.2,0.1]},"my-gain":{"gain":0.5}}}`)
	if status != 200 || !strings.Contains(string(b), `"equalizer"`) {
		t.Fatalf("a chain of a built-in and the upload: %d %s", status, b)
	}
	for body, want := range map[string][]string{
		`{"filter":{"timescale":{"speed":-1}}}`:                     {"timescale", "speed"},
		`{"filter":{"equalizer":{"bogus":1}}}`:                      {"equalizer", "bogus"},
		`{"filter":{"nosuch":{}}}`:                                  {"nosuch"},
		`{"filter":[{"name":"volume","params":{"volume":"loud"}}]}`: {"volume"},
	} {
		status, e, _ := opt(body)
		for _, w := range want {
			if status != 400 || !strings.Contains(e.Message, w) {
				t.Errorf("%s: %d %q, want 400 naming %q", body, status, e.Message, w)
			}
		}
	}
	// The refused changes kept the chain.
	status, b = n.Do(servertest.Request{Method: "GET", Path: "/options", Header: h})
	if status != 200 || !strings.Contains(string(b), `"my-gain"`) {
		t.Fatalf("options after refusals: %s", b)
	}
	if status, _ := n.Do(servertest.Request{Method: "DELETE", Path: "/filters/nope"}); status != 404 {
		t.Errorf("delete unknown: %d", status)
	}
	if status, _ := n.Do(servertest.Request{Method: "DELETE", Path: "/filters/equalizer"}); status != 400 {
		t.Errorf("delete a built-in: %d", status)
	}

	// Restart: the upload and the chain are back.
	path := n.DBPath
	c.Close()
	n.Stop()
	n = servertest.Start(t, appliance.Config{}, server.Config{}, path)
	status, b = n.Do(servertest.Request{Method: "GET", Path: "/filters"})
	if !strings.Contains(string(b), `"my-gain"`) {
		t.Fatalf("filters after restart: %d %s", status, b)
	}
	c = n.Dial("")
	c.Identify("10", nil)
	c.Expect("RESUMED")
	status, b = n.Do(servertest.Request{Method: "GET", Path: "/options", Header: h})
	if status != 200 || !strings.Contains(string(b), `"my-gain":{"gain":0.5}`) {
		t.Fatalf("options after restart: %d %s", status, b)
	}
	if status, _ := n.Do(servertest.Request{Method: "DELETE", Path: "/filters/my-gain"}); status != 204 {
		t.Errorf("delete: %d", status)
	}
}
