package server_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/server"
	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// wav returns a 16-bit stereo 48 kHz WAV file of a sine.
func wav(seconds float64, freq float64) []byte {
	n := int(48000 * seconds)
	b := make([]byte, 44+n*4)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n*4))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 2)
	binary.LittleEndian.PutUint32(b[24:], 48000)
	binary.LittleEndian.PutUint32(b[28:], 48000*4)
	binary.LittleEndian.PutUint16(b[32:], 4)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n*4))
	for i := range n {
		v := int16(0.5 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/48000))
		binary.LittleEndian.PutUint16(b[44+4*i:], uint16(v))
		binary.LittleEndian.PutUint16(b[46+4*i:], uint16(v))
	}
	return b
}

func TestSourcesThroughREST(t *testing.T) {
	media := t.TempDir()
	os.WriteFile(filepath.Join(media, "tone.wav"), wav(2, 440), 0o644)
	secret := filepath.Join(t.TempDir(), "secret.wav")
	os.WriteFile(secret, wav(1, 440), 0o644)
	os.Symlink(secret, filepath.Join(media, "escape.wav"))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.wav":
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(wav(1, 440))
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>hello</html>"))
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()
	res, err := audio.NewResolver(audio.SourceConfig{MediaDirs: []string{media}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	n := servertest.Start(t, appliance.Config{Sources: res}, server.Config{}, "")
	c := n.Dial("")
	c.Identify("10", nil)
	h := servertest.VCHeaders("10", "20", join(t, c, "10", "20", "30"))

	get := func(q string) (int, []byte) {
		return n.Do(servertest.Request{Method: "GET", Path: "/getSource?query=" + url.QueryEscape(q)})
	}
	status, b := get("tone.wav")
	var one struct{ Source protocol.AudioData }
	json.Unmarshal(b, &one)
	if status != 200 || !one.Source.IsFile || one.Source.Duration == nil || math.Abs(*one.Source.Duration-2) > 0.05 {
		t.Fatalf("getSource of a media file: %d %s", status, b)
	}
	status, b = get(web.URL + "/a.wav")
	if status != 200 || !strings.Contains(string(b), `"url":"`+web.URL+`/a.wav"`) {
		t.Fatalf("getSource of an http URL: %d %s", status, b)
	}
	for q, want := range map[string]int{
		"../../etc/passwd":    400,
		"escape.wav":          400, // a symlink out of the media dir
		"missing.wav":         404,
		web.URL + "/page":     400, // a web page without an extractor
		web.URL + "/broken":   502,
		web.URL + "/gone.wav": 404,
		"ytsearch:some song":  400, // needs yt-dlp
		"ftp://example.org/a": 400,
	} {
		status, b := get(q)
		var e protocol.RESTError
		json.Unmarshal(b, &e)
		if status != want || e.Message == "" {
			t.Errorf("getSource %q: %d %s, want %d with a reason", q, status, b, want)
		}
	}
	status, b = n.Do(servertest.Request{Method: "POST", Path: "/loadSource", Header: h, Body: `{"query":"tone.wav"}`})
	if status != 200 {
		t.Fatalf("loadSource: %d %s", status, b)
	}
	c.Expect("QUEUE_EVENT")
	c.Expect("putSource")
	if f := c.Expect("loadSource"); !strings.Contains(string(f.D), `"is_file":true`) {
		t.Fatalf("loadSource event %s", f.D)
	}
	status, b = n.Do(servertest.Request{Method: "GET", Path: "/searchSources?query=TONE"})
	if status != 200 || !strings.Contains(string(b), "tone.wav") {
		t.Fatalf("searchSources: %d %s", status, b)
	}
}
