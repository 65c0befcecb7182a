// Package serial is the connector for line-oriented devices on serial ports: the Python gateway's custom
// serial connector example (config/custom_serial.json with extensions/serial), built into the binary. It is also
// the worked example of docs/writing-a-connector.md.
//
// Each device has its own port. A line is the bytes up to and including the device's delimiter; the built-in
// converter cuts telemetry and attributes out of it by byte offsets or delimiters (ParseLine). Shared attributes
// ("attributeUpdates") and RPC params ("serverSideRpc") are written to the port; an RPC "withResponse" replies
// with the next line the device sends.
//
// One worker per port serialises everything on it: lines in, attribute and RPC writes out (writes first). A port
// that cannot be opened, or vanishes (a USB adapter pulled), is a device fault and is reopened with backoff;
// the other devices go on. A line that does not convert is a device fault naming the device, the port and the
// key; the next line is read as usual.
//
// The main config runs it as type "serial", or as any type whose "class" is the Python connector's class
// (SerialConnector, or CustomSerialConnector as older guides name it), e.g. {"type": "custom", "class":
// "SerialConnector", "configuration": "custom_serial.json"}.
package serial

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/devicefault"
	"github.com/tbgateway/tbgateway/internal/sendretry"
	"github.com/tbgateway/tbgateway/internal/values"
)

// Type is the connector type in the main config's "connectors" list.
const Type = "serial"

// Classes are the Python connector classes this connector stands in for (ConnectorType.Classes).
var Classes = []string{"SerialConnector", "CustomSerialConnector"}

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check, Classes: Classes})
}

// Check is the connector's ConfigChecker: Decode without I/O.
func Check(cfg tbgateway.ConnectorConfig) ([]string, error) {
	_, warnings, err := Decode(cfg.Where(), cfg.Raw)
	return warnings, err
}

func newConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	c, _, err := Decode(cfg.Where(), cfg.Raw)
	if err != nil {
		return nil, err
	}
	if cfg.Name != "" {
		c.Name = cfg.Name
	}
	return New(c, cfg.Logger)
}

// Connector runs the devices of one connector file. Its downlink methods may be called concurrently with Run
// and with each other; before Run and after it returned they fail.
type Connector struct {
	name    string
	log     *slog.Logger
	faults  *devicefault.Tracker
	devices []*device
	byName  map[string]*device

	// reconnect spaces the attempts to open a port; storeRetry the attempts to store while storage refuses.
	reconnect, storeRetry backoff.Policy
	// open opens a port (serial.Open; tests may count or fail opens).
	open func(name string, mode *serial.Mode) (serial.Port, error)

	mu  sync.Mutex
	run *runState // nil unless Run is running
}

// device is a configured device and its converter.
type device struct {
	cfg *DeviceConfig
	// conv is a converter registered under the device's "converter" name; nil means the expression or
	// ParseLine.
	conv tbgateway.Converter
	// lineKey and portKey are its keys in the fault tracker.
	lineKey, portKey string
}

// runState is what downlink calls reach while Run runs.
type runState struct {
	done   chan struct{}
	writes map[*device]chan *writeReq
}

var (
	_ tbgateway.AttributeUpdater     = (*Connector)(nil)
	_ tbgateway.RPCHandler           = (*Connector)(nil)
	_ tbgateway.DeviceLister         = (*Connector)(nil)
	_ tbgateway.DeviceFaultReporter  = (*Connector)(nil)
	_ tbgateway.ReportStrategySource = (*Connector)(nil)
	_ tbgateway.SharedKeysLister     = (*Connector)(nil)
)

// New builds a connector from a decoded configuration; log nil discards. It fails when a device names a
// converter that is not compiled in.
func New(cfg *Config, log *slog.Logger) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Connector{name: cfg.Name, log: log, faults: devicefault.New(log, devicefault.Options{}),
		byName:     map[string]*device{},
		reconnect:  backoff.Policy{Initial: time.Second, Max: 30 * time.Second},
		storeRetry: backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second},
		open:       serial.Open}
	for _, dc := range cfg.Devices {
		d := &device{cfg: dc, lineKey: "line\x00" + dc.Name, portKey: "port\x00" + dc.Port}
		if dc.Converter != "" {
			f, ok := tbgateway.LookupConverter(dc.Converter)
			if !ok {
				return nil, fmt.Errorf("%s: converter %q is not compiled in", dc, dc.Converter)
			}
			conv, err := f(dc.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s: converter %q: %w", dc, dc.Converter, err)
			}
			d.conv = conv
		}
		c.devices = append(c.devices, d)
		c.byName[dc.Name] = d
	}
	return c, nil
}

// Run opens every device's port and serves it until ctx is cancelled, then returns nil. Ports that fail are
// reopened with backoff inside Run; Run itself does not fail.
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	rs := &runState{done: make(chan struct{}), writes: map[*device]chan *writeReq{}}
	for _, d := range c.devices {
		rs.writes[d] = make(chan *writeReq)
	}
	c.mu.Lock()
	if c.run != nil {
		c.mu.Unlock()
		return fmt.Errorf("serial connector %q: Run called while running", c.name)
	}
	c.run = rs
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.run = nil
		c.mu.Unlock()
		close(rs.done)
	}()
	var wg sync.WaitGroup
	for _, d := range c.devices {
		out := make(chan tbgateway.Record)
		wg.Go(func() { c.session(ctx, d, rs.writes[d], out) })
		wg.Go(func() { c.sender(ctx, sink, d, out) })
	}
	wg.Wait()
	return nil
}

