// Package opcua is the "opcua" connector: it reads OPC-UA servers' variables into device attributes and time
// series, by subscription (monitored items) or by polling, and serves ThingsBoard's attribute updates and RPCs by
// writing nodes and calling methods. Its configuration is the Python gateway's opcua.json (see Config).
//
// Behaviour, following the Python gateway (thingsboard_gateway/connectors/opcua, asyncua):
//   - Nodes are named by node id (ns=2;i=5, s=, g=, b=) or by browse path split on `\.` ("Root\.Objects\.Dev",
//     absolute; "Child\.Leaf", relative to the device node; "2:Name" pins a namespace). Paths are resolved by
//     browsing (one Browse per parent node) once per session and cached for server.scanPeriodInMillis, across
//     reconnects. A deviceNodePattern path step follows every child with its browse name, so a pattern may name
//     several device nodes: each is a device, named and read relative to its own node. Every scanPeriodInMillis
//     the device patterns are browsed again (Python re-scans periodically); when a mapping or key did not
//     resolve, or a new device node turned up, the session is rebuilt to take it in.
//   - Device names and profiles are templates with optional ${node} reads, evaluated when the device is resolved.
//   - Values are converted as recordValue documents. Telemetry keeps the server's source or server timestamp when
//     the key's timestampLocation asks for it; otherwise Telemetry.TS is 0 and the gateway stamps it (Python's
//     default "gateway").
//   - The connector owns reconnects (gopcua's AutoReconnect is off, see the v0.8.0 subscription bug): every loss of
//     the session, failed liveness probe, publish error or silent subscription (watchdog) closes the client,
//     waits with the back-off of internal/backoff and builds the session, the resolution and the subscriptions again.
//     After server.reconnectRetriesCount failed connection attempts in a row (8 by default, 0 or less: never)
//     Run returns an error: the runtime reports the connector failed and restarts it with its restart policy.
//   - Subscription mode puts all monitored items into one subscription (more only when the server refuses more
//     items per subscription) instead of Python's one per device: servers cap subscriptions per session.
//     Polling mode reads all nodes every pollPeriodInMillis in batches of the server's MaxNodesPerRead.
//   - A key notified twice in one publish goes into a second record, so the gateway stamps each reading with its
//     own timestamp.
//   - Status names follow the OPC Foundation spelling ("BadNodeIdUnknown"), arrays become JSON arrays of the
//     elements' text (Python's string lists), booleans inside arrays and templates read "True"/"False".
//   - Device faults go through the connector kit's devicefault tracker: a key whose node does not resolve, is
//     refused as a monitored item (BadNodeIdUnknown, ...) or reads or is notified with a bad status, and a
//     mapping whose device node does not resolve, are logged once when they start ("device fault", with the
//     device, key and node, or the mapping and its pattern) and once when they end ("device fault cleared"),
//     across re-scans and reconnects, and counted (DeviceFaults). A refused monitored item is tried again with
//     the next session. A polled bad status is still reported as its name, as in Python.
//   - Downlink: see UpdateAttributes and HandleRPC.
package opcua

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/devicefault"
)

// Type is the connector type in the main config.
const Type = "opcua"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check})
}

// Check is the connector's ConfigChecker: it decodes and validates cfg.Raw without I/O. Warnings and the error
// name the file and the key path; the runtime logs the warnings when the connector starts.
func Check(cfg tbgateway.ConnectorConfig) ([]string, error) {
	_, warnings, err := Decode(cfg.Where(), cfg.Raw)
	return warnings, err
}

// newConnector builds the connector; its warnings are Check's, which the runtime logs at start.
func newConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	c, _, err := Decode(cfg.Where(), cfg.Raw)
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = c.Name
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return New(name, c, log)
}

// Connector is a running OPC-UA connector; build it with New.
type Connector struct {
	name     string
	cfg      *Config
	log      *slog.Logger
	mappings []*mapping
	cache    *pathCache
	cert     clientCert
	faults   *devicefault.Tracker
	// plainChannelLogged: the fall back to an unsecured channel (see dial) is logged once per connector.
	plainChannelLogged atomic.Bool

	mu   sync.RWMutex
	sess *session // the live session, nil while disconnected
}

