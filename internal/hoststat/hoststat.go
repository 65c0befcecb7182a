// Package hoststat reads the machine figures the gateway's statistics report (memory, load, disk, the gateway
// process's own memory and CPU time) from Linux's /proc, statfs and getrusage, without cgo. Figures and their
// rounding follow psutil, which the Python gateway uses.
package hoststat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Reader reads from a /proc tree: Proc is "/proc" on a running system, a fixture folder in tests.
type Reader struct {
	Proc string
	// PageSize is the size of a memory page in bytes, for /proc/self/statm; 0 means os.Getpagesize().
	PageSize uint64
}

// System is the Reader of the running system.
func System() Reader { return Reader{Proc: "/proc"} }

// Memory is the machine's memory in bytes, from /proc/meminfo.
type Memory struct {
	Total, Available uint64
}

// UsedPercent is psutil's virtual_memory().percent: the share of memory not available, in percent rounded to
// one decimal.
func (m Memory) UsedPercent() float64 {
	if m.Total == 0 {
		return 0
	}
	return round(float64(m.Total-min(m.Available, m.Total))/float64(m.Total)*100, 1)
}

// Memory reads /proc/meminfo. Available is MemAvailable; a kernel older than 3.14 has none, and then it is
// MemFree + Buffers + Cached.
func (r Reader) Memory() (Memory, error) {
	f, err := os.Open(filepath.Join(r.Proc, "meminfo"))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	kv, err := parseKB(f)
	if err != nil {
		return Memory{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	total, ok := kv["MemTotal"]
	if !ok || total == 0 {
		return Memory{}, fmt.Errorf("%s: no MemTotal", f.Name())
	}
	avail, ok := kv["MemAvailable"]
	if !ok {
		avail = kv["MemFree"] + kv["Buffers"] + kv["Cached"]
	}
	return Memory{Total: total, Available: avail}, nil
}

// parseKB reads "Key:   123 kB" lines, summing repeated keys (smaps has one block per mapping), in bytes.
// Lines without a number (the smaps mapping headers, VmFlags) are skipped.
func parseKB(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[key] += n
	}
	return out, sc.Err()
}

// LoadAvg holds the 1, 5 and 15 minute load averages from /proc/loadavg.
type LoadAvg struct {
	One, Five, Fifteen float64
}

// LoadAvg reads /proc/loadavg.
func (r Reader) LoadAvg() (LoadAvg, error) {
	b, err := os.ReadFile(filepath.Join(r.Proc, "loadavg"))
	if err != nil {
		return LoadAvg{}, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return LoadAvg{}, fmt.Errorf("%s/loadavg: %q: expected three load averages", r.Proc, b)
	}
	var l LoadAvg
	for i, dst := range []*float64{&l.One, &l.Five, &l.Fifteen} {
		if *dst, err = strconv.ParseFloat(f[i], 64); err != nil {
			return LoadAvg{}, fmt.Errorf("%s/loadavg: %w", r.Proc, err)
		}
	}
	return l, nil
}

// CPUPercent is the Python gateway's totalCpuUsage: the 15 minute load average per CPU, in percent rounded to
// two decimals.
func (l LoadAvg) CPUPercent(cpus int) float64 {
	if cpus <= 0 {
		return 0
	}
	return round(l.Fifteen/float64(cpus)*100, 2)
}

// ProcMemory is psutil's memory_full_info() of a process on Linux, in bytes: RSS to Dirty from
// /proc/PID/statm, USS (private clean + private dirty + private hugetlb), PSS and Swap from smaps_rollup (or
// smaps summed on kernels before 4.14).
type ProcMemory struct {
	RSS, VMS, Shared, Text, Lib, Data, Dirty uint64
	USS, PSS, Swap                           uint64
}

// Map returns the figures under psutil's names, as the Python gateway sends gwProcessMemoryFullInfo.
func (m ProcMemory) Map() map[string]uint64 {
	return map[string]uint64{"rss": m.RSS, "vms": m.VMS, "shared": m.Shared, "text": m.Text, "lib": m.Lib,
		"data": m.Data, "dirty": m.Dirty, "uss": m.USS, "pss": m.PSS, "swap": m.Swap}
}

// SelfMemory reads the memory of the process the /proc tree's "self" names.
func (r Reader) SelfMemory() (ProcMemory, error) {
	b, err := os.ReadFile(filepath.Join(r.Proc, "self", "statm"))
	if err != nil {
		return ProcMemory{}, err
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return ProcMemory{}, fmt.Errorf("%s/self/statm: %q: expected 7 fields", r.Proc, bytes.TrimSpace(b))
	}
	page := r.PageSize
	if page == 0 {
		page = uint64(os.Getpagesize())
	}
	var n [7]uint64
	for i := range n {
		if n[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return ProcMemory{}, fmt.Errorf("%s/self/statm: %w", r.Proc, err)
		}
		n[i] *= page
	}
	// statm: size resident shared text lib data dt
	m := ProcMemory{VMS: n[0], RSS: n[1], Shared: n[2], Text: n[3], Lib: n[4], Data: n[5], Dirty: n[6]}
	sf, err := os.Open(filepath.Join(r.Proc, "self", "smaps_rollup"))
	if errors.Is(err, os.ErrNotExist) {
		sf, err = os.Open(filepath.Join(r.Proc, "self", "smaps"))
	}
	if err != nil {
		return ProcMemory{}, err
	}
	defer sf.Close()
	kv, err := parseKB(sf)
	if err != nil {
		return ProcMemory{}, fmt.Errorf("%s: %w", sf.Name(), err)
	}
	m.USS = kv["Private_Clean"] + kv["Private_Dirty"] + kv["Private_Hugetlb"]
	m.PSS, m.Swap = kv["Pss"], kv["Swap"]
	return m, nil
}

// Disk is the usage of one filesystem in bytes, as psutil's disk_usage: Free is what unprivileged users may
// still use, Used excludes the blocks reserved for root.
type Disk struct {
	Total, Used, Free uint64
}

// UsedPercent is psutil's disk_usage().percent: used over what users can have (used + free), in percent
// rounded to one decimal.
func (d Disk) UsedPercent() float64 {
	if d.Used+d.Free == 0 {
		return 0
	}
	return round(float64(d.Used)/float64(d.Used+d.Free)*100, 1)
}

// diskFromStatfs computes Disk from statfs figures (all in blocks of frsize bytes).
func diskFromStatfs(blocks, bfree, bavail, frsize uint64) Disk {
	total := blocks * frsize
	return Disk{Total: total, Used: total - min(bfree*frsize, total), Free: bavail * frsize}
}

// HumanBytes is psutil's bytes2human, which the Python gateway uses for totalMemory, totalDisk and freeDisk:
// one decimal and the largest binary unit the value reaches ("15.5G", "512.0M", "100.0B").
func HumanBytes(n uint64) string {
	const symbols = "KMGTPEZY"
	for i := len(symbols) - 1; i >= 0; i-- {
		prefix := math.Pow(2, float64(10*(i+1)))
		if float64(n) >= prefix {
			return strconv.FormatFloat(float64(n)/prefix, 'f', 1, 64) + symbols[i:i+1]
		}
	}
	return strconv.FormatUint(n, 10) + ".0B"
}

// round rounds half away from zero to d decimals (Python's round is half to even on the binary value; the two
// differ only on exact halves, which these ratios do not produce in practice).
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}
