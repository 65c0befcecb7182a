package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/report"
)

// ErrUnknownConnector is returned for a connector name the gateway has no configuration for.
var ErrUnknownConnector = errors.New("no such connector")

// connectorSet is the gateway's connectors and what changing them while it runs needs. Readers (statistics,
// the downlink, gateway RPCs) take snapshots with connList; changes hold the reconfiguration lock, so two
// sources (remote configuration, file reload) never interleave, and swap the list copy-on-write under connMu.
type connectorSet struct {
	reconf chan struct{} // the reconfiguration lock: holding it is having sent into it (capacity 1)

	connMu sync.RWMutex
	conns  []*runningConnector // never modified in place
	known  []config.Connector  // every configuration known by name, running or stopped, in first-seen order

	// With reconf held:
	resolver *report.Resolver // the report strategies in force
	runCtx   context.Context  // the context connectors run under; nil before Run starts them and after it stops them

	reload reloadState // hot reload from disk (reload.go)
}

// ConnectorInfo describes one configured connector, for the client attributes and the web UI.
type ConnectorInfo struct {
	// Name and Type are the connector's "name" and "type".
	Name, Type string
	// File is its configuration file's path; Config is the configuration it runs with (the file's content).
	File   string
	Config json.RawMessage
	// Active says it is in the running set (running, or restarting after a failure); false for one stopped by
	// RemoveConnector or SetActiveConnectors whose configuration is kept.
	Active bool
	// Error is why it cannot run (its configuration is invalid), or "".
	Error string
}

// connList returns the connectors now in the gateway: a snapshot, safe to range over while the set changes.
func (g *Gateway) connList() []*runningConnector {
	g.connMu.RLock()
	defer g.connMu.RUnlock()
	return g.conns
}

// lockReconf takes the reconfiguration lock, or returns ctx's error.
func (g *Gateway) lockReconf(ctx context.Context) error {
	select {
	case g.reconf <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for another configuration change: %w", ctx.Err())
	}
}

func (g *Gateway) unlockReconf() { <-g.reconf }

// Connectors returns every connector whose configuration the gateway knows, in the order they were configured.
func (g *Gateway) Connectors() []ConnectorInfo {
	g.connMu.RLock()
	defer g.connMu.RUnlock()
	out := make([]ConnectorInfo, 0, len(g.known))
	for _, cc := range g.known {
		info := ConnectorInfo{Name: cc.Name, Type: cc.Type, File: cc.File, Config: cc.Raw}
		if i := indexOf(g.conns, cc.Name); i >= 0 {
			info.Active = true
			if err := g.conns[i].failed; err != nil {
				info.Error = err.Error()
			}
		}
		out = append(out, info)
	}
	return out
}

// ApplyConnector creates, replaces or restarts the connector c.Name from raw, the content of its configuration
// file (nil: c.Raw as config.Load read it). The configuration is validated first with the code check-config
// runs; when it is refused the error names the file and the key, nothing is logged (the caller reports it once),
// and the running connector, if any, keeps running untouched. Otherwise the old connector is stopped, and its Run
// has returned, before the new one starts; every other connector, the link and the storage keep running, and the
// connector's statistics carry on under its name. Before Run, or after it returned, the configuration is only
// recorded. ctx bounds the wait for another configuration change in progress.
func (g *Gateway) ApplyConnector(ctx context.Context, c config.Connector, raw []byte) error {
	if raw != nil {
		c.Raw, c.Err = raw, config.CheckConnectorFile(c.File, raw)
		if c.Err != nil {
			c.Raw = nil
		}
	}
	nc, err := g.buildConnector(c)
	if err != nil {
		return err
	}
	if err := g.lockReconf(ctx); err != nil {
		return err
	}
	defer g.unlockReconf()
	g.swapConnector(nc)
	return nil
}

