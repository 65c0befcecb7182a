package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/tbemu"
)

// demoDevices reads the devices, attribute keys and telemetry keys the demo's simulator config declares.
func demoDevices(t *testing.T) map[string][2][]string {
	t.Helper()
	raw, err := demoFiles.ReadFile("demo/simulator.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Devices []struct {
			DeviceName string
			Attributes []struct{ Key string }
			Timeseries []struct{ Key string }
		}
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	out := map[string][2][]string{}
	for _, d := range cfg.Devices {
		var attrs, ts []string
		for _, a := range d.Attributes {
			attrs = append(attrs, a.Key)
		}
		for _, s := range d.Timeseries {
			ts = append(ts, s.Key)
		}
		out[d.DeviceName] = [2][]string{attrs, ts}
	}
	if len(out) == 0 {
		t.Fatal("the demo simulator config declares no devices")
	}
	return out
}

// TestDemo starts the demo as `make demo` does and passes once every simulated device's attributes and
// telemetry keys have reached the emulator, and the gateway answers gateway_ping.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := startDemo(ctx, demoOptions{MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), BLESim: buildBLESim(t)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.serve(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	}()

	want := demoDevices(t)
	want["OPC-UA Demo Device"] = [2][]string{{"status"}, {"temperature", "humidity", "counter", "running"}}
	want[demoModbusDevice] = [2][]string{{"model"}, {"temperature", "counter"}}
	want[demoBLEDevice] = [2][]string{{"name"}, {"temperature", "humidity", "battery"}}
	for i := 1; i <= demoMQTTDevices; i++ {
		want[fmt.Sprintf("MQTT Sensor %d", i)] = [2][]string{{"model"}, {"temperature", "humidity", "relay"}}
	}
	complete := func() bool {
		for name, keys := range want {
			attrs := d.emu.Attributes(name, tbemu.Scope("client"))
			for _, k := range keys[0] {
				if _, ok := attrs[k]; !ok {
					return false
				}
			}
			latest := d.emu.Latest(name)
			for _, k := range keys[1] {
				if _, ok := latest[k]; !ok {
					return false
				}
			}
		}
		return true
	}
	if err := d.emu.WaitFor(ctx, complete); err != nil {
		t.Fatalf("not every simulated device's data reached the emulator: %v", err)
	}
	for name := range want {
		dev, ok := d.emu.Device(name)
		if !ok || dev.Type == "" || dev.Type == "default" {
			t.Errorf("device %q: got %+v, want it created with its configured type", name, dev)
		}
	}
	reply, err := d.emu.RPC(ctx, demoGatewayName, "gateway_ping", nil, false, 30*time.Second)
	if err != nil {
		t.Fatalf("gateway_ping: %v", err)
	}
	checkDemoWebUI(t, ctx, d)
	var pong struct {
		Code int
		Resp string
	}
	if err := json.Unmarshal(reply, &pong); err != nil || pong.Code != 200 || pong.Resp != "pong" {
		t.Fatalf("gateway_ping replied %s", reply)
	}
}

// stopLog records the warnings and errors logged once armed.
type stopLog struct {
	armed atomic.Bool
	mu    sync.Mutex
	got   []string
}

func (l *stopLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }

func (l *stopLog) Handle(_ context.Context, r slog.Record) error {
	if !l.armed.Load() {
		return nil
	}
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.got = append(l.got, line)
	l.mu.Unlock()
	return nil
}

func (l *stopLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *stopLog) WithGroup(string) slog.Handler      { return l }

// TestDemoStopsCleanly starts the demo, waits until every kind of simulated device (simulator, MQTT, Modbus,
// OPC-UA) has delivered telemetry, then stops it as Ctrl-C does: serve must return, nothing the demo started may
// keep running and the stop logs no warning or error. The simulated devices outlive the gateway, so the OPC-UA
// connector closes its session against a server that still answers; stopping them first left the simulator's
// channel stuck on that close request (and the stop took 14 s). The deadline only guards against a hang; the
// stop takes well under a second.
func TestDemoStopsCleanly(t *testing.T) {
	// The regexp library's clock (MQTT connector expressions) is process-wide and ends by itself a second later.
	ignore := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One context for the start and the run, as runDemo has (its Ctrl-C context).
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	logged := new(stopLog)
	d, err := startDemo(runCtx, demoOptions{MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Dir: t.TempDir(), Logger: slog.New(logged)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.serve(runCtx) }()
	flowing := map[string]string{"OPC-UA Demo Device": "temperature", demoModbusDevice: "counter", "MQTT Sensor 1": "temperature"}
	for name, keys := range demoDevices(t) {
		flowing[name] = keys[1][0]
	}
	if err := d.emu.WaitFor(ctx, func() bool {
		for name, key := range flowing {
			if _, ok := d.emu.Latest(name)[key]; !ok {
				return false
			}
		}
		return true
	}); err != nil {
		stop()
		<-done
		t.Fatalf("data did not flow from every simulated device: %v", err)
	}

	logged.armed.Store(true)
	start := time.Now()
	stop()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop within 20 s of the stop")
	}
	t.Logf("stopped in %v", time.Since(start))
	if err := goleak.Find(ignore...); err != nil {
		t.Errorf("left running after the stop: %v", err)
	}
	logged.mu.Lock()
	defer logged.mu.Unlock()
	for _, line := range logged.got {
		t.Errorf("logged during the stop: %s", line)
	}
}

// buildBLESim builds cmd/blesim, the demo's BLE thermometer, as `make demo` does, and returns its path.
func buildBLESim(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blesim")
	cmd := exec.Command("go", "build", "-o", p, "../blesim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../blesim: %v\n%s", err, out)
	}
	return p
}

// checkDemoWebUI: the demo's gateway web UI listens on loopback, its banner line names the three endpoints,
// /readyz is 200 (connected) and /metrics counts the demo's devices.
func checkDemoWebUI(t *testing.T, ctx context.Context, d *demo) {
	t.Helper()
	ui := d.gw.WebUI()
	if ui == nil {
		t.Fatal("the demo's gateway has no web UI")
	}
	addr, err := ui.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	if line := d.webLine(ctx, make(chan error, 1)); !strings.Contains(line, base+"/metrics") || !strings.Contains(line, base+"/readyz") {
		t.Errorf("banner line %q, want the endpoints at %s", line, base)
	}
	for path, want := range map[string]string{"/readyz": "ready", "/metrics": "tbgateway_devices{connector=\"Demo Modbus device\""} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want 200 with %q", path, resp.Status, want)
		}
	}
}
