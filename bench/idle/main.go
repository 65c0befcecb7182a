// Command idle measures the gateway at rest: it starts the ThingsBoard emulator in this process, runs the built
// tbgateway binary as a child against it with a config that has no device traffic, waits until the gateway is
// connected, then reports the child's resident memory and the CPU time it used over the measuring window.
//
//	make build && go run ./bench/idle -bin bin/tbgateway -window 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tbgateway/tbgateway/bench/procstat"
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
	cpu0, err := procstat.CPU(pid)
	if err != nil {
		return err
	}
	time.Sleep(window)
	cpu1, err := procstat.CPU(pid)
	if err != nil {
		return err
	}
	rss, err := procstat.MemoryKB(pid, "VmRSS")
	if err != nil {
		return err
	}
	used := cpu1 - cpu0
	fmt.Printf("idle gateway over %s: CPU time %s (%.3f%% of one core), RSS %.1f MB\n",
		window, used, 100*used.Seconds()/window.Seconds(), float64(rss)/1024)
	return nil
}
