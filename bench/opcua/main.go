// Command opcua measures the OPC-UA connector: a node-opcua server in its own process (testpeers/opcua) serves
// D objects × V Double variables that all change every tick; the gateway (runtime + OPC-UA connector, memory
// storage) and the tbemu ThingsBoard emulator run in this process. The connector maps every variable by a
// relative browse path and subscribes to all of them.
//
// It reports the time to subscribe (from the gateway's start until every device has every value at tbemu:
// connect, browse, create the subscription and monitored items, first notifications delivered), the values/s
// delivered to tbemu over the measuring window, missing or repeated changes (every variable is a counter), and
// the CPU % of one core and RSS of this process (gateway + tbemu, so it over-states the gateway alone) and of the
// server process over the same window.
//
//	go run ./bench/opcua -devices 100 -vars 100             # 10,000 items changing every second
//	go run ./bench/opcua -devices 100 -vars 500             # 50,000 items changing every second
//
// tbemu keeps every value it receives, so this process's RSS grows with the run; it is not the gateway's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tbgateway/tbgateway/bench/procstat"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

type opts struct {
	devices, vars, tickMs, subMs int
	window, timeout              time.Duration
	verbose                      bool
}

func main() {
	var o opts
	flag.IntVar(&o.devices, "devices", 100, "OPC-UA objects (ThingsBoard devices)")
	flag.IntVar(&o.vars, "vars", 100, "variables per object (all change every tick)")
	flag.IntVar(&o.tickMs, "tick", 1000, "server change period in ms")
	flag.IntVar(&o.subMs, "sub", 1000, "connector subCheckPeriodInMillis (publishing and sampling interval)")
	flag.DurationVar(&o.window, "window", 30*time.Second, "measuring window after every device has data")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound of the whole run")
	flag.BoolVar(&o.verbose, "v", false, "log the gateway at info level to stderr")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/opcua:", err)
		os.Exit(1)
	}
}

func run(o opts) error {
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-opcua-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	nodemap := filepath.Join(dir, "nodemap.json")
	if err := writeJSON(nodemap, map[string]any{
		"tickMs": o.tickMs, "generate": map[string]any{"namespace": 1, "devices": o.devices, "variables": o.vars},
	}); err != nil {
		return err
	}
	started := time.Now()
	peer, err := opcuapeer.Start(ctx, opcuapeer.Options{NodeMap: nodemap, PKIDir: filepath.Join(dir, "pki"), Stderr: os.Stderr})
	if err != nil {
		return err
	}
	defer peer.Stop()
	fmt.Printf("node-opcua server with %d × %d = %d variables ready in %s (%s)\n", o.devices, o.vars, o.devices*o.vars,
		time.Since(started).Round(time.Millisecond), peer.URL)

	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler), MaxPayloadSize: 1 << 20})
	if err != nil {
		return err
	}
	defer emu.Close()
	const token = "bench-opcua"
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Bench Gateway", Type: "gateway", Gateway: true, Token: token}); err != nil {
		return err
	}
	if err := writeConfig(dir, emu.MQTTAddr(), token, peer.URL, o); err != nil {
		return err
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		return err
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: log})
	if err != nil {
		return err
	}
	gctx, gcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- gw.Run(gctx) }()
	defer func() {
		gcancel()
		<-done
	}()

	devices := make([]string, o.devices)
	for d := range devices {
		devices[d] = fmt.Sprintf("Bench %d", d)
	}
	// Polled rather than emu.WaitFor: re-checking 100 × 500 keys on every emulator change would load this process.
	for poll := time.NewTicker(100 * time.Millisecond); ; {
		all := true
		for _, d := range devices {
			if len(emu.Latest(d)) < o.vars {
				all = false
				break
			}
		}
		if all {
			poll.Stop()
			break
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for every device's values: %w", ctx.Err())
		}
	}
	fmt.Printf("time to subscribe (start → every value of every device at tbemu): %s\n", time.Since(t0).Round(time.Millisecond))

	count := func() int {
		n := 0
		for d := range devices {
			for j := range o.vars {
				n += len(emu.Telemetry(devices[d], "v"+strconv.Itoa(j)))
			}
		}
		return n
	}
	n0, w0, cpu0, srv0 := count(), time.Now(), procstat.SelfCPU(), procstat.CPUOrZero(peer.PID())
	select {
	case <-time.After(o.window):
	case <-ctx.Done():
		return ctx.Err()
	}
	n1, w1, cpu1, srv1 := count(), time.Now(), procstat.SelfCPU(), procstat.CPUOrZero(peer.PID())
	wall := w1.Sub(w0)

	expected := float64(o.devices*o.vars) * wall.Seconds() * 1000 / float64(max(o.tickMs, o.subMs))
	fmt.Printf("window %s: %d values delivered to tbemu = %.0f values/s (server produced ≈ %.0f/s)\n",
		wall.Round(time.Millisecond), n1-n0, float64(n1-n0)/wall.Seconds(), expected/wall.Seconds())
	checked, lost, dup := gaps(emu, devices, o.vars)
	fmt.Printf("every variable is a counter; of %d values stored over the whole run %d changes are missing, %d repeated\n", checked, lost, dup)
	fmt.Printf("gateway + tbemu process: CPU %.0f %% of one core, RSS %s (peak %s)\n",
		100*(cpu1-cpu0).Seconds()/wall.Seconds(), procstat.MemoryMB(0, "VmRSS"), procstat.MemoryMB(0, "VmHWM"))
	fmt.Printf("node-opcua server process: CPU %.0f %% of one core, RSS %s\n",
		100*(srv1-srv0).Seconds()/wall.Seconds(), procstat.MemoryMB(peer.PID(), "VmRSS"))
	return nil
}

