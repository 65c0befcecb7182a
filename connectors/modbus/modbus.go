// Package modbus is the "modbus" connector, a drop-in for the Python gateway's Modbus connector: it reads its
// configuration files (modbus.json, modbus_serial.json, and the remote-configuration shape), polls devices as a
// Modbus master over TCP, UDP, RTU on a serial port, RTU over TCP and RTU over UDP, and serves registers as a
// Modbus TCP slave.
//
// Polling: each physical line (a host:port endpoint or a serial port) has one queue and one connection, shared
// by the polls and writes of every device on it; writes go first. A device's reads are merged into as few
// requests as the protocol allows (125 registers, 2000 bits, items at most "maxReadGap" objects apart, default
// 16); a merged read that the device refuses with an exception is split into one read per item from then on.
// Lines run independently, so a dead device delays only the devices on its own line. Device faults go through
// the connector kit's devicefault tracker: a device that does not answer (timeout, lost connection, garbled
// frame), and an item it refuses with an exception or whose value does not decode, are each logged once when
// they start ("device fault", with the device, its address and unit, or the item's key, function code and
// address) and once when they end ("device fault cleared"), repeats at debug level, and counted (Stats,
// DeviceFaults). A device that does not answer is polled again with exponential backoff up to 8 poll periods,
// disconnected at ThingsBoard, and connected again when it answers; a refused item leaves the device's other
// items and polling as they are.
//
// Values are decoded as the Python gateway does; see Codec. Downlink: shared-attribute updates and RPCs write
// (function codes 5, 6, 15, 16) or read (1-4) the items configured for the key or method; the reserved RPC
// methods "get" and "set" take "type=…;functionCode=…;address=…;objectsCount=…;value=…" (or the same keys as a
// JSON object) in their params. Replies are {"result": {"value": v}} or {"result": {"error": "..."}}.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/devicefault"
	"github.com/tbgateway/tbgateway/internal/sendretry"
)

// Type is the connector type in the main config.
const Type = "modbus"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check})
}

// Check is the ConfigChecker: it decodes and validates cfg.Raw without I/O; warnings and the error name the
// file and the key path.
func Check(cfg tbgateway.ConnectorConfig) ([]string, error) {
	_, warnings, err := Decode(cfg.Raw)
	return cfg.Located(warnings, err)
}

func newConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	c, _, err := Decode(cfg.Raw)
	if _, err := cfg.Located(nil, err); err != nil {
		return nil, err
	}
	if cfg.Name != "" {
		c.Name = cfg.Name
	}
	return New(c, cfg.Logger), nil
}

// Connector is a running Modbus connector. It implements tbgateway.Connector, DeviceLister, AttributeUpdater,
// RPCHandler, ReportStrategySource and SharedKeysLister. The downlink methods may be called concurrently with
// Run; before Run started they wait up to a second for it (the runtime may deliver a shared attribute as the
// connector starts), then return an error; after Run returned they return an error at once.
type Connector struct {
	name    string
	log     *slog.Logger
	cfg     *Config
	devices []*device
	byName  map[string]*device
	faults  *devicefault.Tracker

	mu      sync.Mutex
	running chan struct{} // closed while Run runs; replaced when it stops
	stopped bool          // Run ran and returned
	lines   map[string]*line
	sink    tbgateway.Sink
	served  string // the slave server's address while Run runs
	adhoc   adhocLines
}

var (
	_ tbgateway.Connector            = (*Connector)(nil)
	_ tbgateway.DeviceLister         = (*Connector)(nil)
	_ tbgateway.AttributeUpdater     = (*Connector)(nil)
	_ tbgateway.RPCHandler           = (*Connector)(nil)
	_ tbgateway.ReportStrategySource = (*Connector)(nil)
	_ tbgateway.SharedKeysLister     = (*Connector)(nil)
	_ tbgateway.DeviceFaultReporter  = (*Connector)(nil)
)

// device is a configured device and its run-time state.
type device struct {
	cfg    *Device
	slave  *Bank // set for the slave-mode device: it is read from the bank, not over a line
	reads  []*readRequest
	stats  deviceCounters
	failed bool // in a failure episode (only the device's poller touches it)
}

type deviceCounters struct {
	polls, pollFailures, requests         atomic.Uint64
	timeouts, exceptions, protocol, disco atomic.Uint64
	writes, writeFailures                 atomic.Uint64
	perPoll                               atomic.Int64 // merged read requests of one poll
}