// sender stores a device's records in order. While storage refuses them it sends the same record again with
// backoff, so the port's worker holds further lines (backpressure) and nothing converted is lost; a record
// storage refuses as invalid is a device fault and is dropped.
func (c *Connector) sender(ctx context.Context, sink tbgateway.Sink, d *device, out <-chan tbgateway.Record) {
	for {
		var rec tbgateway.Record
		select {
		case <-ctx.Done():
			return
		case rec = <-out:
		}
		s := sendretry.Sender{Policy: c.storeRetry, Refused: func(err error, n int) {
			if n == 1 {
				c.log.Debug("storage refused a record; sending it again", "device", d.cfg.Name, "err", err)
			}
		}}
		if err := s.Send(ctx, sink, rec); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.faults.Fail(d.lineKey, err, "device", d.cfg.Name, "port", d.cfg.Port)
		}
	}
}

// state returns the running state, or an error when Run is not running.
func (c *Connector) state() (*runState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		return nil, fmt.Errorf("serial connector %q is not running", c.name)
	}
	return c.run, nil
}

func (c *Connector) device(name string) (*device, error) {
	d, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("serial connector %q has no device %q", c.name, name)
	}
	return d, nil
}

// UpdateAttributes writes each shared attribute that has an "attributeUpdates" entry to the device's port, in
// the order of the entries. It fails when Run is not running, the device is unknown, no entry matches, or a
// write fails.
func (c *Connector) UpdateAttributes(ctx context.Context, device string, vals map[string]any) error {
	rs, err := c.state()
	if err != nil {
		return err
	}
	d, err := c.device(device)
	if err != nil {
		return err
	}
	matched := false
	var errs []error
	for _, au := range d.cfg.AttributeUpdates {
		v, ok := vals[au.Attribute]
		if !ok {
			continue
		}
		matched = true
		if _, err := c.write(ctx, rs, d, renderUpdate(au, d.cfg, v), nil); err != nil {
			errs = append(errs, fmt.Errorf("attribute %q: %w", au.Attribute, err))
		}
	}
	if !matched {
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("%s: no attributeUpdates entry for %s", d.cfg, strings.Join(keys, ", "))
	}
	return errors.Join(errs...)
}

// HandleRPC serves a "serverSideRpc" method of a device: its params are encoded (EncodeParams) and written to
// the port. The reply is {"success": true}, or with "withResponse" {"result": VALUE} from the next line the
// device sends within "responseTimeoutSec". Unknown methods, devices, connector-wide calls and failed writes
// are errors.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	rs, err := c.state()
	if err != nil {
		return nil, err
	}
	if req.Device == "" {
		return nil, fmt.Errorf("serial connector %q has no connector-wide methods (%q)", c.name, req.Method)
	}
	d, err := c.device(req.Device)
	if err != nil {
		return nil, err
	}
	var m *RPCMethod
	for _, cand := range d.cfg.RPC {
		if cand.Method == req.Method {
			m = cand
			break
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%s: method %q not found in serverSideRpc", d.cfg, req.Method)
	}
	var params any
	if len(req.Params) > 0 {
		tree, err := values.Decode(req.Params)
		if err != nil {
			return nil, fmt.Errorf("%s: method %q: params: %w", d.cfg, m.Method, err)
		}
		if params, err = values.FromJSON(tree); err != nil {
			return nil, fmt.Errorf("%s: method %q: params: %w", d.cfg, m.Method, err)
		}
	}
	data, err := EncodeParams(m.Type, d.cfg.ByteOrder, params)
	if err != nil {
		return nil, fmt.Errorf("%s: method %q: %w", d.cfg, m.Method, err)
	}
	resp, err := c.write(ctx, rs, d, data, m)
	if err != nil {
		return nil, fmt.Errorf("%s: method %q: %w", d.cfg, m.Method, err)
	}
	if !m.WithResponse {
		return json.RawMessage(`{"success":true}`), nil
	}
	v, err := m.Response.Value(resp)
	if err != nil {
		return nil, fmt.Errorf("%s: method %q: response %q: %w", d.cfg, m.Method, clip(resp), err)
	}
	return json.Marshal(map[string]any{"result": v})
}

// Devices lists the configured devices.
func (c *Connector) Devices() []tbgateway.DeviceInfo {
	out := make([]tbgateway.DeviceInfo, 0, len(c.devices))
	for _, d := range c.devices {
		out = append(out, tbgateway.DeviceInfo{Name: d.cfg.Name, Type: d.cfg.Type})
	}
	return out
}

// SharedAttributeKeys lists the shared attributes a device's "attributeUpdates" listen to.
func (c *Connector) SharedAttributeKeys(device string) []string {
	d, ok := c.byName[device]
	if !ok {
		return nil
	}
	var keys []string
	for _, au := range d.cfg.AttributeUpdates {
		keys = append(keys, au.Attribute)
	}
	return keys
}

// ReportStrategies returns the device- and key-level "reportStrategy" objects.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	for _, d := range c.devices {
		if d.cfg.ReportStrategy != nil {
			out = append(out, tbgateway.ReportStrategyRule{Device: d.cfg.Name, Config: d.cfg.ReportStrategy})
		}
		for _, dp := range append(append([]*Datapoint(nil), d.cfg.Telemetry...), d.cfg.Attributes...) {
			if dp.ReportStrategy != nil {
				out = append(out, tbgateway.ReportStrategyRule{Device: d.cfg.Name, Key: dp.Key, Config: dp.ReportStrategy})
			}
		}
	}
	return out
}

// DeviceFaults returns the fault counters: ports that cannot be opened or vanished, lines that do not convert.
func (c *Connector) DeviceFaults() tbgateway.DeviceFaultStats { return c.faults.Stats() }
