// Command ble measures the BLE connector: D simulated BLE sensors (the bluezsim stand-in of bluetoothd on a private
// dbus-daemon) each notify a characteristic R times a second; the built tbgateway binary runs as a child process
// with the BLE connector (one device per sensor, telemetry by notify) and sends to the tbemu ThingsBoard emulator
// in this process.
//
// Each notification carries a 32-bit big-endian counter per sensor, read by the connector's hex converter
// ("[0:4]"), so tbemu's stored values show every missing or repeated notification. It reports the notifications
// sent (accepted by the stand-in: the gateway had a notify session) and the values received at tbemu, and over the
// measuring window the CPU % of one core and the RSS of the gateway process, of dbus-daemon (which carries every
// notification from the stand-in to the gateway) and of this process (stand-in + tbemu).
//
//	make build && go run ./bench/ble -bin bin/tbgateway -devices 50 -rate 10 -window 30s
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tbgateway/tbgateway/bench/procstat"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
	"github.com/tbgateway/tbgateway/tbemu"
)

// The sensors' notifying characteristic.
const (
	serviceUUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
	charUUID    = "0000ffe1-0000-1000-8000-00805f9b34fb"
	token       = "bench-ble"
)

type opts struct {
	bin                     string
	devices                 int
	rate                    float64
	window, settle, timeout time.Duration
	verbose                 bool
}

func main() {
	var o opts
	flag.StringVar(&o.bin, "bin", "bin/tbgateway", "the tbgateway binary to measure")
	flag.IntVar(&o.devices, "devices", 50, "simulated BLE sensors (ThingsBoard devices)")
	flag.Float64Var(&o.rate, "rate", 10, "notifications per second per sensor")
	flag.DurationVar(&o.window, "window", 30*time.Second, "measuring window")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "notifying before the window starts")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound of the whole run")
	flag.BoolVar(&o.verbose, "v", false, "gateway log level info (else warn)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ble:", err)
		os.Exit(1)
	}
}

func mac(i int) string { return fmt.Sprintf("C0:FF:EE:00:%02X:%02X", i>>8, i&0xff) }

func name(i int) string { return fmt.Sprintf("BLE %d", i) }

