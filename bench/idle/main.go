// Command idle measures the gateway at rest: it starts the ThingsBoard emulator in this process, runs the built
// tbgateway binary as a child against it with a config that has no device traffic, waits until the gateway is
// connected, then reports the child's resident memory and the CPU time it used over the measuring window.
//
//	make build && go run ./bench/idle -bin bin/tbgateway -window 60s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
)

func main() {
	bin := flag.String("bin", "bin/tbgateway", "the tbgateway binary to measure")
	window := flag.Duration("window", 30*time.Second, "how long to measure CPU time for")
	settle := flag.Duration("settle", 5*time.Second, "how long to wait after connecting before measuring")
	flag.Parse()
	if err := run(*bin, *window, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(bin string, window, settle time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), window+settle+time.Minute)
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Idle Gateway", Gateway: true, Token: "idle-token"}); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	dir, err := os.MkdirTemp("", "tbgateway-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := fmt.Sprintf(`{"thingsboard":{"host":%q,"port":%s,"security":{"accessToken":"idle-token"},
		"statistics":{"enable":true,"statsSendPeriodInSeconds":60}},"storage":{"type":"memory"},"connectors":[]}`, host, port)
	if err := os.WriteFile(filepath.Join(dir, "tb_gateway.json"), []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--config", dir, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	connected := func() bool { d, ok := emu.Device("Idle Gateway"); return ok && d.Connected }
	if err := emu.WaitFor(ctx, connected); err != nil {
		return fmt.Errorf("the gateway did not connect: %w", err)
	}
	time.Sleep(settle) // a measurement window, not synchronisation
	pid := cmd.Process.Pid
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	time.Sleep(window)
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	rss, err := rssKB(pid)
	if err != nil {
		return err
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	used := time.Duration(cpu1-cpu0) * time.Second / ticksPerSecond
	fmt.Printf("idle gateway over %s: CPU time %s (%.3f%% of one core), RSS %.1f MB\n",
		window, used, 100*used.Seconds()/window.Seconds(), float64(rss)/1024)
	return nil
}

// cpuTicks returns utime+stime of a process in clock ticks, from /proc/PID/stat.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields after the closing parenthesis are fixed.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseUint(fields[11], 10, 64)
	s, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return u + s, nil
}

// rssKB returns VmRSS of a process in kB.
func rssKB(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
