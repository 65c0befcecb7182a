package procstat

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name holding spaces and a closing parenthesis; utime 250 and stime 50 ticks.
	stat := "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 200 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	if got, err := parseStatCPU(stat); err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 no parenthesis", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 1 1 0 0 0 u s 0"} {
		if got, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tgw\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n"
	if got, err := parseStatusKB(strings.NewReader(status), "VmRSS"); err != nil || got != 10240 {
		t.Fatalf("VmRSS = %d, %v; want 10240", got, err)
	}
	if got, err := parseStatusKB(strings.NewReader(status), "VmHWM"); err != nil || got != 20480 {
		t.Fatalf("VmHWM = %d, %v; want 20480", got, err)
	}
	if _, err := parseStatusKB(strings.NewReader(status), "VmSwap"); err == nil || !strings.Contains(err.Error(), "VmSwap") {
		t.Fatalf("a missing field gave %v, want an error naming it", err)
	}
}

// TestSelf reads this process's own files: it burns CPU until /proc shows some (its clock ticks every 10 ms, so a
// fixed amount of work may not show), and fails only when nothing shows within a deadline far beyond one tick.
func TestSelf(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	var cpu time.Duration
	var err error
	for x := 0; ; x++ {
		if x%1_000_000 == 0 {
			if cpu, err = CPU(os.Getpid()); err != nil {
				t.Fatal(err)
			}
			if cpu > 0 && SelfCPU() > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no CPU time after burning for 30 s: /proc %v, getrusage %v", cpu, SelfCPU())
			}
		}
	}
	rss, err := MemoryKB(0, "VmRSS")
	if err != nil || rss == 0 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
	if byPID, err := MemoryKB(os.Getpid(), "VmHWM"); err != nil || byPID < rss/2 {
		t.Fatalf("VmHWM = %d, %v (VmRSS %d)", byPID, err, rss)
	}
	if _, err := MemoryKB(0, "NoSuchField"); err == nil {
		t.Fatal("a missing field gave no error")
	}
}
