// Package uplink is the gateway's link to ThingsBoard: one MQTT 5 connection (paho.golang) that drains a
// tbgateway.Storage into gateway-API messages and delivers what ThingsBoard sends back (shared attributes, RPC)
// to a tbgateway.Downlink.
//
// Delivery: records are packed per device, in order, into v1/gateway/* messages up to the server's payload
// limit, published at QoS 1 through a sliding window of in-flight messages, and acknowledged to the storage only
// after the PUBACK of every message that carried part of them. Records ThingsBoard rejects as malformed go to a
// dead-letter file; only a lost connection and rate limits are retried. A dropped link rewinds the storage, so
// the records in flight at that moment are the only possible duplicates, and they are counted.
//
// Live-first (Config.LiveFirst, with a storage that implements tbgateway.LiveReader): the telemetry produced
// since the connect is read from the storage's live lane and sent beside the backlog of an outage, the two lanes
// taking turns, instead of behind it. Both lanes obey the same rate limits and in-flight window, and the
// delivery contract is unchanged; only telemetry may overtake (see tbgateway.LiveReader for why that is safe).
//
// The uplink imports the core package and internal/backoff only; it never knows a connector or a storage type.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// EventType names a change of the link's state.
type EventType int

const (
	// EventConnected: the connection is up, subscribed, session limits applied, Downlink.OnConnect has returned
	// (devices re-announced); delivery starts.
	EventConnected EventType = iota + 1
	// EventDisconnected: an established connection ended (Err says why; nil on shutdown).
	EventDisconnected
	// EventRejected: ThingsBoard refused the CONNECT (bad credentials, rate limit); Err carries the reason code.
	EventRejected
	// EventConnectFailed: the connection could not be opened (network, TLS).
	EventConnectFailed
)

// String returns the event's name.
func (t EventType) String() string {
	switch t {
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventRejected:
		return "rejected"
	case EventConnectFailed:
		return "connect-failed"
	}
	return fmt.Sprintf("event(%d)", int(t))
}

// Event is one change of the link's state.
type Event struct {
	Type EventType
	Err  error
	Time time.Time
}

// eventBuffer is the capacity of the Events channel.
const eventBuffer = 64

// Client is the ThingsBoard link. Create it with New and start it with Run; the other methods are safe for
// concurrent use at any time.
type Client struct {
	// set is the configuration in force (conf returns it). A connection uses the one it was opened with;
	// Reconnect and SetRateLimits store a new one (see swap.go).
	set   atomic.Pointer[settings]
	store tbgateway.Storage
	down  tbgateway.Downlink
	log   *slog.Logger

	events chan Event
	stats  counters

	mu      sync.RWMutex
	link    *link // current connection, nil when down
	devRate rateSpec
	ownRate *rateSet
	devSets map[string]*rateSet // per device behind the gateway; guarded by mu
	// srvOwn and srvDev are the rate limits of the last getSessionLimits answer (nil: none), kept so that
	// SetRateLimits can fall back to them. Guarded by mu.
	srvOwn, srvDev *serverRates
	// ratesChanged is closed (and replaced) when SetRateLimits changes the limits, waking whoever waits for a
	// limiter. Guarded by mu.
	ratesChanged chan struct{}
	seen         map[string]struct{} // devices already sent to, for the gateway's "new device" charge; guarded by mu

	reqID   atomic.Int64
	pending pendingRequests
	jobs    chan func(context.Context)
	// attrJobs are the shared-attribute updates of devices, run one at a time in the order ThingsBoard sent
	// them (so a device ends up with the last value set), apart from the jobs the pool runs.
	attrJobs chan func(context.Context)
	dead     deadLetterFile

	// suspects are records of a message ThingsBoard rejected as malformed together with other records: until
	// each is settled, it is packed alone, so the rejection lands on the bad record only. Guarded by mu.
	suspects map[uint64]struct{}

	// sessionLimitsWait is sessionLimitsTimeout; tests that withhold every PUBACK shorten it.
	sessionLimitsWait time.Duration

	// ackRetryPolicy paces the retries of a failed storage Ack (from ackRetryInitial up to ackRetryMax).
	ackRetryPolicy backoff.Policy

	// ackClock, when set, replaces the completer's ticker: each value is the current time at which the oldest
	// PUBACK wait is checked against AckTimeout. Tests drive the ack timeout with it instead of the wall clock.
	ackClock chan time.Time

	// encodeHook lets tests corrupt a packed payload (to provoke ThingsBoard's malformed-payload answer).
	encodeHook func(m *outMsg)

	swap swapState // a pending Reconnect and the means to stop the current connection (swap.go)
}

// settings is one configuration of the link with what is decided from it once.
type settings struct {
	cfg    Config
	useTLS bool // see Config.UsesTLS
}

// conf returns the configuration in force; never modify it.
func (c *Client) conf() *Config { return &c.set.Load().cfg }

