package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/connectors/opcua/simserver"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// demoFiles is the demo's configuration: the gateway's main file and one file per simulated device source.
//
//go:embed demo/*.json
var demoFiles embed.FS

// demoGateway is the gateway device the demo creates in the emulator; its token is in demo/tb_gateway.json.
const (
	demoGatewayName  = "Demo Gateway"
	demoGatewayToken = "demo-gateway-token"
)

// demoOptions configure startDemo.
type demoOptions struct {
	MQTTAddr string // the emulator's MQTT listener
	HTTPAddr string // the emulator's HTTP API
	Dir      string // where the demo config is written
	Logger   *slog.Logger
	// BrokerLogger is the device MQTT broker's log (default Logger); its start and stop lines are not the demo's
	// story, so the command gives it warnings only.
	BrokerLogger *slog.Logger
	// BLESim is the BLE simulator program (cmd/blesim); "" looks for "blesim" next to this executable and runs
	// the demo without BLE when there is none.
	BLESim string
}

// demo is a running emulator with simulated devices, and a gateway configured against them, not yet running.
type demo struct {
	emu      *tbemu.Server
	broker   *demoBroker
	modbus   *modbus.Server
	opcua    *simserver.Server
	ble      *demoBLE // nil when the demo runs without BLE
	bleNote  string   // why the demo runs without BLE
	gw       *runtime.Gateway
	dir      string
	log      *slog.Logger
	stopSims context.CancelFunc // ends the simulated devices' own context
	sims     sync.WaitGroup     // the simulated MQTT devices
}

// serve runs the gateway until ctx ends, then stops the simulated devices and the emulator. The devices and
// the emulator outlive the gateway, as real ones would: the gateway's connectors close their sessions against
// servers that still answer, and its last records still reach the emulator.
func (d *demo) serve(ctx context.Context) error {
	defer d.close()
	return d.gw.Run(ctx)
}

// close stops the simulated devices, the broker and the emulator (those started); the gateway must have stopped.
func (d *demo) close() {
	d.stopSims()
	d.sims.Wait()
	if d.ble != nil {
		d.ble.close()
	}
	if d.opcua != nil {
		_ = d.opcua.Close()
	}
	if d.modbus != nil {
		_ = d.modbus.Close()
	}
	if d.broker != nil {
		d.broker.close()
	}
	if d.emu != nil {
		_ = d.emu.Close()
	}
}

// startDemo starts the emulator and the simulated devices, writes the demo configuration into opts.Dir and
// builds the gateway from it, pointed at the emulator through the TB_GW_HOST/TB_GW_PORT overrides. ctx bounds
// the start only: the devices and the emulator run until serve (or close) stops them.
func startDemo(ctx context.Context, opts demoOptions) (_ *demo, err error) {
	simCtx, stopSims := context.WithCancel(context.WithoutCancel(ctx))
	d := &demo{dir: opts.Dir, log: opts.Logger, stopSims: stopSims}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	d.emu, err = tbemu.Start(ctx, tbemu.Options{MQTTAddr: opts.MQTTAddr, HTTPAddr: opts.HTTPAddr, Logger: opts.Logger.With("component", "tbemu")})
	if err != nil {
		return nil, fmt.Errorf("starting the ThingsBoard emulator: %w", err)
	}
	if err := d.emu.AddDevice(tbemu.DeviceSpec{Name: demoGatewayName, Type: "gateway", Gateway: true, Token: demoGatewayToken}); err != nil {
		return nil, err
	}
	if err := writeDemoConfig(opts.Dir); err != nil {
		return nil, err
	}
	if d.modbus, err = startDemoModbus(simCtx, opts.Dir); err != nil {
		return nil, fmt.Errorf("starting the Modbus simulator: %w", err)
	}
	if d.opcua, err = startDemoOPCUA(simCtx, opts.Dir); err != nil {
		return nil, fmt.Errorf("starting the OPC-UA simulator: %w", err)
	}
	if path := findBLESim(opts.BLESim); path == "" {
		d.bleNote = "not shown: no blesim program next to tbgateway (make demo builds it)"
	} else if d.ble, err = startDemoBLE(ctx, path, opts.Dir); err != nil {
		d.bleNote = fmt.Sprintf("not shown: the BLE simulator did not start: %v", err)
		opts.Logger.Warn("demo: BLE thermometer "+d.bleNote, "program", path)
		err = nil
	}
	brokerLog := opts.BrokerLogger
	if brokerLog == nil {
		brokerLog = opts.Logger
	}
	if d.broker, err = startDemoBroker(opts.Dir, brokerLog.With("component", "demo-broker")); err != nil {
		return nil, fmt.Errorf("starting the device MQTT broker: %w", err)
	}
	d.sims.Go(func() { d.broker.runDevices(simCtx, d.log) })
	host, port, err := net.SplitHostPort(d.emu.MQTTAddr())
	if err != nil {
		return nil, err
	}
	env := func(k string) string {
		switch k {
		case "TB_GW_HOST":
			return host
		case "TB_GW_PORT":
			return port
		}
		return os.Getenv(k)
	}
	cfg, warnings, err := config.Load(opts.Dir, env)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		opts.Logger.Warn("config", "warning", w.String())
	}
	if d.gw, err = runtime.New(cfg, runtime.Options{Logger: opts.Logger}); err != nil {
		return nil, err
	}
	return d, nil
}

