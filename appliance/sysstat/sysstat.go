// Package sysstat reads the machine and process figures of the STATUS
// object (node-protocol.md section 7) from Linux's /proc and /sys, in
// discodo's units: megabytes (10^6 bytes) and percent.
//
// CPU loads are rates: a Sampler remembers the previous reading and
// reports the load since then (since the Sampler was made, on the first
// call). On systems without /proc the figures it cannot read are zero.
package sysstat

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Figures is one reading.
type Figures struct {
	UsedMemory      float64  `json:"UsedMemory"`      // process RSS, MB
	TotalMemory     float64  `json:"TotalMemory"`     // machine memory, MB
	ProcessLoad     float64  `json:"ProcessLoad"`     // % of one core
	TotalLoad       float64  `json:"TotalLoad"`       // % of all cores
	Cores           int      `json:"Cores"`           // logical CPUs
	Threads         int      `json:"Threads"`         // OS threads of the process
	NetworkInbound  float64  `json:"NetworkInbound"`  // MB received, all interfaces
	NetworkOutbound float64  `json:"NetworkOutbound"` // MB sent, all interfaces
	Temperature     *float64 `json:"Temperature,omitempty"`
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// Sampler produces Figures. It is safe for concurrent use.
type Sampler struct {
	root string // "/" in production; a fake tree in tests

	mu        sync.Mutex
	lastWall  time.Time
	lastProc  float64 // process CPU seconds
	lastBusy  float64 // machine busy ticks
	lastTotal float64 // machine total ticks
}

// New returns a Sampler reading the real /proc and /sys.
func New() *Sampler { return newAt("/") }

func newAt(root string) *Sampler {
	s := &Sampler{root: root, lastWall: time.Now()}
	s.lastProc = s.procCPU()
	s.lastBusy, s.lastTotal = s.machineCPU()
	return s
}

// Read takes a reading.
func (s *Sampler) Read() Figures {
	f := Figures{Cores: runtime.NumCPU()}
	if st := s.read("proc/self/status"); st != nil {
		f.UsedMemory = mb(kvKB(st, "VmRSS:") * 1024)
		f.Threads = int(kvKB(st, "Threads:"))
	}
	if mi := s.read("proc/meminfo"); mi != nil {
		f.TotalMemory = mb(kvKB(mi, "MemTotal:") * 1024)
	}
	f.NetworkInbound, f.NetworkOutbound = s.network()
	if t := s.read("sys/class/thermal/thermal_zone0/temp"); t != nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(t)), 64); err == nil {
			c := round1(v / 1000)
			f.Temperature = &c
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	proc := s.procCPU()
	busy, total := s.machineCPU()
	if wall := now.Sub(s.lastWall).Seconds(); wall > 0 {
		f.ProcessLoad = round1(100 * (proc - s.lastProc) / wall)
	}
	if dt := total - s.lastTotal; dt > 0 {
		f.TotalLoad = round1(100 * (busy - s.lastBusy) / dt)
	}
	s.lastWall, s.lastProc, s.lastBusy, s.lastTotal = now, proc, busy, total
	return f
}

func (s *Sampler) read(name string) []byte {
	b, err := os.ReadFile(s.root + name)
	if err != nil {
		return nil
	}
	return b
}

// procCPU returns user+system CPU seconds of the process (/proc/self/stat
// fields 14 and 15, counted after the parenthesised command name).
func (s *Sampler) procCPU() float64 {
	b := s.read("proc/self/stat")
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (u + st) / clockTicks
}

// machineCPU returns busy and total ticks from /proc/stat's "cpu" line.
func (s *Sampler) machineCPU() (busy, total float64) {
	b := s.read("proc/stat")
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// network sums received and sent bytes of every interface in /proc/net/dev.
func (s *Sampler) network() (in, out float64) {
	b := s.read("proc/net/dev")
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 9 {
			continue
		}
		rx, _ := strconv.ParseFloat(fields[0], 64)
		tx, _ := strconv.ParseFloat(fields[8], 64)
		in += rx
		out += tx
	}
	return mb(in), mb(out)
}

// kvKB finds "Key:   123 kB" and returns 123.
func kvKB(b []byte, key string) float64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0
	}
	line, _, _ := bytes.Cut(b[i+len(key):], []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fields[0], 64)
	return v
}

func mb(bytes float64) float64 { return round1(bytes / 1e6) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
