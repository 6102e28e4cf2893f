package sysstat

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadsRealProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("figures come from Linux /proc")
	}
	s := New()
	buf := make([]byte, 0)
	for i := 0; i < 3e6; i++ { // burn a little CPU so that ProcessLoad is > 0
		buf = append(buf[:0], byte(i))
	}
	f := s.Read()
	if f.UsedMemory <= 0 || f.TotalMemory < f.UsedMemory || f.Threads < 1 || f.Cores != runtime.NumCPU() {
		t.Errorf("implausible figures: %+v", f)
	}
	if f.NetworkInbound < 0 || f.TotalLoad < 0 || f.TotalLoad > 100 {
		t.Errorf("implausible loads: %+v", f)
	}
}

func TestParsesAFakeTree(t *testing.T) {
	root := t.TempDir() + "/"
	write := func(name, body string) {
		os.MkdirAll(filepath.Dir(root+name), 0o755)
		os.WriteFile(root+name, []byte(body), 0o644)
	}
	write("proc/self/status", "Name:\tdiscodo\nVmRSS:\t   20480 kB\nThreads:\t7\n")
	write("proc/meminfo", "MemTotal:        1000000 kB\nMemFree: 1 kB\n")
	write("proc/net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets\n    lo: 1000000 10 0 0 0 0 0 0 2000000 10 0 0 0 0 0 0\n  eth0: 3000000 10 0 0 0 0 0 0 4000000 10 0 0 0 0 0 0\n")
	write("sys/class/thermal/thermal_zone0/temp", "48312\n")
	write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\n")
	write("proc/self/stat", "1 (disco do) S 0 0 0 0 0 0 0 0 0 0 100 100 0 0\n")
	s := newAt(root)
	write("proc/stat", "cpu  150 0 150 900 0 0 0 0 0 0\n") // 100 busy of 200
	f := s.Read()
	if f.UsedMemory != 21 || f.TotalMemory != 1024 || f.Threads != 7 || f.NetworkInbound != 4 || f.NetworkOutbound != 6 {
		t.Errorf("figures: %+v", f)
	}
	if f.TotalLoad != 50 {
		t.Errorf("TotalLoad = %v, want 50", f.TotalLoad)
	}
	if f.Temperature == nil || *f.Temperature != 48.3 {
		t.Errorf("Temperature = %v", f.Temperature)
	}
}
