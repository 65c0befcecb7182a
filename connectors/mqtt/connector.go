// Package mqtt is the "mqtt" connector: it subscribes to topics on an external MQTT broker (3.1, 3.1.1 or 5),
// converts what devices publish into records, and serves ThingsBoard's attribute updates and RPCs by publishing
// to the devices' topics. Its configuration is the Python gateway's mqtt.json, in the old or the new shape.
//
// Delivery: QoS 1 messages are acknowledged to the broker only after Sink.Send returned, that is after their
// records are in storage. With a persistent session — "cleanSession": false (MQTT 3.x) or "cleanStart": false
// with a "sessionExpiryInterval" (MQTT 5), and a fixed "clientId" — the broker keeps every message the gateway
// has not acknowledged while the gateway is down or restarting, so a crash of the gateway loses nothing. With a
// clean session the broker discards them: users who need no loss must configure exactly a persistent session.
// Messages in flight when a connection drops are delivered again by the broker and may repeat.
//
// Timestamps: telemetry keeps the device's own timestamp ("ts"/"timestamp" in the payload, or a key's tsField);
// otherwise TS stays 0 and the gateway stamps each message once, strictly increasing per device, so readings of
// one device that arrive within the same millisecond do not overwrite each other at ThingsBoard.
//
// Bad payloads (not JSON, no device name, a value that does not fit its type) are counted (Stats().BadPayloads,
// DeviceFaults), acknowledged and skipped; the connector keeps running. They go through the connector kit's
// devicefault tracker per topic and mapping (or request kind): logged once with the topic, the mapping and the
// reason when a topic starts receiving them ("device fault"), and once when a good payload arrives there again
// ("device fault cleared").
package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/devicefault"
)

// Type is the connector type in the main config.
const Type = "mqtt"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check})
}

// Check is the connector's ConfigChecker: it decodes and validates cfg.Raw without I/O. Warnings and the error
// name the file and the key path.
func Check(cfg tbgateway.ConnectorConfig) ([]string, error) {
	_, warnings, err := DecodeFile(cfg.Where(), cfg.Raw)
	return warnings, err
}

func newConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	c, _, err := DecodeFile(cfg.Where(), cfg.Raw)
	if err != nil {
		return nil, err
	}
	if cfg.Name != "" {
		c.Name = cfg.Name
	}
	return New(c, cfg.Logger)
}

// Tuning of the uplink pipeline.
const (
	// queueSize bounds the messages received and not yet converted; when it is full the broker connection's
	// reader waits (backpressure on the broker).
	queueSize = 4096
	// maxBatch is the most messages whose records go to storage in one Send (one sync of a durable storage).
	maxBatch = 512
	// maxRequestWorkers bounds concurrent attribute requests waiting for ThingsBoard.
	maxRequestWorkers = 16
)

// Connector is a running MQTT connector. It implements tbgateway.Connector, AttributeUpdater and RPCHandler;
// the downlink methods are safe to call concurrently with Run.
type Connector struct {
	name     string
	cfg      *Config
	c        *compiled
	log      *slog.Logger
	clientID string
	dial     dialFunc
	subs     []subscription

	// mu guards conn and waiting together, so that a connection made while an RPC registers its response topic
	// either sees that topic (and subscribes it) or is seen by the RPC (which subscribes it itself).
	mu      sync.Mutex
	conn    brokerConn               // nil while disconnected
	waiting map[string]*responseWait // response topic → the two-way RPC waiting for it

	reqSem chan struct{}
	reqWG  sync.WaitGroup
	stats  counters
	faults *devicefault.Tracker // device faults: unreadable tsField dates, unusable payloads (see faults.go)
}

var (
	_ tbgateway.Connector           = (*Connector)(nil)
	_ tbgateway.AttributeUpdater    = (*Connector)(nil)
	_ tbgateway.RPCHandler          = (*Connector)(nil)
	_ tbgateway.DeviceFaultReporter = (*Connector)(nil)
)

type counters struct {
	received, recordsSent, badPayloads, unmatched, acked, connects, sendRetries atomic.Uint64
}

// Stats are the connector's counters since it was built.
type Stats struct {
	Received    uint64 // messages received from the broker
	RecordsSent uint64 // records handed to the gateway
	BadPayloads uint64 // messages skipped because a converter or request handler refused them
	Unmatched   uint64 // messages no mapping or request matched
	Acked       uint64 // messages acknowledged to the broker after their records were stored
	Connects    uint64 // successful connections to the broker
	SendRetries uint64 // Sink.Send calls retried (storage full or another transient failure)
}