// DeviceStats are one device's counters since the connector was created.
type DeviceStats struct {
	Polls, PollFailures uint64 // completed polls, and those the device did not answer (refused items are Exceptions)
	Requests            uint64 // read requests sent (after merging)
	RequestsPerPoll     int    // merged read requests one poll makes
	Timeouts            uint64
	Exceptions          uint64 // Modbus exception responses
	ProtocolErrors      uint64 // bad CRC, short or garbled frames
	Disconnects         uint64 // connection failures and losses
	Writes, WriteErrors uint64
}

// New returns a connector for a decoded configuration; log may be nil.
func New(cfg *Config, log *slog.Logger) *Connector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Connector{name: cfg.Name, log: log, cfg: cfg, byName: map[string]*device{}, running: make(chan struct{}),
		faults: devicefault.New(log, devicefault.Options{})}
	for _, d := range cfg.Devices {
		dev := &device{cfg: d, reads: planReads(d, d.MaxReadGap)}
		dev.stats.perPoll.Store(int64(len(dev.reads)))
		c.devices = append(c.devices, dev)
		c.byName[d.Name] = dev
	}
	if cfg.Slave != nil {
		dev := &device{cfg: cfg.Slave.Device, slave: NewBank(false), reads: planReads(cfg.Slave.Device, 0)}
		dev.slave.units[dev.cfg.UnitID] = &unitData{}
		c.initSlave(dev)
		c.devices = append(c.devices, dev)
		c.byName[dev.cfg.Name] = dev
	}
	return c
}

// Devices lists the configured devices.
func (c *Connector) Devices() []tbgateway.DeviceInfo {
	out := make([]tbgateway.DeviceInfo, 0, len(c.devices))
	for _, d := range c.devices {
		out = append(out, tbgateway.DeviceInfo{Name: d.cfg.Name, Type: d.cfg.Type})
	}
	return out
}

// SharedAttributeKeys lists the attributeUpdates tags of a device.
func (c *Connector) SharedAttributeKeys(name string) []string {
	d := c.byName[name]
	if d == nil {
		return nil
	}
	keys := make([]string, 0, len(d.cfg.AttributeUpdates))
	for _, it := range d.cfg.AttributeUpdates {
		keys = append(keys, it.Tag)
	}
	return keys
}

// ReportStrategies returns the per-device and per-key "reportStrategy" objects of the configuration.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	for _, d := range c.devices {
		if len(d.cfg.ReportStrategy) > 0 {
			out = append(out, tbgateway.ReportStrategyRule{Device: d.cfg.Name, Config: d.cfg.ReportStrategy})
		}
		for _, it := range append(append([]*Item{}, d.cfg.Attributes...), d.cfg.Timeseries...) {
			if len(it.ReportStrategy) > 0 {
				out = append(out, tbgateway.ReportStrategyRule{Device: d.cfg.Name, Key: it.Tag, Config: it.ReportStrategy})
			}
		}
	}
	return out
}

// Stats returns every device's counters, by device name.
func (c *Connector) Stats() map[string]DeviceStats {
	out := make(map[string]DeviceStats, len(c.devices))
	for _, d := range c.devices {
		s := &d.stats
		out[d.cfg.Name] = DeviceStats{
			Polls: s.polls.Load(), PollFailures: s.pollFailures.Load(), Requests: s.requests.Load(),
			RequestsPerPoll: int(s.perPoll.Load()), Timeouts: s.timeouts.Load(), Exceptions: s.exceptions.Load(),
			ProtocolErrors: s.protocol.Load(), Disconnects: s.disco.Load(),
			Writes: s.writes.Load(), WriteErrors: s.writeFailures.Load(),
		}
	}
	return out
}