// writeDemoConfig copies the embedded demo configuration into dir.
func writeDemoConfig(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(demoFiles, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := demoFiles.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644)
	})
}

// runDemo runs `tbgateway demo`: the emulator and the gateway until Ctrl-C.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mqttAddr := fs.String("mqtt", "127.0.0.1:0", "the emulator's MQTT address (port 0 picks a free port)")
	httpAddr := fs.String("http", "127.0.0.1:8088", "the emulator's HTTP API and page")
	dir := fs.String("dir", "", "folder for the demo configuration (default: a new temporary folder)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	bleSim := fs.String("ble-sim", "", "the BLE simulator program (default: blesim next to tbgateway, if there)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		return exitConfig
	}
	brokerLog := log
	if *logLevel == "info" {
		brokerLog, _ = newLogger(stderr, "warn", "text")
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "tbgateway-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
			return exitFailed
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C during the stop ends the process at once
	fmt.Fprintln(stdout, "tbgateway demo: starting the ThingsBoard emulator, the simulated devices and the gateway...")
	d, err := startDemo(ctx, demoOptions{MQTTAddr: *mqttAddr, HTTPAddr: *httpAddr, Dir: *dir, Logger: log, BrokerLogger: brokerLog, BLESim: *bleSim})
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintln(stderr, "tbgateway demo: is another demo running? -http 127.0.0.1:0 picks a free port for the page")
		}
		return exitFailed
	}
	served := make(chan error, 1)
	go func() { served <- d.serve(ctx) }()
	url := d.emu.HTTPURL()
	fmt.Fprintf(stdout, `tbgateway demo
  gateway config:       %s
  ThingsBoard emulator: MQTT %s, gateway device %q (token %q)
  device MQTT broker:   %s (simulated devices publish to demo/sensor/<name>/data)
  Modbus device:        %q, polled every second over Modbus TCP
  OPC-UA server:        %s (subscribed by the OPC-UA connector)
  BLE thermometer:      %s
  see the devices:      %s/             (latest values, refreshed every 2 s)
                        %s/api/overview (the same as JSON)
  gateway web UI:       %s
  Ctrl-C stops the demo.
`, filepath.Join(d.dir, "tb_gateway.json"), d.emu.MQTTAddr(), demoGatewayName, demoGatewayToken, d.broker.addr, demoModbusDevice, d.opcua.URL, d.bleLine(), url, url, d.webLine(ctx, served))
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// bleLine describes the BLE part of the demo for the banner.
func (d *demo) bleLine() string {
	if d.ble == nil {
		return d.bleNote
	}
	return fmt.Sprintf("%q, notifying over a simulated BlueZ on D-Bus %s", demoBLEDevice, d.ble.bus)
}

// webLineWait bounds the banner's wait for the gateway's web UI listener (a failed listen is retried and logged).
const webLineWait = 5 * time.Second

// webLine waits until the gateway's web UI listens and describes its endpoints for the banner; it gives up when
// the gateway stopped (served has a value, put back for the caller) or after webLineWait.
func (d *demo) webLine(ctx context.Context, served chan error) string {
	ui := d.gw.WebUI()
	if ui == nil {
		return "off (webUI.enabled is false)"
	}
	wctx, cancel := context.WithTimeout(ctx, webLineWait)
	defer cancel()
	go func() {
		select {
		case err := <-served:
			served <- err
			cancel()
		case <-wctx.Done():
		}
	}()
	addr, err := ui.Addr(wctx)
	if err != nil {
		return "not listening (see the log)"
	}
	base := "http://" + addr.String()
	return fmt.Sprintf("%s/metrics (Prometheus), %s/healthz, %s/readyz", base, base, base)
}
