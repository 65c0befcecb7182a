package procstat

import (
	"os"
	"testing"
)

func TestSelf(t *testing.T) {
	for i, x := 0, 0; i < 5_000_000; i++ { // burn some CPU so the counters move
		x += i
	}
	cpu, err := CPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU = %v, %v", cpu, err)
	}
	if SelfCPU() <= 0 {
		t.Fatal("SelfCPU is zero")
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