// gaps checks each key's stored values, a counter +1 per server tick, for missing and repeated steps.
func gaps(emu *tbemu.Server, devices []string, vars int) (checked, lost, dup int) {
	for _, d := range devices {
		for j := range vars {
			prev := -1.0
			for _, p := range emu.Telemetry(d, "v"+strconv.Itoa(j)) {
				v, ok := p.Value.(float64)
				if !ok {
					continue
				}
				checked++
				switch {
				case prev < 0:
				case v == prev:
					dup++
				case v > prev+1:
					lost += int(v - prev - 1)
				}
				prev = v
			}
		}
	}
	return checked, lost, dup
}

func writeConfig(dir, mqttAddr, token, url string, o opts) error {
	host, portText, err := net.SplitHostPort(mqttAddr)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(portText)
	var mapping []any
	for d := range o.devices {
		ts := make([]any, o.vars)
		for j := range o.vars {
			ts[j] = map[string]any{"key": "v" + strconv.Itoa(j), "type": "path", "value": "${V" + strconv.Itoa(j) + "}"}
		}
		mapping = append(mapping, map[string]any{
			"deviceNodeSource": "path", "deviceNodePattern": fmt.Sprintf(`Root\.Objects\.Dev%d`, d),
			"deviceInfo": map[string]any{"deviceNameExpression": fmt.Sprintf("Bench %d", d), "deviceProfileExpression": "bench"},
			"timeseries": ts,
		})
	}
	if err := writeJSON(filepath.Join(dir, "opcua.json"), map[string]any{
		"server":  map[string]any{"url": url, "security": "None", "subCheckPeriodInMillis": o.subMs, "timeoutInMillis": 10000},
		"mapping": mapping,
	}); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, config.MainFileJSON), map[string]any{
		"thingsboard": map[string]any{
			"host": host, "port": port,
			"security":   map[string]any{"type": "accessToken", "accessToken": token},
			"statistics": map[string]any{"enable": false},
		},
		"storage":    map[string]any{"type": "memory", "max_records_count": 1000000},
		"connectors": []any{map[string]any{"type": opcua.Type, "name": "OPC-UA", "configuration": "opcua.json"}},
	})
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
