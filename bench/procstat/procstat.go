// Package procstat reads a process's CPU time and memory from Linux's /proc, for the benchmark programs.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ticksPerSecond is USER_HZ, the unit of the CPU times in /proc/PID/stat on Linux.
const ticksPerSecond = 100

// SelfCPU returns this process's user+system CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPU returns the user+system CPU time of process pid, from /proc/PID/stat.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after its closing parenthesis are fixed.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / ticksPerSecond, nil
}

// MemoryKB returns a memory field of /proc/PID/status in kB, such as "VmRSS" (resident now) or "VmHWM" (peak
// resident); pid 0 means this process.
func MemoryKB(pid int, field string) (uint64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// CPUOrZero is CPU without the error: 0 when the process's stat cannot be read (it has exited).
func CPUOrZero(pid int) time.Duration {
	d, _ := CPU(pid)
	return d
}

// MemoryMB formats MemoryKB as whole megabytes, or "unknown" when it cannot be read.
func MemoryMB(pid int, field string) string {
	kb, err := MemoryKB(pid, field)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MB", float64(kb)/1024)
}
