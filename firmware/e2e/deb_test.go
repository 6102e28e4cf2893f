package e2e

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/discodo-go/discodo/appliance/server/servertest"
)

// unitSettings reads the [Service]/[Unit]/[Install] assignments of a unit
// file (comments and sections dropped; repeated keys keep the last).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not an assignment: %q", path, line)
		}
		settings[k] = v
	}
	return settings
}

// TestUnitFile checks discodo.service with systemd's own tools:
// systemd-analyze verify (syntax, known settings, the binary exists) and
// systemd-analyze security --offline (the exposure score, which must stay
// at or below 2.5 of 10), and that the settings this appliance relies on
// are present.
func TestUnitFile(t *testing.T) {
	want := map[string]string{
		"Type": "notify", "NotifyAccess": "main", "Restart": "always", "WatchdogSec": "30",
		"StateDirectory": "discodo", "DynamicUser": "yes", "ProtectSystem": "strict",
		"NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute": "no", // wazero's compiler maps code executable
		"Nice":                   "-5", "RestrictRealtime": "yes", "RestartPreventExitStatus": "2",
		"LoadCredential": "discodo.conf:/etc/discodo/discodo.conf",
		"ExecStart":      "/usr/bin/discodo --config ${CREDENTIALS_DIRECTORY}/discodo.conf",
		"WantedBy":       "multi-user.target",
	}
	got := unitSettings(t, "../discodo.service")
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("discodo.service: %s=%q, want %q", k, g, v)
		}
	}

	if testing.Short() {
		return
	}
	needTools(t, "systemd-analyze")
	// verify wants ExecStart's binary to exist: point it at a real one.
	bin := nodeBinary(t, "amd64")
	unit, err := os.ReadFile("../discodo.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "discodo.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/discodo", bin)), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=25", "--no-pager", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for discodo.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze security: exposure %s of 10", m[1])
}

// debFiles are the paths and modes every package installs.
var debFiles = map[string]fs.FileMode{
	"./usr/bin/discodo":                    0o755,
	"./lib/systemd/system/discodo.service": 0o644,
	"./etc/discodo/discodo.conf":           0o640,
	"./usr/share/doc/discodo/README.md":    0o644,
}

// buildDeb packs the binary of arch as version into dir.
func buildDeb(t *testing.T, arch, version, dir string) string {
	t.Helper()
	bin := nodeBinary(t, arch)
	cmd := exec.Command("../debian/build-deb.sh", bin, arch, version, dir)
	cmd.Env = append(os.Environ(), "DEB_COMPRESSION=gzip")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("discodo_%s-1_%s.deb", strings.ReplaceAll(version, "-", "~"), arch)))
	if len(debs) != 1 {
		t.Fatalf("no package in %s", dir)
	}
	return debs[0]
}

// TestPackages builds the .deb of every architecture and checks its
// control fields, its files and their modes, the conffile, the maintainer
// scripts, and that the binary inside is a static executable for the
// architecture (no interpreter, no shared libraries).
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	needTools(t, "dpkg-deb")
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		t.Run(arch, func(t *testing.T) {
			deb := buildDeb(t, arch, "1.2.3", t.TempDir())
			field := func(name string) string {
				out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
				if err != nil {
					t.Fatalf("dpkg-deb -f %s: %v", name, err)
				}
				return strings.TrimSpace(string(out))
			}
			for name, want := range map[string]string{"Package": "discodo", "Architecture": arch, "Version": "1.2.3-1", "Depends": ""} {
				if got := field(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			out, err := exec.Command("dpkg-deb", "-c", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]fs.FileMode{}
			for line := range strings.Lines(string(out)) {
				f := strings.Fields(line)
				if len(f) < 6 || f[0][0] == 'd' {
					continue
				}
				if f[1] != "root/root" {
					t.Errorf("%s owned by %s", f[5], f[1])
				}
				files[f[5]] = parseMode(f[0])
			}
			if !maps.Equal(files, debFiles) {
				t.Errorf("files %v, want %v", files, debFiles)
			}
			ctrl, root := t.TempDir(), t.TempDir()
			if out, err := exec.Command("dpkg-deb", "-e", deb, ctrl).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb -e: %v %s", err, out)
			}
			if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); string(b) != "/etc/discodo/discodo.conf\n" {
				t.Errorf("conffiles %q", b)
			}
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				if fi, err := os.Stat(filepath.Join(ctrl, s)); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("maintainer script %s: %v", s, err)
				}
			}
			if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb -x: %v %s", err, out)
			}
			f, err := elf.Open(filepath.Join(root, "usr/bin/discodo"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machines[arch] || f.Type != elf.ET_EXEC {
				t.Errorf("binary for %v (%v), want %v", f.Machine, f.Type, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("the binary is dynamically linked (%v)", p.Type)
				}
			}
			if arch == "armhf" {
				// Raspberry Pi OS armhf is EABI5 with the hard-float ABI:
				// e_flags (offset 36 of an ELF32 header) says so.
				raw, _ := os.ReadFile(filepath.Join(root, "usr/bin/discodo"))
				flags := binary.LittleEndian.Uint32(raw[36:40])
				if f.Class != elf.ELFCLASS32 || flags>>24 != 5 || flags&0x400 == 0 {
					t.Errorf("armhf binary: class %v, e_flags %#x; want ELF32, EABI5, hard float (0x400)", f.Class, flags)
				}
			}
			st, _ := os.Stat(deb)
			t.Logf("%s: %d bytes (gzip; the release default is xz)", filepath.Base(deb), st.Size())
		})
	}
}

