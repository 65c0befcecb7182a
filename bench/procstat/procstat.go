// Package procstat reads a process's CPU time and memory from Linux's /proc, for the benchmark programs.
package procstat

import (
	"bufio"
	"fmt"
	"io"
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
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	d, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// parseStatCPU returns utime+stime from the text of a /proc/PID/stat file.
func parseStatCPU(s string) (time.Duration, error) {
	// The command name may hold spaces and parentheses; the fields after its last closing parenthesis are fixed.
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", s)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q or stime %q is not a number", fields[11], fields[12])
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
	kb, err := parseStatusKB(f, field)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return kb, nil
}

// parseStatusKB returns the value in kB of a field of a /proc/PID/status text.
func parseStatusKB(r io.Reader, field string) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no field %s", field)
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