// New compiles a decoded configuration into a connector. It does no I/O.
func New(name string, cfg *Config, log *slog.Logger) (*Connector, error) {
	c := &Connector{name: name, cfg: cfg, log: log, cache: newPathCache(ms(cfg.Server.ScanPeriodInMillis)),
		faults: devicefault.New(log, devicefault.Options{})}
	for i := range cfg.Mapping {
		m, err := compileMapping(i, &cfg.Mapping[i])
		if err != nil {
			return nil, fmt.Errorf("mapping[%d]: %w", i, err)
		}
		c.mappings = append(c.mappings, m)
	}
	return c, nil
}

// Devices lists the devices whose name and profile are constants in the configuration; devices named from node
// values are announced when they are resolved.
func (c *Connector) Devices() []tbgateway.DeviceInfo {
	var out []tbgateway.DeviceInfo
	for _, m := range c.mappings {
		if !m.name.HasExpr() && !m.profile.HasExpr() {
			out = append(out, tbgateway.DeviceInfo{Name: m.name.Text, Type: profileOr(m.profile.Text)})
		}
	}
	return out
}

// SharedAttributeKeys lists the attribute-update keys configured for the device.
func (c *Connector) SharedAttributeKeys(device string) []string {
	c.mu.RLock()
	s := c.sess
	c.mu.RUnlock()
	if s == nil {
		return nil
	}
	d := s.devices[device]
	if d == nil {
		return nil
	}
	keys := make([]string, 0, len(d.m.updates))
	for k := range d.m.updates {
		keys = append(keys, k)
	}
	return keys
}

// ReportStrategies returns the per-device and per-key report strategies of the configuration.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	for _, m := range c.mappings {
		if m.name.HasExpr() {
			continue // a device named from node values is only known after resolution
		}
		dev := m.name.Text
		if len(m.cfg.ReportStrategy) > 0 {
			out = append(out, tbgateway.ReportStrategyRule{Device: dev, Config: m.cfg.ReportStrategy})
		}
		for _, k := range m.keys {
			if len(k.strategy) > 0 {
				out = append(out, tbgateway.ReportStrategyRule{Device: dev, Key: k.key, Config: k.strategy})
			}
		}
	}
	return out
}

// Run connects to the server and keeps the connection, reconnecting after every loss with the connector's
// back-off (see reconnectPolicy) until ctx is cancelled; then it returns nil. It returns an error for problems a
// retry cannot fix (unreadable certificate files) and, wrapping ErrRetriesExhausted, after
// server.reconnectRetriesCount connection attempts in a row failed (see keepConnected).
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	return c.keepConnected(ctx, sink, c.runSession)
}

// reconnectPolicy is the Python connector's back-off: reconnectBackoffInitialDelay seconds, times
// reconnectBackoffFactor per failure, capped at 80 % of the session timeout and at one minute. Only a session
// that stayed up for healthySession (or the cap, when longer) starts the next failure from the initial delay
// again, so a server that accepts the connection and then fails every time is not retried in a tight loop.
func (c *Connector) reconnectPolicy() backoff.Policy {
	srv := &c.cfg.Server
	p := backoff.OPCUA(srv.ReconnectBackoffInitialDelay, srv.ReconnectBackoffFactor, ms(srv.SessionTimeoutInMillis))
	p.Max = max(min(p.Max, time.Minute), p.Initial)
	p.HealthyAfter = max(healthySession, p.Max)
	return p
}

// healthySession is how long a session must have lasted for its loss to count as a new failure (logged at warn
// level, back-off restarted from reconnectBackoffInitialDelay).
const healthySession = 30 * time.Second

// fatalError is a configuration problem found at run time that a reconnect cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func profileOr(p string) string {
	if p == "" {
		return tbgateway.DefaultDeviceType
	}
	return p
}