// parseMode reads the permission bits of ls -l notation ("-rwxr-xr-x").
func parseMode(s string) fs.FileMode {
	var m fs.FileMode
	for i, c := range s[1:10] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

// dpkgRoot is a dpkg installation into a directory tree: maintainer
// scripts run chrootless with DPKG_ROOT set, as for a bootstrap.
type dpkgRoot struct {
	t    *testing.T
	root string
}

func (d dpkgRoot) run(args ...string) {
	d.t.Helper()
	all := append([]string{"--root=" + d.root, "--force-script-chrootless", "--force-not-root",
		"--force-unsafe-io", "--log=/dev/null"}, args...)
	if out, err := exec.Command("dpkg", all...).CombinedOutput(); err != nil {
		d.t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (d dpkgRoot) version() string {
	out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(d.root, "var/lib/dpkg"),
		"-W", "-f=${Version} ${db:Status-Abbrev}", "discodo").Output()
	return strings.TrimSpace(string(out))
}

func (d dpkgRoot) path(p string) string { return filepath.Join(d.root, p) }

func (d dpkgRoot) exists(p string) bool {
	_, err := os.Lstat(d.path(p))
	return err == nil
}

// snapshot hashes every file under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sums[strings.TrimPrefix(p, dir)] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	return sums
}

// TestDebUpgradeKeepsState installs the amd64 package into a dpkg --root
// tree (its maintainer scripts run, with DPKG_ROOT), runs the installed
// binary with the installed config and a systemd-style state directory
// ($STATE_DIRECTORY = /var/lib/discodo -> private/discodo), stores a
// session, edits the conffile, upgrades to a newer package and checks that
// the state files are byte for byte the same, the edit kept, the unit
// still enabled, and that the new binary resumes the session with the
// password generated by the old one. Then remove keeps the state and
// masks the unit; purge deletes the state.
func TestDebUpgradeKeepsState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs packages")
	}
	needTools(t, "dpkg", "dpkg-deb", "dpkg-query", "deb-systemd-helper")
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root installs need root (CI runs as root)")
	}
	dir := t.TempDir()
	v1, v2 := buildDeb(t, "amd64", "0.9.0", dir), buildDeb(t, "amd64", "0.9.1", dir)
	d := dpkgRoot{t: t, root: t.TempDir()}
	for _, sub := range []string{"var/lib/dpkg/updates", "var/lib/dpkg/info", "var/lib/private"} {
		os.MkdirAll(d.path(sub), 0o755)
	}
	os.WriteFile(d.path("var/lib/dpkg/status"), nil, 0o644)

	d.run("-i", v1)
	if v := d.version(); v != "0.9.0-1 ii" {
		t.Fatalf("installed version %q", v)
	}
	const wants = "etc/systemd/system/multi-user.target.wants/discodo.service"
	if target, err := os.Readlink(d.path(wants)); err != nil || target != "/lib/systemd/system/discodo.service" {
		t.Errorf("the unit is not enabled: %q %v", target, err)
	}
	if d.exists("var/lib/discodo") || d.exists("var/lib/private/discodo") {
		t.Error("the package created the state directory; systemd owns it")
	}

	// systemd's StateDirectory= with DynamicUser=yes.
	os.Mkdir(d.path("var/lib/private/discodo"), 0o700)
	os.Symlink("private/discodo", d.path("var/lib/discodo"))
	port := freePort(t)
	run := func() *proc {
		cmd := exec.Command(d.path("usr/bin/discodo"), "--config", d.path("etc/discodo/discodo.conf"),
			"--host", "127.0.0.1", "--port", strconv.Itoa(port))
		cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+d.path("var/lib/discodo"))
		p := startCmd(t, cmd, port)
		p.waitListening(10 * time.Second)
		return p
	}
	p := run()
	if !strings.Contains(p.logs.String(), "generated a password") {
		t.Fatalf("the default config should make the node generate a password:\n%s", p.logs)
	}
	pw, err := os.ReadFile(d.path("var/lib/private/discodo/password"))
	if err != nil {
		t.Fatalf("no generated password in the state directory: %v", err)
	}
	password := strings.TrimSpace(string(pw))
	c := servertest.Remote(t, p.url).Dial(password)
	c.Identify("4242", nil)
	c.Send("DISCORD_EVENT", map[string]any{"t": "VOICE_STATE_UPDATE",
		"d": map[string]any{"guild_id": "77", "channel_id": "88", "user_id": "4242", "session_id": "s"}})
	var created struct{ ID string }
	c.Expect("VC_CREATED").Decode(t, &created)
	r := newREST(p.url, servertest.VCHeaders("4242", "77", created.ID))
	r.password = password
	if status, body, err := r.do(t.Context(), "POST", "/putSource", `{"source":{"url":"http://127.0.0.1:9/a.ogg","tag":"before-upgrade"}}`); err != nil || status != 200 {
		t.Fatalf("putSource: %d %s %v", status, body, err)
	}
	r.close()
	c.Close()
	p.stop()
	state := snapshot(t, d.path("var/lib/private/discodo"))
	if _, ok := state["/discodo.db"]; !ok {
		t.Fatalf("state files %v", slices.Sorted(maps.Keys(state)))
	}

	// The admin's edit of the conffile.
	conf := d.path("etc/discodo/discodo.conf")
	edited, _ := os.ReadFile(conf)
	edited = append(edited, "vc_timeout = 120\n"...)
	os.WriteFile(conf, edited, 0o640)

	d.run("-i", v2)
	if v := d.version(); v != "0.9.1-1 ii" {
		t.Fatalf("version after the upgrade %q", v)
	}
	if after := snapshot(t, d.path("var/lib/private/discodo")); !maps.Equal(after, state) {
		t.Errorf("the upgrade changed the state:\nbefore %v\nafter  %v", state, after)
	}
	if b, _ := os.ReadFile(conf); string(b) != string(edited) {
		t.Errorf("the upgrade lost the conffile edit:\n%s", b)
	}
	if leftovers, _ := filepath.Glob(conf + ".dpkg-*"); len(leftovers) > 0 {
		t.Errorf("conffile leftovers %v", leftovers)
	}
	if !d.exists(wants) {
		t.Error("the upgrade disabled the unit")
	}

	// The upgraded node resumes the session with the old password.
	p = run()
	if strings.Contains(p.logs.String(), "generated a password") {
		t.Errorf("the upgraded node generated a new password:\n%s", p.logs)
	}
	c = servertest.Remote(t, p.url).Dial(password)
	c.Send("IDENTIFY", map[string]any{"user_id": "4242"})
	if f := c.Expect("RESUMED"); !strings.Contains(string(f.D), `"77"`) {
		t.Errorf("RESUMED after the upgrade: %s", f.D)
	}
	r = newREST(p.url, servertest.VCHeaders("4242", "77", created.ID))
	r.password = password
	if got, err := observe(t.Context(), r); err != nil || !slices.Equal(got.queue, []string{"before-upgrade"}) {
		t.Errorf("queue after the upgrade: %+v %v", got, err)
	}
	r.close()
	c.Close()
	p.stop()
	state = snapshot(t, d.path("var/lib/private/discodo"))

	d.run("-r", "discodo")
	if d.exists("usr/bin/discodo") || d.exists("lib/systemd/system/discodo.service") {
		t.Error("remove left the binary or the unit")
	}
	if !d.exists("etc/discodo/discodo.conf") {
		t.Error("remove deleted the conffile (only purge may)")
	}
	if after := snapshot(t, d.path("var/lib/private/discodo")); !maps.Equal(after, state) {
		t.Errorf("remove changed the state")
	}
	if target, _ := os.Readlink(d.path("etc/systemd/system/discodo.service")); target != "/dev/null" {
		t.Errorf("remove did not mask the unit (%q)", target)
	}

	d.run("-P", "discodo")
	for _, gone := range []string{"var/lib/private/discodo", "var/lib/discodo", "etc/discodo/discodo.conf",
		"etc/systemd/system/discodo.service", wants} {
		if d.exists(gone) {
			t.Errorf("purge left %s", gone)
		}
	}
	if v := d.version(); v != "" {
		t.Errorf("dpkg still knows the package after purge: %q", v)
	}
}
