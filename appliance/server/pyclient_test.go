package server_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// TestPythonWebsocketsClient speaks to the node with the websocket library
// discodo's Python client is built on (Debian's python3-websockets), in
// both RESUMED forms, and fills the queue to its byte cap: getQueue must
// stay under that library's 1 MiB frame limit.
func TestPythonWebsocketsClient(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run(); err != nil {
		if os.Getenv("DISCODO_REQUIRE_INTEROP") == "1" {
			t.Fatal("python3-websockets is missing (firmware/deps.sh --test installs it)")
		}
		t.Skip("python3-websockets is not installed")
	}
	for _, form := range []string{appliance.ResumedPairs, appliance.ResumedDiscodo3} {
		t.Run(form, func(t *testing.T) {
			n := servertest.Start(t, appliance.Config{ResumedFormat: form}, server.Config{}, "")
			ws := "ws" + strings.TrimPrefix(n.URL, "http") + "/ws"
			out, err := exec.Command("/usr/bin/python3", "testdata/pyclient.py", ws, n.URL, servertest.Password, form).CombinedOutput()
			if err != nil {
				t.Fatalf("pyclient: %v\n%s", err, out)
			}
			var found struct {
				Interval   float64
				AckEqual   bool `json:"ack_equal"`
				Identified string
				Queued     int
				Puts       int
				CapStatus  int `json:"cap_status"`
				Resumed    []any
			}
			if err := json.Unmarshal(out, &found); err != nil {
				t.Fatalf("pyclient said %s", out)
			}
			if found.Interval != 15 || !found.AckEqual || found.Identified != "ClientManager initialized." {
				t.Errorf("handshake: %+v", found)
			}
			if found.CapStatus != 400 || found.Queued != found.Puts*40 || found.Queued < 100 {
				t.Errorf("queue at its cap: %+v", found)
			}
			want := `["852400327470727180","852400327470727181"]`
			if form == appliance.ResumedDiscodo3 {
				want = `["852400327470727180","852400327470727181",true]`
			}
			if got := jsonText(found.Resumed); got != want {
				t.Errorf("RESUMED as the client parsed it: %s, want %s", got, want)
			}
		})
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
