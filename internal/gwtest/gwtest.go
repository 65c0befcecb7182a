package gwtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/tbemu"
)

// The gateway device every Env adds to its emulator; configurations written by WriteConfig and the overrides of
// EmulatorEnv authenticate as it.
const (
	GatewayName  = "Test Gateway"
	GatewayToken = "gwtest-gateway-token"
)

// DefaultTimeout bounds an Env's context: a failure bound for a hung test, never a pacing.
const DefaultTimeout = 90 * time.Second

// Options configure New.
type Options struct {
	// Timeout bounds the Env's context; 0 means DefaultTimeout.
	Timeout time.Duration
	// Emulator configures tbemu; a nil Logger becomes TestLogger("tbemu").
	Emulator tbemu.Options
}

// Env is one end-to-end test's ThingsBoard emulator (in process, with the gateway device added) and
// configuration folder. Gateways are started on it with Start, one at a time or one after another (restarts).
type Env struct {
	T   *testing.T
	Ctx context.Context // the test's context, bounded by Options.Timeout
	Emu *tbemu.Server
	Dir string // the configuration folder (a temporary folder of the test)
}

// New starts an emulator for t with the gateway device GatewayName/GatewayToken; it is closed when the test
// ends.
func New(t *testing.T, opts Options) *Env {
	t.Helper()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	eo := opts.Emulator
	if eo.Logger == nil {
		eo.Logger = TestLogger("tbemu")
	}
	emu, err := tbemu.Start(ctx, eo)
	if err != nil {
		t.Fatalf("start tbemu: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: GatewayName, Type: "gateway", Gateway: true, Token: GatewayToken}); err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, Ctx: ctx, Emu: emu, Dir: t.TempDir()}
}

// TestLogger discards, unless the environment variable E2E_LOG is set: then it logs to stderr at debug level.
func TestLogger(component string) *slog.Logger {
	if os.Getenv("E2E_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", component)
}

// Connector is one "connectors" entry of the main file and the content of its file.
type Connector struct {
	Type, Name string
	// File is the connector file's name in the folder; "" means Name + ".json".
	File string
	// Conf is the file's content: []byte or json.RawMessage as they are, anything else encoded as JSON.
	Conf any
	// Class is the entry's "class" (a Python connector class); "" leaves the key out.
	Class string
	// Key is the entry's "key" (gRPC connectors), written when set.
	Key string
}

// Config describes a main file WriteConfig writes.
type Config struct {
	Connectors []Connector
	// Thingsboard holds keys set in (or added to) the "thingsboard" section, over the defaults: the emulator's
	// host and port, the gateway's access token, statistics off, reconnect delays of 0.05-0.5 s.
	Thingsboard map[string]any
	// Storage is the "storage" section; nil means {"type": "memory", "max_records_count": 100000}.
	Storage map[string]any
	// Sections are other top-level sections ("grpc", "gateway", ...).
	Sections map[string]any
}

// WriteConfig writes tb_gateway.json and the connector files into Dir, pointing the gateway at the emulator.
func (e *Env) WriteConfig(c Config) {
	e.T.Helper()
	host, port := e.emulatorHostPort()
	tb := map[string]any{
		"host":                     host,
		"port":                     port,
		"security":                 map[string]any{"type": "accessToken", "accessToken": GatewayToken},
		"statistics":               map[string]any{"enable": false},
		"reconnectMinDelaySeconds": 0.05,
		"reconnectMaxDelaySeconds": 0.5,
	}
	for k, v := range c.Thingsboard {
		tb[k] = v
	}
	storage := c.Storage
	if storage == nil {
		storage = map[string]any{"type": "memory", "max_records_count": 100000}
	}
	conns := []any{}
	for _, cn := range c.Connectors {
		file := cn.File
		if file == "" {
			file = cn.Name + ".json"
		}
		e.WriteFile(file, cn.Conf)
		entry := map[string]any{"type": cn.Type, "name": cn.Name, "configuration": file}
		if cn.Class != "" {
			entry["class"] = cn.Class
		}
		if cn.Key != "" {
			entry["key"] = cn.Key
		}
		conns = append(conns, entry)
	}
	main := map[string]any{"thingsboard": tb, "storage": storage, "connectors": conns}
	for k, v := range c.Sections {
		main[k] = v
	}
	e.WriteFile(config.MainFileJSON, main)
}

// WriteFile writes content into Dir/name (folders created): []byte and json.RawMessage as they are, a string
// as its text, anything else as indented JSON.
func (e *Env) WriteFile(name string, content any) {
	e.T.Helper()
	var b []byte
	switch x := content.(type) {
	case []byte:
		b = x
	case json.RawMessage:
		b = x
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.MarshalIndent(x, "", "  "); err != nil {
			e.T.Fatalf("encode %s: %v", name, err)
		}
	}
	p := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.T.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.T.Fatal(err)
	}
}

// CopyConfig copies the files of the folder src (e.g. a testdata folder with a Python gateway configuration)
// into Dir. Start it with StartOptions.Env set to EmulatorEnv() so that it reaches the emulator.
func (e *Env) CopyConfig(src string) {
	e.T.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		e.WriteFile(rel, data)
		return nil
	})
	if err != nil {
		e.T.Fatalf("copy %s: %v", src, err)
	}
}

