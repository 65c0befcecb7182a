package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/logging"
)

// connectorCounters are one connector's statistics.
type connectorCounters struct {
	recordsReceived atomic.Uint64 // records handed to Send
	recordsStored   atomic.Uint64 // records put into storage
	datapoints      atomic.Uint64 // datapoints put into storage
	invalid         atomic.Uint64 // records refused by validation
	storeErrors     atomic.Uint64 // Send calls that failed in storage (full, closed)
	filtered        atomic.Uint64 // records dropped by device filtering (deviceFiltering)
	received        receivedCounters
	supervisor      SupervisorStats
}

// addConnectors logs each planned connector's warnings and adds it to the gateway: built, or failed with the
// reason (logged once, reported in the statistics), while the others run. Unsupported types are logged and
// skipped.
func (g *Gateway) addConnectors(p *plan) {
	for _, cp := range p.connectors {
		cc := cp.cfg
		for _, w := range cp.warnings {
			cp.log.Warn("config", "warning", w)
		}
		switch {
		case cp.unsupported:
			g.log.Warn(unsupportedMessage(cc.Type), "connector", cc.Name, "file", cc.File)
			continue
		case cp.err != nil:
			cp.log.Error("connector not started: its configuration is invalid; the other connectors run", "file", cc.File, "err", cp.err)
		}
		g.known = append(g.known, cc)
		g.conns = append(g.conns, &runningConnector{name: cc.Name, typ: cc.Type, cfg: cc, impl: cp.impl, log: cp.log,
			stats: &connectorCounters{}, rules: cp.rules, failed: cp.err})
	}
}

// connectorLogger returns a logger named after the connector. The connector file's "logLevel" (when set) is its
// level and "enableRemoteLogging" sends its lines to ThingsBoard, as in the Python gateway (see package logging);
// both take effect on a logger of the gateway's logging only.
func connectorLogger(base *slog.Logger, cc config.Connector) *slog.Logger {
	var top struct {
		LogLevel            string `json:"logLevel"`
		EnableRemoteLogging bool   `json:"enableRemoteLogging"`
	}
	log := base.With("connector", cc.Name, "type", cc.Type)
	_ = json.Unmarshal(cc.Raw, &top) // a connector file that is not an object is reported by its validation
	var level *slog.Level
	if top.LogLevel != "" {
		lv, err := logging.ParseLevel(top.LogLevel)
		if err != nil {
			log.Warn("logLevel in connector file: the gateway's level is used", "file", cc.File, "err", err)
		} else {
			level = &lv
		}
	}
	if logs := logging.Of(base.Handler()); logs != nil {
		logs.SetConnector(cc.Name, level, top.EnableRemoteLogging)
	}
	return log
}

// announceConfiguredDevices registers the devices a connector knows from its config, so downlink calls reach
// it before its first data, and queues a connect for each new one. The table changes only once the connects are
// stored; otherwise they go out with the devices' first data.
func (g *Gateway) announceConfiguredDevices(c *runningConnector) {
	lister, ok := c.impl.(tbgateway.DeviceLister)
	if !ok {
		return
	}
	tx := g.devices.Begin()
	var recs []tbgateway.Record
	now := g.now().UnixMilli()
	for _, d := range lister.Devices() {
		if rec, ok := g.connectRecord(tx, c, d.Name, d.Type); ok {
			recs = append(recs, rec, deviceDetails(c, rec, now))
		}
	}
	if len(recs) == 0 {
		g.commitDevices(c, tx)
		return
	}
	tx.Stage()
	if err := g.put(context.Background(), recs); err != nil {
		tx.Abort()
		c.log.Warn("queueing device connects failed; they are sent with the devices' first data", "err", err)
		return
	}
	g.commitDevices(c, tx)
}

// connectRecord registers the device in tx and returns the connect record to send when it is new to the gateway
// or its type changed.
func (g *Gateway) connectRecord(tx *DeviceTx, c *runningConnector, name, typ string) (tbgateway.Record, bool) {
	if typ == "" {
		typ = tbgateway.DefaultDeviceType
	}
	if !tx.Register(name, typ, c.name, c.typ) {
		return tbgateway.Record{}, false
	}
	return tbgateway.Record{Kind: tbgateway.KindConnect, Device: g.devices.OutboundName(name), DeviceType: typ, Connector: c.name}, true
}

