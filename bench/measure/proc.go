// Package measure reads what the harness measures outside its own load:
// the CPU and memory of processes (from /proc) and the command counts,
// memory and version of a Redis (from INFO).
package measure

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlab/authlab/lb"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process.
type ProcSample struct {
	CPU      time.Duration // user + system
	RSSBytes int64         // VmRSS
	HWMBytes int64         // VmHWM, peak resident set
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read proc stat: %w", err)
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read proc status: %w", err)
	}
	return ProcSample{CPU: cpu, RSSBytes: statusKB(string(status), "VmRSS"), HWMBytes: statusKB(string(status), "VmHWM")}, nil
}

// parseStatCPU returns utime+stime from a /proc/<pid>/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted after the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

func statusKB(status, key string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// Sampler follows the gateways' CPU and memory during a phase, sampling
// periodically so a killed instance's use up to its death still counts.
type Sampler struct {
	pids func(ctx context.Context) ([]int, error)

	mu    sync.Mutex
	first map[int]time.Duration
	last  map[int]time.Duration
	peak  int64
}

// NewSampler returns a sampler listing the pids to follow with pids.
func NewSampler(pids func(ctx context.Context) ([]int, error)) *Sampler {
	return &Sampler{pids: pids, first: map[int]time.Duration{}, last: map[int]time.Duration{}}
}

// Sample takes one reading of every pid.
func (s *Sampler) Sample(ctx context.Context) {
	pids, err := s.pids(ctx)
	if err != nil {
		return
	}
	var hwm int64
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pid := range pids {
		p, err := ReadProc(pid)
		if err != nil {
			continue
		}
		if _, ok := s.first[pid]; !ok {
			s.first[pid] = p.CPU
		}
		s.last[pid] = p.CPU
		hwm += p.HWMBytes
	}
	s.peak = max(s.peak, hwm)
}

// Run samples every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context, interval time.Duration) {
	s.Sample(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sample(ctx)
		}
	}
}

// Result returns the CPU used since each pid's first sample and the peak
// of the summed VmHWM.
func (s *Sampler) Result() (time.Duration, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cpu time.Duration
	for pid, l := range s.last {
		cpu += l - s.first[pid]
	}
	return cpu, s.peak
}

// TotalRSS returns the summed VmRSS of pids (unreadable ones skipped).
func TotalRSS(pids []int) int64 {
	var n int64
	for _, pid := range pids {
		if p, err := ReadProc(pid); err == nil {
			n += p.RSSBytes
		}
	}
	return n
}

// PIDs returns the process ids of the instances an lb lists (those it
// started: external ones have none).
func PIDs(insts []lb.InstanceInfo) []int {
	var out []int
	for _, in := range insts {
		if in.PID > 0 {
			out = append(out, in.PID)
		}
	}
	return out
}

// ParentPID returns the parent of pid, from /proc/<pid>/stat (field 4).
// The harness finds the lb this way: it is the gateways' parent.
func ParentPID(pid int) (int, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read proc stat: %w", err)
	}
	return parseStatPPID(string(stat))
}

func parseStatPPID(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("proc stat: %d fields", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("proc stat: bad ppid %q", f[1])
	}
	return ppid, nil
}

// TotalCPU returns the summed CPU (user + system) pids have used so far
// (unreadable ones skipped).
func TotalCPU(pids []int) time.Duration {
	var cpu time.Duration
	for _, pid := range pids {
		if p, err := ReadProc(pid); err == nil {
			cpu += p.CPU
		}
	}
	return cpu
}