// EmulatorEnv returns the environment overrides (the Python gateway's Docker variables host, port, type,
// accessToken) that point any configuration at the emulator as the gateway device.
func (e *Env) EmulatorEnv() map[string]string {
	host, port := e.emulatorHostPort()
	return map[string]string{"host": host, "port": strconv.Itoa(port), "type": "accessToken", "accessToken": GatewayToken}
}

func (e *Env) emulatorHostPort() (string, int) {
	e.T.Helper()
	host, portText, err := net.SplitHostPort(e.Emu.MQTTAddr())
	if err != nil {
		e.T.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		e.T.Fatal(err)
	}
	return host, port
}

// WaitFor waits until cond holds at the emulator (re-checked on every change of the emulator's state); the
// test fails, naming what, when the Env's context ends first.
func (e *Env) WaitFor(what string, cond func() bool) {
	e.T.Helper()
	if err := e.Emu.WaitFor(e.Ctx, cond); err != nil {
		e.T.Fatalf("waiting for %s: %v", what, err)
	}
}

// Eventually polls cond, for state outside the emulator (gateway counters, the device table); the deadline is
// the Env's context, a failure bound only.
func (e *Env) Eventually(what string, cond func() bool) {
	e.T.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-e.Ctx.Done():
			e.T.Fatalf("waiting for %s: %v", what, e.Ctx.Err())
		}
	}
}

// WaitDevice waits until the emulator knows the device and it is connected (through the gateway), and returns
// its state.
func (e *Env) WaitDevice(name string) tbemu.DeviceState {
	e.T.Helper()
	var st tbemu.DeviceState
	e.WaitFor("device "+strconv.Quote(name)+" connected", func() bool {
		var ok bool
		st, ok = e.Emu.Device(name)
		return ok && st.Connected
	})
	return st
}

// WaitTelemetry waits until the emulator holds at least n values of the device's key and returns them (oldest
// first).
func (e *Env) WaitTelemetry(device, key string, n int) []tbemu.TSValue {
	e.T.Helper()
	var got []tbemu.TSValue
	e.WaitFor(fmt.Sprintf("%d values of %s/%s", n, device, key), func() bool {
		got = e.Emu.Telemetry(device, key)
		return len(got) >= n
	})
	return got
}

// WaitAttribute waits until the device's attribute key exists in scope at the emulator and returns its value.
func (e *Env) WaitAttribute(device string, scope tbemu.Scope, key string) any {
	e.T.Helper()
	var v any
	e.WaitFor(fmt.Sprintf("%s attribute %s/%s", scope, device, key), func() bool {
		var ok bool
		v, ok = e.Emu.Attributes(device, scope)[key]
		return ok
	})
	return v
}

// ValueAt returns the value of the device's key at the emulator at ts, if there is one.
func (e *Env) ValueAt(device, key string, ts int64) (any, bool) {
	for _, p := range e.Emu.Telemetry(device, key) {
		if p.TS == ts {
			return p.Value, true
		}
	}
	return nil, false
}

// RPCTimeout bounds one RPC made with RPC.
const RPCTimeout = 30 * time.Second

// RPC makes a two-way server-side RPC from the emulator to device and returns the reply, decoded (numbers as
// float64, as encoding/json does). An RPC that fails or times out fails the test.
func (e *Env) RPC(device, method string, params any) any {
	e.T.Helper()
	var raw json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			e.T.Fatal(err)
		}
		raw = b
	}
	reply, err := e.Emu.RPC(e.Ctx, device, method, raw, false, RPCTimeout)
	if err != nil {
		e.T.Fatalf("rpc %s to %q: %v", method, device, err)
	}
	var out any
	if err := json.Unmarshal(reply, &out); err != nil {
		e.T.Fatalf("rpc %s to %q: reply %s is not JSON: %v", method, device, reply, err)
	}
	return out
}