// New checks cfg (filling defaults) and returns a Client; nothing happens until Run.
func New(cfg Config, store tbgateway.Storage, down tbgateway.Downlink, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || down == nil {
		return nil, errors.New("uplink: storage and downlink are required")
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		store: store, down: down, log: log, sessionLimitsWait: sessionLimitsTimeout,
		ackRetryPolicy: backoff.Policy{Initial: ackRetryInitial, Max: ackRetryMax},
		events:         make(chan Event, eventBuffer),
		devSets:        map[string]*rateSet{},
		seen:           map[string]struct{}{},
		suspects:       map[uint64]struct{}{},
		ratesChanged:   make(chan struct{}),
		jobs:           make(chan func(context.Context), downlinkQueue),
		attrJobs:       make(chan func(context.Context), downlinkQueue),
	}
	c.set.Store(&settings{cfg: cfg, useTLS: cfg.UsesTLS()})
	c.swap.wake = make(chan struct{}, 1)
	c.dead.path = cfg.DeadLetterPath
	c.pending.init()
	c.applyRates(nil, nil)
	return c, nil
}

// Events returns the channel that receives every connect, disconnect, rejection and failure. It holds the last
// 64 undelivered events; when nobody reads and it is full, new events are dropped (the link never blocks on it).
func (c *Client) Events() <-chan Event { return c.events }

func (c *Client) emit(t EventType, err error) {
	select {
	case c.events <- Event{Type: t, Err: err, Time: time.Now()}:
	default:
	}
}

// Connected reports whether the link is up and past its start-up (subscriptions and session limits).
func (c *Client) Connected() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.link != nil && c.link.ready.Load()
}

// InFlight returns the gateway-API messages published on the current connection and still awaiting their
// PUBACK; 0 while the link is down.
func (c *Client) InFlight() int {
	l := c.current()
	if l == nil {
		return 0
	}
	return l.ts.pending()
}

func (c *Client) current() *link {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.link == nil || !c.link.ready.Load() {
		return nil
	}
	return c.link
}

// Run connects and keeps the link up, reconnecting as the reconnect policy says (see reconnectPolicy), until ctx
// ends; then it disconnects, waits for its goroutines and returns nil. The only error it returns is a closed
// storage (nothing left to deliver from). Run must be called once. Reconnect moves the running link to another
// configuration.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	workCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers() // before wg.Wait: Run may also return with ctx still live
	defer c.swap.abandon()
	for range c.conf().DownlinkWorkers {
		wg.Go(func() { c.worker(workCtx, c.jobs) })
	}
	wg.Go(func() { c.worker(workCtx, c.attrJobs) })
	defer func() {
		if err := c.dead.close(); err != nil {
			c.log.Warn("closing the dead-letter file failed", "error", err)
		}
	}()
	return keepConnected(ctx, backoff.New(c.conf().reconnectPolicy()), c.log, c.swap.wake, c.connectOrSwap)
}

// applyRates (re)builds the limiters from the configured limits, falling back to the server's. Caller must not
// hold c.mu.
func (c *Client) applyRates(own, dev *serverRates) {
	pick := func(cfgVal string, srv string) []RateWindow {
		if cfgVal != "" {
			ws, _ := ParseRateLimits(cfgVal) // validated in Config.Validate
			return ws
		}
		ws, err := ParseRateLimits(srv)
		if err != nil {
			c.log.Warn("ignoring unparsable server rate limit", "limit", srv, "error", err)
			return nil
		}
		return scaleWindows(ws)
	}
	c.mu.Lock()
	c.srvOwn, c.srvDev = own, dev
	c.mu.Unlock()
	if own == nil {
		own = &serverRates{}
	}
	if dev == nil {
		dev = &serverRates{}
	}
	cfg := c.conf()
	ownSpec := rateSpec{
		msgs:    pick(cfg.MessagesRateLimits, own.Messages),
		telMsgs: pick(cfg.RateLimits, own.TelemetryMessages),
		telDP:   pick(cfg.DPRateLimits, own.TelemetryDataPoints),
	}
	devSpec := rateSpec{
		msgs:    pick(cfg.DeviceMessagesRateLimits, dev.Messages),
		telMsgs: pick(cfg.DeviceRateLimits, dev.TelemetryMessages),
		telDP:   pick(cfg.DeviceDPRateLimits, dev.TelemetryDataPoints),
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ownRate = newRateSet(ownSpec, now)
	if !equalSpec(devSpec, c.devRate) {
		c.devRate = devSpec
		clear(c.devSets)
	}
}

func equalSpec(a, b rateSpec) bool {
	eq := func(x, y []RateWindow) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.msgs, b.msgs) && eq(a.telMsgs, b.telMsgs) && eq(a.telDP, b.telDP)
}

// deviceRates returns the limiter of a device behind the gateway (nil when unlimited). Caller holds c.mu.
func (c *Client) deviceRatesLocked(dev string, now time.Time) *rateSet {
	if c.devRate.empty() {
		return nil
	}
	rs := c.devSets[dev]
	if rs == nil {
		rs = newRateSet(c.devRate, now)
		c.devSets[dev] = rs
	}
	return rs
}

// slowDown empties the limiters of the devices ThingsBoard said were over their limit.
func (c *Client) slowDown(devs ...string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range devs {
		c.deviceRatesLocked(d, now).drain(now)
	}
}

// waitOwnRate blocks until the gateway device's own limits allow one message with dps telemetry datapoints.
func (c *Client) waitOwnRate(ctx context.Context, telemetry bool, dps int) error {
	tm := 0
	if telemetry {
		tm = 1
	}
	for {
		c.mu.Lock()
		w := c.ownRate.reserve(1, tm, dps, time.Now())
		c.mu.Unlock()
		if w == 0 {
			return nil
		}
		if err := c.sleepRate(ctx, w); err != nil {
			return err
		}
	}
}