// buildConnector validates and builds c as makePlan does; the error names the connector, its file and the key.
func (g *Gateway) buildConnector(c config.Connector) (*runningConnector, error) {
	switch {
	case c.Name == "":
		return nil, &config.Error{File: c.File, Path: "name", Expected: "the connector's name", Found: "nothing"}
	case c.Type == "":
		return nil, fmt.Errorf("connector %q: %w", c.Name, &config.Error{File: c.File, Path: "type", Expected: "the connector's type", Found: "nothing"})
	}
	cp := connectorPlan{cfg: c, log: connectorLogger(g.log, c)}
	rules, err := cp.build()
	if err == nil && cp.unsupported {
		err = fmt.Errorf("%s: %s", c.File, unsupportedMessage(c.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("connector %q: %w", c.Name, err)
	}
	for _, w := range cp.warnings {
		cp.log.Warn("config", "warning", w)
	}
	return &runningConnector{name: c.Name, typ: c.Type, cfg: c, impl: cp.impl, log: cp.log, rules: rules}, nil
}

// swapConnector puts nc in the place of the connector of the same name, stopping that one first, and starts it
// when the gateway runs. The reconfiguration lock is held.
func (g *Gateway) swapConnector(nc *runningConnector) {
	nc.stats = &connectorCounters{}
	verb := "connector started"
	old := g.connList()
	i := indexOf(old, nc.name)
	if i >= 0 {
		nc.stats = old[i].stats
		stopConnector(old[i])
		verb = "connector restarted with its new configuration"
	}
	g.setRules(nc.name, nc.rules)
	conns := slices.Clone(old)
	if i >= 0 {
		conns[i] = nc
	} else {
		conns = append(conns, nc)
	}
	g.connMu.Lock()
	g.conns = conns
	g.known = withKnown(g.known, nc.cfg)
	g.connMu.Unlock()
	if g.runCtx != nil {
		g.launchConnector(nc)
		nc.log.Info(verb, "file", nc.cfg.File)
	}
}

// RemoveConnector stops the named connector and waits for its Run to return; its configuration stays known (see
// Connectors, SetActiveConnectors). With disconnectDevices, its devices are marked disconnected and a disconnect
// for each is queued through the storage for ThingsBoard. The error wraps ErrUnknownConnector when no connector
// of that name is active.
func (g *Gateway) RemoveConnector(ctx context.Context, name string, disconnectDevices bool) error {
	if err := g.lockReconf(ctx); err != nil {
		return err
	}
	defer g.unlockReconf()
	return g.removeConnector(ctx, name, disconnectDevices)
}

func (g *Gateway) removeConnector(ctx context.Context, name string, disconnectDevices bool) error {
	old := g.connList()
	i := indexOf(old, name)
	if i < 0 {
		return fmt.Errorf("connector %q: %w", name, ErrUnknownConnector)
	}
	stopConnector(old[i])
	g.setRules(name, nil)
	g.connMu.Lock()
	g.conns = slices.Delete(slices.Clone(old), i, i+1)
	g.connMu.Unlock()
	old[i].log.Info("connector stopped", "disconnectDevices", disconnectDevices)
	if disconnectDevices {
		return g.disconnectDevices(ctx, old[i])
	}
	return nil
}

// SetActiveConnectors makes names the running set: connectors not listed are stopped with their devices
// disconnected at ThingsBoard, listed ones not running are started from their known configuration. A listed name
// without a known configuration is an error wrapping ErrUnknownConnector; the others are still applied.
func (g *Gateway) SetActiveConnectors(ctx context.Context, names []string) error {
	if err := g.lockReconf(ctx); err != nil {
		return err
	}
	defer g.unlockReconf()
	var errs []error
	for _, c := range g.connList() {
		if !slices.Contains(names, c.name) {
			if err := g.removeConnector(ctx, c.name, true); err != nil {
				errs = append(errs, err)
			}
		}
	}
	g.connMu.RLock()
	known := g.known
	g.connMu.RUnlock()
	for _, name := range names {
		if indexOf(g.connList(), name) >= 0 {
			continue
		}
		k := slices.IndexFunc(known, func(c config.Connector) bool { return c.Name == name })
		if k < 0 {
			errs = append(errs, fmt.Errorf("connector %q: %w", name, ErrUnknownConnector))
			continue
		}
		nc, err := g.buildConnector(known[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.swapConnector(nc)
	}
	return errors.Join(errs...)
}

// startConnectors starts every built connector under ctx; further changes start theirs under it too.
func (g *Gateway) startConnectors(ctx context.Context) {
	g.reconf <- struct{}{}
	defer g.unlockReconf()
	g.runCtx = ctx
	for _, c := range g.connList() {
		g.launchConnector(c)
	}
}

// stopConnectors stops every connector and waits for them; later changes are only recorded.
func (g *Gateway) stopConnectors() {
	g.reconf <- struct{}{}
	defer g.unlockReconf()
	g.runCtx = nil
	var wg sync.WaitGroup
	for _, c := range g.connList() {
		wg.Go(func() { stopConnector(c) })
	}
	wg.Wait()
}

// launchConnector runs c under its own supervisor, with its own context. The reconfiguration lock is held.
func (g *Gateway) launchConnector(c *runningConnector) {
	if c.failed != nil {
		return
	}
	ctx, cancel := context.WithCancel(g.runCtx)
	c.cancel, c.done = cancel, make(chan struct{})
	sink := &connectorSink{g: g, c: c}
	go func() {
		defer close(c.done)
		Supervise(ctx, "connector "+c.name, func(ctx context.Context) error {
			g.announceConfiguredDevices(c)
			return c.impl.Run(ctx, sink)
		}, g.opts.ConnectorBackoff, c.log, &c.stats.supervisor)
	}()
}

// stopConnector cancels c and waits until its Run returned. The reconfiguration lock is held.
func stopConnector(c *runningConnector) {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
}

// setRules replaces the report strategies of the connector name with rules (nil: none). The reconfiguration lock
// is held.
func (g *Gateway) setRules(name string, rules map[report.Scope]report.Strategy) {
	r := &report.Resolver{Global: g.resolver.Global, Rules: map[report.Scope]report.Strategy{}}
	for sc, s := range g.resolver.Rules {
		if sc.Connector != name {
			r.Rules[sc] = s
		}
	}
	maps.Copy(r.Rules, rules)
	g.resolver = r
	g.filter.SetResolver(r)
}

// disconnectDevices marks c's devices disconnected and queues a disconnect for each through the storage.
func (g *Gateway) disconnectDevices(ctx context.Context, c *runningConnector) error {
	tx := g.devices.Begin()
	var recs []tbgateway.Record
	for _, d := range g.devices.ByConnector(c.name) {
		if tx.SetDisconnected(d.Name, true) {
			recs = append(recs, tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: g.devices.OutboundName(d.Name),
				DeviceType: d.Type, Connector: c.name})
		}
	}
	if len(recs) == 0 {
		return nil
	}
	tx.Stage()
	if err := g.put(ctx, recs); err != nil {
		tx.Abort()
		return fmt.Errorf("connector %q: queueing the disconnect of %d devices: %w", c.name, len(recs), err)
	}
	g.commitDevices(c, tx)
	c.log.Info("devices disconnected at ThingsBoard", "devices", len(recs))
	return nil
}

// indexOf returns the index of the connector called name in conns, or -1.
func indexOf(conns []*runningConnector, name string) int {
	return slices.IndexFunc(conns, func(c *runningConnector) bool { return c.name == name })
}

// withKnown returns known with c replacing the configuration of the same name, or appended.
func withKnown(known []config.Connector, c config.Connector) []config.Connector {
	out := slices.Clone(known)
	if i := slices.IndexFunc(out, func(k config.Connector) bool { return k.Name == c.Name }); i >= 0 {
		out[i] = c
		return out
	}
	return append(out, c)
}
