package config

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.conf")
	os.WriteFile(file, []byte(`# comment
port = 9000
host = "127.0.0.1"   # trailing comment
vc_timeout = 12.5
media-dir = ["/srv/a", "/srv/b"]
resumed_format = "discodo3"
password = "from-file"
`), 0o600)
	c, err := Load([]string{"--config", file, "--port", "9100", "--state-dir", dir},
		[]string{"DISCODO_HOST=10.0.0.1", "DISCODO_HEARTBEAT_INTERVAL=3", "UNRELATED=1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9100 {
		t.Errorf("flag should win over the file: port %d", c.Port)
	}
	if c.Host != "10.0.0.1" {
		t.Errorf("env should win over the file: host %q", c.Host)
	}
	if c.VCTimeout != 12500*time.Millisecond || c.ResumedFormat != "discodo3" || c.Password != "from-file" {
		t.Errorf("file values: %+v", c)
	}
	if c.HeartbeatInterval != 3*time.Second || c.HeartbeatTimeout != 60*time.Second {
		t.Errorf("env and default: %v %v", c.HeartbeatInterval, c.HeartbeatTimeout)
	}
	if !slices.Equal(c.MediaDirs, []string{"/srv/a", "/srv/b"}) {
		t.Errorf("media dirs %v", c.MediaDirs)
	}
}

func TestJSONFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.json")
	os.WriteFile(file, []byte(`{"port": 8123, "default_volume": 0.5, "media_dir": ["/m"], "password": "p"}`), 0o600)
	c, err := Load([]string{"--config", file}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8123 || c.DefaultVolume != 0.5 || !slices.Equal(c.MediaDirs, []string{"/m"}) {
		t.Errorf("%+v", c)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.conf")
	os.WriteFile(file, []byte("prot = 1\nport = \"x\"\n"), 0o600)
	_, err := Load([]string{"--config", file, "--password", "x"}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown setting "prot"`) || !strings.Contains(err.Error(), "port") {
		t.Errorf("err = %v", err)
	}
	for _, args := range [][]string{
		{"--resumed-format", "map"}, {"--log-level", "loud"}, {"--vc-timeout", "-1"},
		{"--tls-cert", "c.pem"}, {"--heartbeat-timeout", "1", "--heartbeat-interval", "5"}, {"stray"},
	} {
		if _, err := Load(append(args, "--password", "x"), nil, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestPasswordGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	c1, err := Load([]string{"--state-dir", dir}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.GeneratedPassword || len(c1.Password) < 20 {
		t.Fatalf("generated %q %v", c1.Password, c1.GeneratedPassword)
	}
	fi, err := os.Stat(filepath.Join(dir, "password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	c2, err := Load(nil, []string{"DISCODO_STATE_DIR=" + dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c2.GeneratedPassword || c2.Password != c1.Password {
		t.Errorf("second start: %q generated=%v, want the stored %q", c2.Password, c2.GeneratedPassword, c1.Password)
	}
}
