package hoststat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadProcFixtures: /proc files of a current kernel and of one before MemAvailable (3.14) and
// smaps_rollup (4.14) give psutil's figures; truncated files are errors naming the file.
func TestReadProcFixtures(t *testing.T) {
	cases := []struct {
		dir     string
		mem     Memory
		usedPct float64
		load    LoadAvg
		cpuPct  float64 // with 4 CPUs
		proc    ProcMemory
	}{
		{
			dir:     "modern",
			mem:     Memory{Total: 24683772 * 1024, Available: 23662672 * 1024},
			usedPct: 4.1, // (24683772-23662672)/24683772 = 4.137 %
			load:    LoadAvg{One: 20.64, Five: 11.71, Fifteen: 5.83},
			cpuPct:  145.75,
			proc: ProcMemory{VMS: 765 * 4096, RSS: 409 * 4096, Shared: 380 * 4096, Text: 5 * 4096, Lib: 0, Data: 123 * 4096,
				USS: (40 + 116 + 2048) * 1024, PSS: 219 * 1024, Swap: 12 * 1024},
		},
		{
			dir:     "old",
			mem:     Memory{Total: 1000000 * 1024, Available: (200000 + 50000 + 250000) * 1024},
			usedPct: 50,
			load:    LoadAvg{One: 0, Five: 0.01, Fifteen: 0.05},
			cpuPct:  1.25,
			proc: ProcMemory{VMS: 1000 * 4096, RSS: 200 * 4096, Shared: 100 * 4096, Text: 10 * 4096, Data: 50 * 4096,
				USS: (50 + 50 + 8) * 1024, PSS: (150 + 8) * 1024, Swap: 4 * 1024},
		},
	}
	for _, c := range cases {
		r := Reader{Proc: filepath.Join("testdata", c.dir), PageSize: 4096}
		mem, err := r.Memory()
		if err != nil || mem != c.mem || mem.UsedPercent() != c.usedPct {
			t.Errorf("%s: Memory = %+v (%v %%), %v; want %+v (%v %%)", c.dir, mem, mem.UsedPercent(), err, c.mem, c.usedPct)
		}
		load, err := r.LoadAvg()
		if err != nil || load != c.load || load.CPUPercent(4) != c.cpuPct {
			t.Errorf("%s: LoadAvg = %+v (%v %%), %v; want %+v (%v %%)", c.dir, load, load.CPUPercent(4), err, c.load, c.cpuPct)
		}
		proc, err := r.SelfMemory()
		if err != nil || proc != c.proc {
			t.Errorf("%s: SelfMemory = %+v, %v\nwant %+v", c.dir, proc, err, c.proc)
		}
		if m := proc.Map(); len(m) != 10 || m["uss"] != c.proc.USS || m["rss"] != c.proc.RSS {
			t.Errorf("%s: Map = %v", c.dir, m)
		}
	}
	broken := Reader{Proc: filepath.Join("testdata", "broken")}
	if _, err := broken.Memory(); err == nil {
		t.Error("meminfo without MemTotal: no error")
	}
	if _, err := broken.LoadAvg(); err == nil {
		t.Error("loadavg with two fields: no error")
	}
	if _, err := broken.SelfMemory(); err == nil {
		t.Error("statm with three fields: no error")
	}
	if _, err := (Reader{Proc: filepath.Join("testdata", "missing")}).Memory(); !os.IsNotExist(err) {
		t.Errorf("missing /proc: %v", err)
	}
}

// TestDiskFromStatfs: psutil's disk_usage arithmetic; root's reserved blocks are neither used nor free.
func TestDiskFromStatfs(t *testing.T) {
	d := diskFromStatfs(1000, 300, 250, 4096)
	if d.Total != 1000*4096 || d.Used != 700*4096 || d.Free != 250*4096 || d.UsedPercent() != 73.7 {
		t.Errorf("disk = %+v (%v %%)", d, d.UsedPercent())
	}
	if (Disk{}).UsedPercent() != 0 || (Memory{}).UsedPercent() != 0 || (LoadAvg{Fifteen: 1}).CPUPercent(0) != 0 {
		t.Error("zero figures must not divide by zero")
	}
}

// TestHumanBytes: psutil's bytes2human strings.
func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0.0B", 100: "100.0B", 1023: "1023.0B", 1024: "1.0K", 1536: "1.5K", 24683772 * 1024: "23.5G",
		5 << 40: "5.0T", 1<<20 - 1: "1024.0K",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestLiveSystem: the running machine's figures are there and plausible (Linux only).
func TestLiveSystem(t *testing.T) {
	r := System()
	mem, err := r.Memory()
	if err != nil || mem.Total == 0 || mem.Available > mem.Total {
		t.Errorf("Memory = %+v, %v", mem, err)
	}
	if _, err := r.LoadAvg(); err != nil {
		t.Error(err)
	}
	if p, err := r.SelfMemory(); err != nil || p.RSS == 0 || p.VMS < p.RSS {
		t.Errorf("SelfMemory = %+v, %v", p, err)
	}
	if d, err := DiskUsage(t.TempDir()); err != nil || d.Total == 0 || d.Used+d.Free > d.Total {
		t.Errorf("DiskUsage = %+v, %v", d, err)
	}
	if cpu, err := ProcessCPU(); err != nil || cpu <= 0 {
		t.Errorf("ProcessCPU = %v, %v", cpu, err)
	}
}
