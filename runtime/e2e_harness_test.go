package runtime_test

// The end-to-end harness: the connector kit's gwtest (an in-process ThingsBoard emulator, a gateway configured
// against it from files in a temporary folder) and test-only connector types whose behaviour the tests drive.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	gwName = gwtest.GatewayName
	// testTimeout bounds every end-to-end test; it is a failure bound, never a pacing.
	testTimeout = gwtest.DefaultTimeout
	// rpcTimeout bounds one RPC made through the emulator.
	rpcTimeout = gwtest.RPCTimeout
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

// e2e is one test's emulator and folder (the kit's gwtest.Env); gateways are started on it with start. The
// lower-case fields and methods keep the tests' spelling.
type e2e struct {
	*gwtest.Env
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
	env := gwtest.New(t, gwtest.Options{Timeout: timeout, Emulator: tbemu.Options{MaxStringValueLength: maxStringValue}})
	return &e2e{Env: env, t: t, ctx: env.Ctx, emu: env.Emu, dir: env.Dir}
}

// testLogger discards, unless E2E_LOG is set (then it logs to stderr at debug level).
func testLogger(component string) *slog.Logger { return gwtest.TestLogger(component) }

// writeConfig writes tb_gateway.json and the connector files into the test's folder.
func (e *e2e) writeConfig(s setup) {
	e.t.Helper()
	c := gwtest.Config{Thingsboard: s.tb, Storage: s.storage}
	for _, cs := range s.connectors {
		c.Connectors = append(c.Connectors, gwtest.Connector{Type: cs.Type, Name: cs.Name, Conf: cs.Conf})
	}
	e.WriteConfig(c)
}

// gwRun is a running gateway.
type gwRun struct {
	*gwtest.Gateway
	gw   *runtime.Gateway
	cfg  *config.Config
	stop func() // cancels Run and waits for it; idempotent
}

// start writes the config, builds the gateway and runs it until stop or the end of the test, then waits for
// the first connection to the emulator.
func (e *e2e) start(s setup) *gwRun {
	e.t.Helper()
	e.writeConfig(s)
	opts := s.opts
	if opts.Logger == nil {
		opts.Logger = testLogger("gateway")
	}
	g := e.Start(gwtest.StartOptions{Runtime: opts})
	return &gwRun{Gateway: g, gw: g.GW, cfg: g.Config, stop: g.Stop}
}

// waitEvent reads the link's events until one of type typ and returns it.
func (r *gwRun) waitEvent(t *testing.T, ctx context.Context, typ uplink.EventType) uplink.Event {
	t.Helper()
	return r.WaitEvent(ctx, typ)
}

// waitFor waits until cond holds at the emulator (re-checked on every emulator state change).
func (e *e2e) waitFor(what string, cond func() bool) {
	e.t.Helper()
	e.WaitFor(what, cond)
}

// eventually polls cond, for state outside the emulator (gateway counters, the device table). The deadline is
// the test's, a failure bound only.
func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	e.Eventually(what, cond)
}

// rpc makes a two-way RPC from the emulator and returns the reply, which must be a JSON object.
func (e *e2e) rpc(device, method string, params any) map[string]any {
	e.t.Helper()
	reply := e.RPC(device, method, params)
	out, ok := reply.(map[string]any)
	if !ok {
		e.t.Fatalf("rpc %s to %q: reply %v is not a JSON object", method, device, reply)
	}
	return out
}

// valueAt returns the value of the device's key at the emulator at ts, if there is one.
func (e *e2e) valueAt(device, key string, ts int64) (any, bool) { return e.ValueAt(device, key, ts) }
