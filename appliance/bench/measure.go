package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) of the whole process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// preemptions is how often the kernel took a CPU from this process's
// threads while they could run (involuntary context switches).
func preemptions() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return int64(ru.Nivcsw) // int32 on 32-bit ARM
}

// memory is a process's resident set from /proc/<pid>/status.
type memory struct {
	RSS, HWM int64 // VmRSS, VmHWM in bytes
}

// readMemory reads /proc/<pid>/status; pid 0 is this process.
func readMemory(pid int) (memory, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return memory{}, err
	}
	var m memory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n << 10
		case "VmHWM":
			m.HWM = n << 10
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("%w: no VmRSS in %s", ErrProc, path)
	}
	return m, nil
}

// procCPU is a process's CPU time (utime + stime) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: /proc/%d/stat unreadable", ErrProc, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: /proc/%d/stat has %d fields", ErrProc, pid, len(f))
	}
	// Fields 14 and 15 of stat (utime, stime), i.e. 12 and 13 after ')'.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ: 100 on every Linux architecture Go supports.
const clockTicks = 100

// machine is a sample of the whole machine's CPU counters (/proc/stat).
type machine struct {
	busy, total    uint64 // jiffies
	softirq, steal uint64 // of those: softirq (loopback delivery), stolen by the hypervisor
}

func readMachine() machine {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machine{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	var m machine
	for i, s := range f[1:] {
		n, _ := strconv.ParseUint(s, 10, 64)
		m.total += n
		switch i {
		case 3, 4: // idle, iowait
		default:
			m.busy += n
		}
		switch i {
		case 6:
			m.softirq = n
		case 7:
			m.steal = n
		}
	}
	return m
}

// cores is how many cores' worth of jiffies d was between a and b.
func (a machine) cores(b machine, d func(machine) uint64) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(d(b)-d(a)) / float64(b.total-a.total) * float64(runtime.NumCPU())
}

// busyCores is how many cores the whole machine kept busy between a and b.
func busyCores(a, b machine) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total) * float64(runtime.NumCPU())
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// histogram counts durations in 10 µs buckets up to 40 ms (beyond: the
// last bucket) and keeps the maximum. observe is lock-free and allocates
// nothing: it runs on every voice send loop after every packet.
type histogram struct {
	on      atomic.Bool
	buckets [histBuckets]atomic.Uint64
	max     atomic.Int64
}

const (
	histStep    = 10 * time.Microsecond
	histBuckets = 4000
)

func (h *histogram) observe(d time.Duration) {
	if !h.on.Load() {
		return
	}
	d = max(d, 0)
	i := min(int(d/histStep), histBuckets-1)
	h.buckets[i].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// start clears the histogram and starts recording.
func (h *histogram) start() {
	h.on.Store(false)
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.max.Store(0)
	h.on.Store(true)
}

// stop stops recording and returns the count, the p50 and p99 (the upper
// edge of their bucket) and the maximum.
func (h *histogram) stop() (n uint64, p50, p99, worst time.Duration) {
	h.on.Store(false)
	var counts [histBuckets]uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	return n, quantile(counts[:], n, 0.50), quantile(counts[:], n, 0.99), time.Duration(h.max.Load())
}

func quantile(counts []uint64, n uint64, q float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return time.Duration(i+1) * histStep
		}
	}
	return time.Duration(len(counts)) * histStep
}

// udpDrops is the machine's count of UDP datagrams dropped because a
// receive buffer was full (/proc/net/snmp RcvbufErrors): on a quiet
// loopback, the sink's.
func udpDrops() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}
