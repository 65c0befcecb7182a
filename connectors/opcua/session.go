package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

// session is one connected client with the devices resolved on it. It is replaced as a whole on reconnect.
type session struct {
	c         *opcua.Client
	res       *resolver
	readBatch int // server's MaxNodesPerRead (DefaultMaxNodesPerOperation when unset)
	monBatch  int // server's MaxMonitoredItemsPerCall
	devices   map[string]*device
	order     []*device
	// incomplete is set when a mapping or key did not resolve: the session is then rebuilt after
	// scanPeriodInMillis, so nodes that appear later on the server are found (Python's periodic re-scan).
	incomplete bool
	// scanned holds, per mapping index, the device nodes its deviceNodePattern named (by node id): a re-scan
	// finding another one rebuilds the session.
	scanned map[int]map[string]bool

	mu        sync.Mutex
	dataTypes map[string]ua.TypeID // node -> built-in type, for writes
}

// errRescan ends a session whose resolution was incomplete once scanPeriodInMillis has passed, or whose re-scan
// found a new device node; the connector reconnects at once, without back-off and without reporting the devices
// disconnected.
var errRescan = errors.New("re-scan of the address space")

// ErrSilent is wrapped by the watchdog's error when subscriptions delivered nothing for
// server.subKeepAlivePeriodInSeconds.
var ErrSilent = errors.New("subscriptions silent")

// closeGraceOnStop bounds how long a session's CloseSession may take once the gateway is stopping.
const closeGraceOnStop = 500 * time.Millisecond

// runSession connects, resolves the devices, collects data until the connection fails or ctx ends, and closes
// the client. It calls up once the devices are announced and collecting starts (the back-off measures a
// healthy session from there).
func (c *Connector) runSession(ctx context.Context, sink tbgateway.Sink, up func()) error {
	cl, err := c.dial(ctx)
	if err != nil {
		return &dialError{err: err}
	}
	defer func() {
		wait := ms(c.cfg.Server.TimeoutInMillis)
		if ctx.Err() != nil {
			// On shutdown a server that stopped answering must not hold up the gateway's stop for a whole
			// request timeout: give CloseSession a short grace.
			wait = min(wait, closeGraceOnStop)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
		defer cancel()
		_ = cl.Close(cctx)
	}()
	s := &session{c: cl, res: &resolver{c: cl, cache: c.cache}, devices: map[string]*device{},
		scanned: map[int]map[string]bool{}, dataTypes: map[string]ua.TypeID{}}
	s.readBatch, s.monBatch = c.operationLimits(ctx, cl)
	err = c.resolveDevices(ctx, s)
	if c.cfg.Server.ShowMap && ctx.Err() == nil {
		c.logAddressSpace()
	}
	if err != nil {
		return err
	}
	c.setSession(s)
	defer c.setSession(nil)
	c.log.Info("connected to OPC-UA server", "url", c.cfg.Server.URL, "devices", len(s.order),
		"subscriptions", *c.cfg.Server.EnableSubscriptions)

	if err := c.announce(ctx, sink, s); err != nil {
		return err
	}
	up()
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var activity atomic.Int64
	activity.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if *c.cfg.Server.EnableSubscriptions {
			err = c.subscribe(sctx, s, sink, &activity)
		} else {
			err = c.poll(sctx, s, sink, &activity)
		}
		cancel(err)
	}()
	c.supervise(sctx, s, &activity, cancel)
	wg.Wait()
	err = context.Cause(sctx)
	if ctx.Err() != nil {
		return nil
	}
	if !errors.Is(err, errRescan) {
		c.disconnectDevices(ctx, sink, s)
	}
	return err
}

func (c *Connector) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

// current returns the live session or an error saying the server is not connected.
func (c *Connector) current() (*session, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.sess == nil {
		return nil, fmt.Errorf("opc-ua server %s is not connected", c.cfg.Server.URL)
	}
	return c.sess, nil
}