func run(o opts) error {
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, o.timeout)
	defer cancel()

	bus, err := bluezsim.RunBus(ctx)
	if err != nil {
		return err
	}
	defer bus.Close()
	sim, err := bluezsim.New(ctx, bus.Address, bluezsim.Options{})
	if err != nil {
		return err
	}
	defer sim.Close()
	sensors := make([]*bluezsim.SimDevice, o.devices)
	for i := range sensors {
		sensors[i] = sim.AddDevice(bluezsim.DeviceSpec{Address: mac(i), Name: name(i), RSSI: -60,
			Services: []bluezsim.ServiceSpec{{UUID: serviceUUID, Characteristics: []bluezsim.CharSpec{
				{UUID: charUUID, Flags: []string{"read", "notify"}, Value: make([]byte, 4)}}}}})
	}

	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler), MaxPayloadSize: 1 << 20})
	if err != nil {
		return err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Bench Gateway", Type: "gateway", Gateway: true, Token: token}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-ble-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeConfig(dir, emu.MQTTAddr(), bus.Address, o.devices); err != nil {
		return err
	}
	level := "warn"
	if o.verbose {
		level = "info"
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, o.bin, "--config", dir, "--log-level", level)
	cmd.Stderr = os.Stderr
	cmd.Stdout = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	gw := cmd.Process.Pid

	// Polled: the stand-in has no event for "every sensor has a notify session".
	for poll := time.NewTicker(100 * time.Millisecond); ; {
		n := 0
		for _, s := range sensors {
			if s.Notifying(charUUID) {
				n++
			}
		}
		if n == len(sensors) {
			poll.Stop()
			break
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d sensors subscribed: %w", n, len(sensors), ctx.Err())
		}
	}
	fmt.Printf("gateway start → all %d sensors connected and subscribed: %s\n", len(sensors), time.Since(t0).Round(time.Millisecond))

	// One notifier paces every sensor: each tick, one notification per sensor.
	sent := make([]uint32, len(sensors))
	refused := 0
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
	notifyAll := func() {
		for i, s := range sensors {
			if s.Notify(charUUID, binary.BigEndian.AppendUint32(nil, sent[i])) {
				sent[i]++
			} else {
				refused++
			}
		}
	}
	wait := func(d time.Duration) error {
		end := time.After(d)
		for {
			select {
			case <-tick.C:
				notifyAll()
			case <-end:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := wait(o.settle); err != nil {
		return err
	}
	total := func() (n int) {
		for _, v := range sent {
			n += int(v)
		}
		return n
	}
	s0, w0 := total(), time.Now()
	gw0, bus0, self0 := procstat.CPUOrZero(gw), procstat.CPUOrZero(bus.PID()), procstat.SelfCPU()
	if err := wait(o.window); err != nil {
		return err
	}
	gw1, bus1, self1 := procstat.CPUOrZero(gw), procstat.CPUOrZero(bus.PID()), procstat.SelfCPU()
	wall := time.Since(w0)
	s1 := total()
	gwRSS, gwHWM := procstat.MemoryMB(gw, "VmRSS"), procstat.MemoryMB(gw, "VmHWM")
	tick.Stop()

	// Drain: every notification sent must reach tbemu.
	received := func() (n int) {
		for i := range sensors {
			n += len(emu.Telemetry(name(i), "count"))
		}
		return n
	}
	drainStart := time.Now()
	drainEnd := time.After(30 * time.Second)
	poll := time.NewTicker(100 * time.Millisecond)
drain:
	for received() < total() {
		select {
		case <-poll.C:
		case <-drainEnd:
			break drain
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	poll.Stop()
	got := received()
	lost, dup := gaps(emu, len(sensors))
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	fmt.Printf("window %s: %d notifications sent = %.0f/s (%d sensors × %.0f/s nominal)\n",
		wall.Round(time.Millisecond), s1-s0, float64(s1-s0)/wall.Seconds(), len(sensors), o.rate)
	fmt.Printf("whole run: %d notifications sent, %d refused by the stand-in (no notify session), %d values at tbemu"+
		" (drained %s after the window); missing %d, repeated %d\n",
		total(), refused, got, time.Since(drainStart).Round(time.Millisecond), lost, dup)
	fmt.Printf("gateway process: CPU %.1f %% of one core, RSS %s (peak %s)\n", pct(gw1-gw0), gwRSS, gwHWM)
	fmt.Printf("dbus-daemon: CPU %.1f %% of one core, RSS %s\n", pct(bus1-bus0), procstat.MemoryMB(bus.PID(), "VmRSS"))
	fmt.Printf("this process (BlueZ stand-in + tbemu): CPU %.1f %% of one core, RSS %s\n", pct(self1-self0), procstat.MemoryMB(0, "VmRSS"))
	if got != total() || lost != 0 || dup != 0 {
		return fmt.Errorf("loss: %d sent, %d received, %d missing, %d repeated", total(), got, lost, dup)
	}
	return nil
}

// gaps checks each sensor's stored counter values for missing and repeated steps.
func gaps(emu *tbemu.Server, sensors int) (lost, dup int) {
	for i := range sensors {
		prev := -1.0
		for _, p := range emu.Telemetry(name(i), "count") {
			v, ok := p.Value.(float64)
			if !ok {
				continue
			}
			switch {
			case v == prev:
				dup++
			case v > prev+1:
				lost += int(v - prev - 1)
			}
			prev = v
		}
	}
	return lost, dup
}

func writeConfig(dir, mqttAddr, busAddress string, devices int) error {
	host, portText, err := net.SplitHostPort(mqttAddr)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(portText)
	var devs []any
	for i := range devices {
		devs = append(devs, map[string]any{
			"name": name(i), "MACAddress": mac(i), "type": "hex", "timeout": 10000,
			"telemetry": []any{map[string]any{
				"key": "count", "method": "notify", "characteristicUUID": charUUID, "valueExpression": "[0:4]"}},
		})
	}
	if err := writeJSON(filepath.Join(dir, "ble.json"), map[string]any{
		"name": "BLE", "passiveScanMode": false, "busAddress": busAddress,
		"reportStrategy": map[string]any{"type": "ON_RECEIVED"},
		"devices":        devs,
	}); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "tb_gateway.json"), map[string]any{
		"thingsboard": map[string]any{
			"host": host, "port": port,
			"security":   map[string]any{"type": "accessToken", "accessToken": token},
			"statistics": map[string]any{"enable": false},
		},
		"storage":    map[string]any{"type": "memory", "max_records_count": 1000000},
		"connectors": []any{map[string]any{"type": "ble", "name": "BLE", "configuration": "ble.json"}},
	})
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