func (g *Gateway) commitDevices(c *runningConnector, tx *DeviceTx) {
	if err := tx.Commit(); err != nil {
		c.log.Warn("saving the device table failed", "err", err)
	}
}

// connectorSink is the tbgateway.Sink one connector writes to.
type connectorSink struct {
	g *Gateway
	c *runningConnector
}

// Send validates, stamps, registers and filters the records, then stores them; see tbgateway.Sink. It is all or
// nothing: the device table, the report filter and the stamper change only once the records are stored, so after
// an error a retry of the same records stores exactly what the failed call would have (the device's connect
// included), with the same timestamps when the clock has not moved.
func (s *connectorSink) Send(ctx context.Context, recs ...tbgateway.Record) error {
	g, c := s.g, s.c
	c.stats.recordsReceived.Add(uint64(len(recs)))
	c.stats.received.count(recs)
	now := g.now()
	devices, filter := g.devices.Begin(), g.filter.Begin()
	var stamps []stamp
	fail := func(err error) error {
		g.stamper.unstamp(stamps)
		return err
	}
	out := make([]tbgateway.Record, 0, len(recs)+2)
	details := 0 // connector-details records in out, not counted in the statistics
	for i := range recs {
		rec := recs[i]
		if g.filterDrops(c, rec.Device) {
			continue
		}
		rec.Connector = c.name
		if rec.DeviceType == "" {
			rec.DeviceType = tbgateway.DefaultDeviceType
		}
		if rec.ReceivedTS == 0 {
			rec.ReceivedTS = now.UnixMilli()
		}
		st, ok, err := g.stamper.stamp(&rec, now)
		if err != nil {
			return fail(fmt.Errorf("record %d of %d: %w", i+1, len(recs), err))
		}
		if ok {
			stamps = append(stamps, st)
		}
		if err := rec.Validate(); err != nil {
			c.stats.invalid.Add(1)
			return fail(fmt.Errorf("record %d of %d: %w", i+1, len(recs), err))
		}
		conn, isNew := g.connectRecord(devices, c, rec.Device, rec.DeviceType)
		if isNew && rec.Kind != tbgateway.KindConnect {
			out = append(out, conn, deviceDetails(c, conn, rec.ReceivedTS))
			details++
		}
		switch rec.Kind {
		case tbgateway.KindDisconnect:
			devices.SetDisconnected(rec.Device, true)
		case tbgateway.KindData:
			devices.SetDisconnected(rec.Device, false)
			g.touchDevice(rec.Device, now)
		}
		rec.Device = g.devices.OutboundName(rec.Device)
		if kept, ok := filter.Apply(now, rec); ok {
			out = append(out, kept)
			if isNew && rec.Kind == tbgateway.KindConnect {
				out = append(out, deviceDetails(c, rec, rec.ReceivedTS))
				details++
			}
		}
	}
	if len(out) > 0 {
		devices.Stage() // ThingsBoard may call a new device back before the commit below
		if err := g.put(ctx, out); err != nil {
			devices.Abort()
			c.stats.storeErrors.Add(1)
			return fail(fmt.Errorf("storing %d records: %w", len(out), err))
		}
	}
	g.commitDevices(c, devices)
	filter.Commit()
	n := -2 * details
	for i := range out {
		n += out[i].Datapoints()
	}
	c.stats.recordsStored.Add(uint64(len(out) - details))
	c.stats.datapoints.Add(uint64(n))
	return nil
}

// RequestAttributes asks ThingsBoard for a device's attributes; see tbgateway.Sink.
func (s *connectorSink) RequestAttributes(ctx context.Context, device string, client bool, keys []string) (map[string]any, error) {
	return s.g.link.RequestAttributes(ctx, s.g.devices.OutboundName(device), client, keys)
}

// Logger returns the connector's logger.
func (s *connectorSink) Logger() *slog.Logger { return s.c.log }

// putReported stores the periodic re-sends of the report-strategy filter, received (for latency metadata) now.
func (g *Gateway) putReported(ctx context.Context, recs []tbgateway.Record) error {
	now := g.now().UnixMilli()
	for i := range recs {
		if recs[i].ReceivedTS == 0 {
			recs[i].ReceivedTS = now
		}
	}
	err := g.put(ctx, recs)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("storing report-period re-sends: %w", err)
	}
	return err
}