// operationLimits reads the server's MaxNodesPerRead and MaxMonitoredItemsPerCall; 0 (no limit) or an
// unreadable value gives DefaultMaxNodesPerOperation, as the Python gateway does.
func (c *Connector) operationLimits(ctx context.Context, cl *opcua.Client) (read, monitor int) {
	read, monitor = DefaultMaxNodesPerOperation, DefaultMaxNodesPerOperation
	rctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis))
	defer cancel()
	dvs, err := readAttr(rctx, cl, []*ua.NodeID{
		ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead),
		ua.NewNumericNodeID(0, id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall),
	}, ua.AttributeIDValue, 2)
	if err != nil {
		return
	}
	pick := func(dv *ua.DataValue, def int) int {
		if dv == nil || dv.Status != ua.StatusOK || dv.Value == nil {
			return def
		}
		if n := dv.Value.Uint(); n > 0 && n < 1<<20 {
			return int(n)
		}
		return def
	}
	return pick(dvs[0], read), pick(dvs[1], monitor)
}

// supervise returns when sctx ends or, after cancelling it with the reason, when the client lost its connection,
// the liveness probe (a read of Server.ServerStatus.State every timeoutInMillis) fails, the watchdog finds
// the subscriptions silent for longer than server.subKeepAlivePeriodInSeconds, or the re-scan every
// scanPeriodInMillis is due with an incomplete resolution or finds a new device node (errRescan).
func (c *Connector) supervise(sctx context.Context, s *session, activity *atomic.Int64, cancel context.CancelCauseFunc) {
	srv := &c.cfg.Server
	period := ms(srv.TimeoutInMillis)
	silence := time.Duration(srv.SubKeepAlivePeriodInSeconds * float64(time.Second))
	if silence > 0 && silence < period {
		period = silence / 2
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	scan := time.NewTicker(ms(srv.ScanPeriodInMillis))
	defer scan.Stop()
	state := ua.NewNumericNodeID(0, id.Server_ServerStatus_State)
	for {
		select {
		case <-sctx.Done():
			return
		case <-scan.C:
			if s.incomplete {
				cancel(errRescan)
				return
			}
			if n := c.newDeviceNode(sctx, s); n != nil {
				c.log.Info("new device node found", "node", n)
				cancel(errRescan)
				return
			}
			continue
		case <-tick.C:
		}
		if st := s.c.State(); st != opcua.Connected {
			cancel(fmt.Errorf("client state %s", st))
			return
		}
		pctx, pcancel := context.WithTimeout(sctx, ms(srv.TimeoutInMillis))
		dvs, err := readAttr(pctx, s.c, []*ua.NodeID{state}, ua.AttributeIDValue, 1)
		pcancel()
		if sctx.Err() != nil {
			return
		}
		if err == nil && dvs[0].Status != ua.StatusOK {
			err = dvs[0].Status
		}
		if err != nil {
			cancel(fmt.Errorf("liveness probe: %w", err))
			return
		}
		if silence > 0 && *srv.EnableSubscriptions {
			if idle := time.Since(time.Unix(0, activity.Load())); idle > silence {
				cancel(fmt.Errorf("%w for %s", ErrSilent, idle.Round(time.Millisecond)))
				return
			}
		}
	}
}

// announce sends a connect record for every resolved device and the values of constant keys.
func (c *Connector) announce(ctx context.Context, sink tbgateway.Sink, s *session) error {
	recs := make([]tbgateway.Record, 0, len(s.order))
	for _, d := range s.order {
		recs = append(recs, tbgateway.Record{Kind: tbgateway.KindConnect, Device: d.name, DeviceType: d.typ, Connector: c.name})
		var b recordBuilder
		for _, it := range d.items {
			if it.spec.isConst && it.spec.constant != nil {
				b.add(it, it.spec.constant, 0)
			}
		}
		recs = append(recs, b.records(c.name, d)...)
	}
	if err := sink.Send(ctx, recs...); err != nil {
		return fmt.Errorf("announce devices: %w", err)
	}
	return nil
}

// disconnectDevices tells ThingsBoard the devices are offline after the connection was lost (Python does the
// same); bounded so that a stuck storage does not delay the reconnect.
func (c *Connector) disconnectDevices(ctx context.Context, sink tbgateway.Sink, s *session) {
	dctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis))
	defer cancel()
	recs := make([]tbgateway.Record, 0, len(s.order))
	for _, d := range s.order {
		recs = append(recs, tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: d.name, DeviceType: d.typ, Connector: c.name})
	}
	if err := sink.Send(dctx, recs...); err != nil && ctx.Err() == nil {
		c.log.Warn("could not report devices disconnected", "err", err)
	}
}
