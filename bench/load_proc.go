package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPUSeconds is a process's user plus system CPU time from
// /proc/PID/stat, or -1 where /proc cannot tell.
func procCPUSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis are plain.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(utime+stime) / clockTicks
}

// procMemKiB reads VmRSS and RssAnon from /proc/PID/status: total resident
// memory, and its anonymous part (heap and stacks, without the store's
// memory-mapped files, which the kernel can drop). -1 where unknown.
func procMemKiB(pid int) (rss, anon int64) {
	rss, anon = -1, -1
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss, anon
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "RssAnon") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = n
		} else {
			anon = n
		}
	}
	return rss, anon
}

// memSampler follows the resident memory of some processes.
type memSampler struct {
	pids []int
	mu   sync.Mutex // guards the fields below
	peak []memSample
	last []memSample
}

type memSample struct{ rss, anon int64 }

func newMemSampler(pids []int) *memSampler {
	s := &memSampler{pids: pids, peak: make([]memSample, len(pids)), last: make([]memSample, len(pids))}
	s.sample()
	return s
}

// memSampleInterval is short enough to catch a spike of a second or so,
// long enough that reading /proc costs nothing measurable.
const memSampleInterval = 500 * time.Millisecond

// run samples until stop is closed.
func (s *memSampler) run(stop <-chan struct{}) {
	t := time.NewTicker(memSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *memSampler) sample() {
	for i, pid := range s.pids {
		rss, anon := procMemKiB(pid)
		if rss < 0 {
			continue // exited
		}
		s.mu.Lock()
		s.last[i] = memSample{rss, anon}
		s.peak[i].rss = max(s.peak[i].rss, rss)
		s.peak[i].anon = max(s.peak[i].anon, anon)
		s.mu.Unlock()
	}
}

func (s *memSampler) result(i int) (peak, last memSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[i], s.last[i]
}

// machineCPU reads /proc/stat's first line: the CPU seconds all cores
// spent busy and in total since boot, or -1, -1 where /proc cannot tell.
func machineCPU() (busy, total float64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1, -1
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return -1, -1
	}
	var sum, idle int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1, -1
		}
		if i >= 8 {
			break // guest time is already counted in user time
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return float64(sum-idle) / clockTicks, float64(sum) / clockTicks
}