// Run polls every device (and serves the slave section) until ctx is done; it then returns nil. It returns an
// error when the slave server cannot listen or when storage refuses records for a reason other than being full
// or the record being invalid.
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := map[string]*line{}
	count := map[string]int{}
	for _, d := range c.devices {
		if d.slave == nil {
			count[d.cfg.lineKey()]++
		}
	}
	for _, d := range c.devices {
		if d.slave == nil && lines[d.cfg.lineKey()] == nil {
			lines[d.cfg.lineKey()] = newLine(d.cfg, count[d.cfg.lineKey()], c.log)
		}
	}
	var srv *Server
	if s := c.cfg.Slave; s != nil {
		var err error
		if srv, err = ServeSlave(s, c.slaveDevice().slave, c.log); err != nil {
			return fmt.Errorf("modbus %q: slave %q: %w", c.name, s.Device.Name, err)
		}
		defer srv.Close()
		c.log.Info("serving Modbus", "device", s.Device.Name, "type", s.Device.Transport, "addr", srv.Addr())
	}
	c.mu.Lock()
	c.lines, c.sink = lines, sink
	if srv != nil {
		c.served = srv.Addr()
	}
	running := c.running
	close(running)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.lines, c.sink, c.served, c.running, c.stopped = nil, nil, "", make(chan struct{}), true
		c.mu.Unlock()
	}()

	errc := make(chan error, len(c.devices))
	var wg sync.WaitGroup
	for _, l := range lines {
		wg.Go(func() { l.run(ctx) })
	}
	for _, d := range c.devices {
		if d.slave != nil && !c.cfg.Slave.Send {
			continue
		}
		wg.Go(func() {
			if err := c.poll(ctx, sink, d, lines[d.cfg.lineKey()]); err != nil {
				errc <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// startGrace is how long a downlink call waits for Run to start before it fails.
const startGrace = time.Second

// live waits until Run runs, at most startGrace and only before Run first started, and returns its lines and
// sink.
func (c *Connector) live(ctx context.Context) (map[string]*line, tbgateway.Sink, error) {
	c.mu.Lock()
	running, stopped := c.running, c.stopped
	c.mu.Unlock()
	if stopped {
		select {
		case <-running: // running again
		default:
			return nil, nil, fmt.Errorf("modbus %q is not running", c.name)
		}
	}
	grace := time.NewTimer(startGrace)
	defer grace.Stop()
	select {
	case <-running:
	case <-grace.C:
		return nil, nil, fmt.Errorf("modbus %q is not running", c.name)
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("modbus %q is not running: %w", c.name, ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sink == nil {
		return nil, nil, fmt.Errorf("modbus %q is not running", c.name)
	}
	return c.lines, c.sink, nil
}

// SlaveAddr returns the host:port the slave section is served on while Run runs (the kernel's choice when the
// configured port is 0), or "" when there is no slave section or Run is not running.
func (c *Connector) SlaveAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

func (c *Connector) slaveDevice() *device {
	for _, d := range c.devices {
		if d.slave != nil {
			return d
		}
	}
	return nil
}

// poll runs one device's poll loop.
func (c *Connector) poll(ctx context.Context, sink tbgateway.Sink, d *device, l *line) error {
	period := d.cfg.PollPeriod
	// a failing device is polled 1, 2, 4, then every 8 poll periods, until it answers
	retry := backoff.New(backoff.Policy{Initial: period, Max: period * maxBackoffPollPeriods, Multiplier: 2})
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		recs, err := c.pollOnce(ctx, d, l)
		if ctx.Err() != nil {
			return nil
		}
		d.stats.polls.Add(1)
		wait := period
		if err != nil {
			d.stats.pollFailures.Add(1)
			wait = retry.Next()
			c.deviceFailed(d, err)
			if !d.failed {
				d.failed = true
				if serr := c.send(ctx, sink, tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: d.cfg.Name,
					DeviceType: d.cfg.Type, Connector: c.name}); serr != nil {
					return serr
				}
			}
		} else if d.failed {
			d.failed = false
			c.deviceAnswers(d)
			retry.Reset()
			if serr := c.send(ctx, sink, tbgateway.Record{Kind: tbgateway.KindConnect, Device: d.cfg.Name,
				DeviceType: d.cfg.Type, Connector: c.name}); serr != nil {
				return serr
			}
		} else {
			retry.Reset()
		}
		for _, rec := range recs {
			if rec.Datapoints() == 0 {
				continue
			}
			if err := c.send(ctx, sink, rec); err != nil {
				return err
			}
		}
		next = next.Add(wait)
		if now := time.Now(); next.Before(now) {
			next = now // overran: poll again now rather than in a burst
		}
		t.Reset(time.Until(next))
	}
}

// send stores a record. While storage is full it sends the same record again with backoff, so the device's
// polling waits (backpressure) and nothing read is lost; a record storage refuses as invalid is logged and
// dropped; other errors end Run.
func (c *Connector) send(ctx context.Context, sink tbgateway.Sink, rec tbgateway.Record) error {
	s := sendretry.Sender{Policy: backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second}, FullOnly: true,
		Refused: func(_ error, n int) {
			if n == 1 {
				c.log.Debug("storage full; polling waits until the reading is stored", "device", rec.Device)
			}
		}}
	err := s.Send(ctx, sink, rec)
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.Is(err, tbgateway.ErrInvalidRecord):
		c.log.Warn("storage refused a record; dropped", "device", rec.Device, "reason", err)
		return nil
	}
	return fmt.Errorf("modbus %q: device %q: %w", c.name, rec.Device, err)
}

// pollOnce reads every merged request of a device and decodes what arrived. The record holds the values of the
// requests that succeeded (or, with an uplink expression, the records it built from them); err reports the first
// failure of the device to answer. An item the device refuses (an exception) or whose value does not decode is a
// fault of that item only: the device answered.
func (c *Connector) pollOnce(ctx context.Context, d *device, l *line) ([]tbgateway.Record, error) {
	rec := tbgateway.Record{Device: d.cfg.Name, DeviceType: d.cfg.Type, Connector: c.name}
	attrs, ts := map[string]any{}, map[string]any{}
	var raw map[string]any // the uplink expression's data
	if d.cfg.Uplink != nil {
		raw = map[string]any{}
	}
	var firstErr error
	reads := d.reads
	results := make([]readResult, len(reads))
	if d.slave != nil {
		for i, r := range reads {
			results[i] = d.slave.read(d.cfg.UnitID, r)
		}
	} else {
		err := l.submit(ctx, l.polls, &job{unit: d.cfg.UnitID, device: d.cfg.Name, fn: func(ctx context.Context, mc client) error {
			for i, r := range reads {
				results[i] = readFrom(ctx, mc, r)
				d.stats.requests.Add(1)
				if results[i].err != nil && classify(results[i].err) != faultException {
					return results[i].err // the connection is gone or garbled: the line reconnects
				}
			}
			return nil
		}})
		if ctx.Err() != nil {
			// the line may still be running the job and writing results: leave them alone
			return nil, ctx.Err()
		}
		if err != nil {
			c.count(d, err)
			firstErr = fmt.Errorf("read: %w", err)
		}
	}
	var split bool
	for i, r := range reads {
		res := results[i]
		if res.err != nil {
			exception := classify(res.err) == faultException
			switch {
			case exception && len(r.parts) > 1:
				// which item the device refuses shows once they are read one by one
				c.count(d, res.err)
				split = true
			case exception:
				c.count(d, res.err)
				c.itemFailed(d, r.parts[0].item, fmt.Errorf("read fc %d address %d count %d: %w", r.fc, r.addr, r.count, res.err))
			case firstErr == nil:
				c.count(d, res.err)
				firstErr = fmt.Errorf("read fc %d address %d count %d: %w", r.fc, r.addr, r.count, res.err)
			}
			continue
		}
		if res.regs == nil && res.bits == nil {
			continue // not read: the device stopped answering before this request
		}
		for _, p := range r.parts {
			if raw != nil {
				v, err := p.raw(res)
				if err != nil {
					c.itemFailed(d, p.item, err)
					continue
				}
				c.itemRead(d, p.item)
				raw[p.item.Tag] = v
				continue
			}
			v, err := p.decode(res, c.log, d.cfg.Name)
			if err != nil {
				c.itemFailed(d, p.item, err)
				continue
			}
			c.itemRead(d, p.item)
			if p.attr {
				attrs[p.item.Tag] = v
			} else {
				ts[p.item.Tag] = v
			}
		}
	}
	if split {
		c.splitReads(d)
	}
	if len(attrs) > 0 {
		rec.Attributes = attrs
	}
	if len(ts) > 0 {
		rec.Telemetry = []tbgateway.Telemetry{{Values: ts}}
	}
	if len(raw) > 0 {
		return c.convertExpression(d, raw), firstErr
	}
	return []tbgateway.Record{rec}, firstErr
}

// splitReads replaces merged requests that a device refused by one request per item.
func (c *Connector) splitReads(d *device) {
	var out []*readRequest
	for _, r := range d.reads {
		if len(r.parts) > 1 {
			out = append(out, r.split()...)
			continue
		}
		out = append(out, r)
	}
	c.log.Info("device refused a merged read; reading its items one by one", "device", d.cfg.Name,
		"requests", len(out))
	d.reads = out
	d.stats.perPoll.Store(int64(len(out)))
}

func (c *Connector) count(d *device, err error) {
	switch classify(err) {
	case faultTimeout:
		d.stats.timeouts.Add(1)
	case faultException:
		d.stats.exceptions.Add(1)
	case faultProtocol:
		d.stats.protocol.Add(1)
	case faultDisconnect:
		d.stats.disco.Add(1)
	}
}
