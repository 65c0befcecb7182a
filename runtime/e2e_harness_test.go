package runtime_test

// The end-to-end harness: an in-process ThingsBoard emulator, a gateway configured against it from files in a
// temporary folder, and test-only connector types whose behaviour the tests drive.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	gwName  = "E2E Gateway"
	gwToken = "e2e-gateway-token"
	// testTimeout bounds every end-to-end test; it is a failure bound, never a pacing.
	testTimeout = 90 * time.Second
	// rpcTimeout bounds one RPC made through the emulator.
	rpcTimeout = 30 * time.Second
)

// Test-only connector types.
const (
	probeType = "e2etest" // driven by the test through a probe
	failType  = "e2efail" // Run always fails: {"mode":"error"} or {"mode":"panic"}
)

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: probeType, New: newProbeConnector})
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: failType, New: newFailConnector})
}

// probes maps a probe key (written into the connector file) to the probe a test created.
var probes = struct {
	sync.Mutex
	m map[string]*probe
}{m: map[string]*probe{}}

// attrUpdate is one UpdateAttributes call a probe received.
type attrUpdate struct {
	Device string
	Values map[string]any
}

// probe is the test's handle on one "e2etest" connector: it hands out the connector's Sink and collects the
// downlink calls the runtime routes to it. HandleRPC echoes the request (method "fail" returns an error).
type probe struct {
	key        string
	name       string
	devices    []tbgateway.DeviceInfo
	sharedKeys map[string][]string

	mu      sync.Mutex
	sink    tbgateway.Sink
	started chan struct{}
	once    sync.Once

	updates chan attrUpdate
	rpcs    chan tbgateway.RPCRequest
}

// newProbe registers a probe for the connector called name in this test.
func newProbe(t *testing.T, name string) *probe {
	t.Helper()
	p := &probe{
		key: t.Name() + "/" + name, name: name, sharedKeys: map[string][]string{},
		started: make(chan struct{}), updates: make(chan attrUpdate, 256), rpcs: make(chan tbgateway.RPCRequest, 256),
	}
	probes.Lock()
	probes.m[p.key] = p
	probes.Unlock()
	t.Cleanup(func() {
		probes.Lock()
		delete(probes.m, p.key)
		probes.Unlock()
	})
	return p
}

// conn returns the connector entry for the gateway's config.
func (p *probe) conn() connSpec {
	return connSpec{Type: probeType, Name: p.name, Conf: map[string]any{"probe": p.key}}
}