// Stats returns the connector's counters.
func (c *Connector) Stats() Stats {
	s := &c.stats
	return Stats{Received: s.received.Load(), RecordsSent: s.recordsSent.Load(), BadPayloads: s.badPayloads.Load(),
		Unmatched: s.unmatched.Load(), Acked: s.acked.Load(), Connects: s.connects.Load(), SendRetries: s.sendRetries.Load()}
}

// New builds a connector from a decoded configuration (see Decode); log may be nil. It does no I/O.
func New(cfg *Config, log *slog.Logger) (*Connector, error) {
	comp, err := compile(cfg, nil)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Connector{name: cfg.Name, cfg: cfg, c: comp, log: log, dial: dialBroker,
		waiting: map[string]*responseWait{}, reqSem: make(chan struct{}, maxRequestWorkers),
		faults: devicefault.New(log, devicefault.Options{})}
	for _, m := range comp.mappings {
		if jc, ok := m.conv.(*JSONConverter); ok {
			jc.dates = c
		}
	}
	c.clientID = cfg.Broker.ClientID
	if c.clientID == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		c.clientID = "tbgateway-" + hex.EncodeToString(b)
	}
	seen := map[string]bool{}
	add := func(f string, qos byte) {
		if !seen[f] {
			seen[f] = true
			c.subs = append(c.subs, subscription{filter: f, qos: qos})
		}
	}
	for _, m := range comp.mappings {
		add(m.filter.subscribe, m.qos)
	}
	for _, r := range comp.connects {
		add(r.filter.subscribe, DefaultQoS)
	}
	for _, r := range comp.disconnect {
		add(r.filter.subscribe, DefaultQoS)
	}
	for _, r := range comp.attrReqs {
		add(r.filter.subscribe, DefaultQoS)
	}
	return c, nil
}

// Run connects to the broker, subscribes, and converts and stores what arrives until ctx is cancelled; a lost
// connection is re-dialled with exponential backoff and jitter, and the subscriptions are made again.
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan message, queueSize)
	var wg sync.WaitGroup
	wg.Go(func() { c.process(ctx, sink, queue) })
	defer func() {
		cancel()
		wg.Wait()
		c.reqWG.Wait()
	}()
	tlsCfg, err := tlsConfig(&c.cfg.Broker.Security, c.cfg.Broker.Host)
	if err != nil {
		return err
	}
	onMessage := func(m message) {
		c.stats.received.Add(1)
		if c.deliverResponse(m) {
			return
		}
		select {
		case queue <- m:
		case <-ctx.Done():
		}
	}
	b := &c.cfg.Broker
	addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
	bo, failing := backoff.New(b.ReconnectPolicy()), false
	for ctx.Err() == nil {
		conn, err := c.dial(ctx, b, c.clientID, tlsCfg, onMessage)
		pending := 0
		if err == nil {
			if pending, err = c.subscribe(ctx, conn); err != nil {
				c.setConn(nil)
				conn.Close()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !failing {
				c.log.Warn("cannot connect to the broker; retrying", "broker", addr, "err", err)
				failing = true
			} else {
				c.log.Debug("cannot connect to the broker", "broker", addr, "err", err)
			}
			if bo.Wait(ctx) != nil {
				break
			}
			continue
		}
		c.stats.connects.Add(1)
		c.log.Info("connected to the broker", "broker", addr, "clientId", c.clientID, "version", b.Version,
			"subscriptions", len(c.subs), "rpcResponseTopics", pending)
		failing = false
		bo.Reset()
		select {
		case <-conn.Done():
			c.log.Warn("lost the broker connection; reconnecting", "broker", addr, "err", conn.Err())
		case <-ctx.Done():
		}
		c.setConn(nil)
		conn.Close()
	}
	return nil
}

// subscribe makes the connection current and subscribes the configured topics together with the response topics
// of the two-way RPCs waiting at that moment, so that an RPC whose request went out before a reconnect still
// gets its reply. It returns how many response topics it subscribed.
func (c *Connector) subscribe(ctx context.Context, conn brokerConn) (int, error) {
	c.mu.Lock()
	c.conn = conn
	subs := slices.Clip(c.subs)
	for topic, w := range c.waiting {
		subs = append(subs, subscription{filter: topic, qos: w.qos})
	}
	c.mu.Unlock()
	return len(subs) - len(c.subs), conn.Subscribe(ctx, subs)
}

func (c *Connector) setConn(conn brokerConn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

func (c *Connector) current() brokerConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// errNotConnected is returned by downlink calls while the broker connection is down.
var errNotConnected = errors.New("not connected to the MQTT broker")

func (c *Connector) publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	conn := c.current()
	if conn == nil {
		return errNotConnected
	}
	if err := conn.Publish(ctx, topic, qos, retain, payload); err != nil {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	return nil
}
