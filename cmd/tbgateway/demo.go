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

	"github.com/tbgateway/tbgateway/config"
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
}

// demo is a running emulator and a gateway configured against it, not yet running.
type demo struct {
	emu    *tbemu.Server
	broker *demoBroker
	opcua  *simserver.Server
	gw     *runtime.Gateway
	dir    string
	log    *slog.Logger
}

// run runs the simulated devices and the gateway until ctx ends.
func (d *demo) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { d.broker.runDevices(ctx, d.log) })
	return d.gw.Run(ctx)
}

// close stops the emulator and the broker.
func (d *demo) close() {
	_ = d.opcua.Close()
	d.broker.close()
	d.emu.Close()
}

// startDemo starts the emulator, writes the demo configuration into opts.Dir and builds the gateway from it,
// pointed at the emulator through the TB_GW_HOST/TB_GW_PORT overrides.
func startDemo(ctx context.Context, opts demoOptions) (*demo, error) {
	emu, err := tbemu.Start(ctx, tbemu.Options{MQTTAddr: opts.MQTTAddr, HTTPAddr: opts.HTTPAddr, Logger: opts.Logger.With("component", "tbemu")})
	if err != nil {
		return nil, fmt.Errorf("starting the ThingsBoard emulator: %w", err)
	}
	fail := func(err error) (*demo, error) {
		emu.Close()
		return nil, err
	}
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: demoGatewayName, Type: "gateway", Gateway: true, Token: demoGatewayToken}); err != nil {
		return fail(err)
	}
	if err := writeDemoConfig(opts.Dir); err != nil {
		return fail(err)
	}
	if err := startDemoModbus(ctx, opts.Dir); err != nil {
		return fail(err)
	}
	opcuaSim, err := startDemoOPCUA(ctx, opts.Dir)
	if err != nil {
		return fail(err)
	}
	broker, err := startDemoBroker(opts.Dir, opts.Logger.With("component", "demo-broker"))
	if err != nil {
		_ = opcuaSim.Close()
		return fail(err)
	}
	fail = func(err error) (*demo, error) {
		broker.close()
		_ = opcuaSim.Close()
		emu.Close()
		return nil, err
	}
	host, port, err := net.SplitHostPort(emu.MQTTAddr())
	if err != nil {
		return fail(err)
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
		return fail(err)
	}
	for _, w := range warnings {
		opts.Logger.Warn("config", "warning", w.String())
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: opts.Logger})
	if err != nil {
		return fail(err)
	}
	return &demo{emu: emu, broker: broker, opcua: opcuaSim, gw: gw, dir: opts.Dir, log: opts.Logger}, nil
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
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		return exitConfig
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
	d, err := startDemo(ctx, demoOptions{MQTTAddr: *mqttAddr, HTTPAddr: *httpAddr, Dir: *dir, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		return exitFailed
	}
	defer d.close()
	url := d.emu.HTTPURL()
	fmt.Fprintf(stdout, `tbgateway demo
  gateway config:       %s
  ThingsBoard emulator: MQTT %s, gateway device %q (token %q)
  device MQTT broker:   %s (simulated devices publish to demo/sensor/<name>/data)
  Modbus device:        %q, polled every second over Modbus TCP
  OPC-UA server:        %s (subscribed by the OPC-UA connector)
  see the devices:      %s/            (page with latest values)
                        %s/api/devices (JSON)
  Ctrl-C stops the demo.
`, filepath.Join(d.dir, "tb_gateway.json"), d.emu.MQTTAddr(), demoGatewayName, demoGatewayToken, d.broker.addr, demoModbusDevice, d.opcua.URL, url, url)
	if err := d.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "tbgateway demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}