// Sink waits until the connector runs and returns its sink.
func (p *probe) Sink(t *testing.T, ctx context.Context) tbgateway.Sink {
	t.Helper()
	select {
	case <-p.started:
	case <-ctx.Done():
		t.Fatalf("connector %q never started: %v", p.name, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sink
}

// send hands records to the connector's sink and fails the test on an error.
func (p *probe) send(t *testing.T, ctx context.Context, recs ...tbgateway.Record) {
	t.Helper()
	if err := p.Sink(t, ctx).Send(ctx, recs...); err != nil {
		t.Fatalf("connector %q: Send: %v", p.name, err)
	}
}

// nextUpdate waits for the next attribute update routed to the connector.
func (p *probe) nextUpdate(t *testing.T, ctx context.Context) attrUpdate {
	t.Helper()
	select {
	case u := <-p.updates:
		return u
	case <-ctx.Done():
		t.Fatalf("connector %q: no attribute update arrived: %v", p.name, ctx.Err())
	}
	return attrUpdate{}
}

// nextRPC waits for the next RPC routed to the connector.
func (p *probe) nextRPC(t *testing.T, ctx context.Context) tbgateway.RPCRequest {
	t.Helper()
	select {
	case r := <-p.rpcs:
		return r
	case <-ctx.Done():
		t.Fatalf("connector %q: no RPC arrived: %v", p.name, ctx.Err())
	}
	return tbgateway.RPCRequest{}
}

// probeConnector is the tbgateway.Connector behind a probe.
type probeConnector struct{ p *probe }

func newProbeConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	var c struct {
		Probe string `json:"probe"`
	}
	if err := json.Unmarshal(cfg.Raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	probes.Lock()
	p := probes.m[c.Probe]
	probes.Unlock()
	if p == nil {
		return nil, fmt.Errorf("%s: no probe %q registered", cfg.File, c.Probe)
	}
	return &probeConnector{p: p}, nil
}

func (c *probeConnector) Run(ctx context.Context, sink tbgateway.Sink) error {
	c.p.mu.Lock()
	c.p.sink = sink
	c.p.mu.Unlock()
	c.p.once.Do(func() { close(c.p.started) })
	<-ctx.Done()
	return nil
}

func (c *probeConnector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	select {
	case c.p.updates <- attrUpdate{Device: device, Values: values}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeReply is what a probe's HandleRPC answers.
type probeReply struct {
	Connector string          `json:"connector"`
	Device    string          `json:"device"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
}

func (c *probeConnector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	select {
	case c.p.rpcs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if req.Method == "fail" {
		return nil, fmt.Errorf("connector %s refuses method %q", c.p.name, req.Method)
	}
	params := req.Params
	if len(params) == 0 {
		params = json.RawMessage("null")
	}
	return json.Marshal(probeReply{Connector: c.p.name, Device: req.Device, Method: req.Method, Params: params})
}

func (c *probeConnector) SharedAttributeKeys(device string) []string { return c.p.sharedKeys[device] }

func (c *probeConnector) Devices() []tbgateway.DeviceInfo { return c.p.devices }

// failConnector always fails, by error or panic.
type failConnector struct{ panics bool }

func newFailConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	var c struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal(cfg.Raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	return &failConnector{panics: c.Mode == "panic"}, nil
}

var errDeliberate = errors.New("e2efail: deliberate failure")

func (c *failConnector) Run(ctx context.Context, sink tbgateway.Sink) error {
	if c.panics {
		panic("e2efail: deliberate panic")
	}
	return errDeliberate
}

// connSpec is one "connectors" entry and the content of its file.
type connSpec struct {
	Type, Name string
	Conf       map[string]any
}

// setup describes one gateway: its connectors, extra keys of the "thingsboard" section, runtime options.
type setup struct {
	connectors []connSpec
	tb         map[string]any
	storage    map[string]any // the "storage" section; nil means memory
	opts       runtime.Options
}

// e2e is one test's emulator and folder; gateways are started on it with start.
type e2e struct {
	t   *testing.T
	ctx context.Context
	emu *tbemu.Server
	dir string
}

// newE2E starts an emulator with the gateway device and returns the test's context (bounded by testTimeout).
func newE2E(t *testing.T) *e2e {
	t.Helper()
	return newE2ETimeout(t, testTimeout)
}

// newE2ETimeout is newE2E for a long test: its context is bounded by timeout.
func newE2ETimeout(t *testing.T, timeout time.Duration) *e2e {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: testLogger("tbemu"), MaxStringValueLength: maxStringValue})
	if err != nil {
		t.Fatalf("start tbemu: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: gwName, Type: "gateway", Gateway: true, Token: gwToken}); err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, ctx: ctx, emu: emu, dir: t.TempDir()}
}

// testLogger discards, unless E2E_LOG is set (then it logs to stderr at debug level).
func testLogger(component string) *slog.Logger {
	if os.Getenv("E2E_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", component)
}

// writeConfig writes tb_gateway.json and the connector files into the test's folder.
func (e *e2e) writeConfig(s setup) {
	e.t.Helper()
	host, portText, err := net.SplitHostPort(e.emu.MQTTAddr())
	if err != nil {
		e.t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	tb := map[string]any{
		"host":                     host,
		"port":                     port,
		"security":                 map[string]any{"type": "accessToken", "accessToken": gwToken},
		"statistics":               map[string]any{"enable": false},
		"reconnectMinDelaySeconds": 0.05,
		"reconnectMaxDelaySeconds": 0.5,
	}
	for k, v := range s.tb {
		tb[k] = v
	}
	storage := s.storage
	if storage == nil {
		storage = map[string]any{"type": "memory", "max_records_count": 100000}
	}
	var conns []map[string]any
	for _, c := range s.connectors {
		file := c.Name + ".json"
		writeJSON(e.t, filepath.Join(e.dir, file), c.Conf)
		conns = append(conns, map[string]any{"type": c.Type, "name": c.Name, "configuration": file})
	}
	writeJSON(e.t, filepath.Join(e.dir, config.MainFileJSON), map[string]any{
		"thingsboard": tb,
		"storage":     storage,
		"connectors":  conns,
	})
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// gwRun is a running gateway.
type gwRun struct {
	gw   *runtime.Gateway
	cfg  *config.Config
	stop func() // cancels Run and waits for it; idempotent
}

// start writes the config, builds the gateway and runs it until stop or the end of the test, then waits for
// the first connection to the emulator.
func (e *e2e) start(s setup) *gwRun {
	e.t.Helper()
	e.writeConfig(s)
	cfg, _, err := config.Load(e.dir, nil)
	if err != nil {
		e.t.Fatalf("config.Load: %v", err)
	}
	opts := s.opts
	if opts.Logger == nil {
		opts.Logger = testLogger("gateway")
	}
	gw, err := runtime.New(cfg, opts)
	if err != nil {
		e.t.Fatalf("runtime.New: %v", err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	var once sync.Once
	r := &gwRun{gw: gw, cfg: cfg}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("gateway Run returned %v", err)
			}
		})
	}
	e.t.Cleanup(r.stop)
	r.waitEvent(e.t, e.ctx, uplink.EventConnected)
	return r
}

// waitEvent reads the link's events until one of type typ and returns it.
func (r *gwRun) waitEvent(t *testing.T, ctx context.Context, typ uplink.EventType) uplink.Event {
	t.Helper()
	for {
		select {
		case ev := <-r.gw.Link().Events():
			if ev.Type == typ {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("no %s event from the link: %v", typ, ctx.Err())
		}
	}
}

// waitFor waits until cond holds at the emulator (re-checked on every emulator state change).
func (e *e2e) waitFor(what string, cond func() bool) {
	e.t.Helper()
	if err := e.emu.WaitFor(e.ctx, cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// eventually polls cond, for state outside the emulator (gateway counters, the device table). The deadline is
// the test's, a failure bound only.
func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-e.ctx.Done():
			e.t.Fatalf("waiting for %s: %v", what, e.ctx.Err())
		}
	}
}

// rpc makes a two-way RPC from the emulator and decodes the reply into a generic map.
func (e *e2e) rpc(device, method string, params any) map[string]any {
	e.t.Helper()
	var raw json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			e.t.Fatal(err)
		}
		raw = b
	}
	reply, err := e.emu.RPC(e.ctx, device, method, raw, false, rpcTimeout)
	if err != nil {
		e.t.Fatalf("rpc %s to %q: %v", method, device, err)
	}
	var out map[string]any
	if err := json.Unmarshal(reply, &out); err != nil {
		e.t.Fatalf("rpc %s to %q: reply %s is not a JSON object: %v", method, device, reply, err)
	}
	return out
}

// valueAt returns the value of the device's key at the emulator at ts, if there is one.
func (e *e2e) valueAt(device, key string, ts int64) (any, bool) {
	for _, p := range e.emu.Telemetry(device, key) {
		if p.TS == ts {
			return p.Value, true
		}
	}
	return nil, false
}
