package tbgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Connector collects data from one kind of device source and hands it to the gateway. It is the heart of the
// stable connector API (with Sink, the optional interfaces below and RegisterConnector); docs/writing-a-connector.md
// walks through writing one.
//
// Run owns every goroutine the connector starts and returns only after they have stopped. It returns nil when ctx
// is cancelled (shutdown); any other return, or a panic, tells the runtime the connector failed, and the runtime
// restarts it with exponential backoff while the other connectors go on. Run must not retry forever internally
// on fatal errors: returning is how it asks for a restart. The runtime calls Run again on the same value for a
// restart, never twice at the same time. A connector that keeps several device sessions (ports, lines, devices)
// may instead reopen each one itself with internal/backoff, so that one device's outage does not restart the
// others.
type Connector interface {
	Run(ctx context.Context, sink Sink) error
}

// Sink is how a connector hands records to the gateway. It is safe for concurrent use.
type Sink interface {
	// Send validates the records, applies report strategies and puts what remains into storage. It returns
	// only once those records are durable under the storage's sync policy, so a connector may acknowledge its
	// device side (an MQTT PUBACK, a completed poll) after a nil return. Telemetry with TS 0 is stamped with the
	// time of the call, strictly increasing per device. An invalid record fails the call with an error wrapping
	// ErrInvalidRecord and nothing of the call is stored (do not retry it); a full storage under the "refuse
	// new" policy returns an error wrapping ErrStorageFull (send the same records again later, with backoff).
	// Blocking in Send is backpressure; it returns ctx.Err() when ctx ends first.
	Send(ctx context.Context, recs ...Record) error
	// RequestAttributes asks ThingsBoard for attributes of a device the connector owns and returns the values
	// found. client selects client scope, otherwise shared. It fails with ErrNotConnected when the link is down.
	RequestAttributes(ctx context.Context, device string, client bool, keys []string) (map[string]any, error)
	// Logger returns the connector's logger, named after it and at its configured level.
	Logger() *slog.Logger
}

// ErrNotConnected is returned by calls that need a live link to ThingsBoard while it is down.
var ErrNotConnected = errors.New("not connected to ThingsBoard")

// AttributeUpdater is implemented by connectors that accept shared-attribute updates from ThingsBoard.
// The runtime calls it for devices the connector owns (see the device table), with the changed values as record
// values (bool, int64, float64, string, RawJSON), also after a reconnect for the keys SharedKeysLister names; it
// may be called concurrently with Run and with other downlink calls. ctx bounds the call. An error is logged by
// the runtime and the update is not delivered again. Before Run and after Run returned it returns an error,
// never blocks or panics.
type AttributeUpdater interface {
	UpdateAttributes(ctx context.Context, device string, values map[string]any) error
}

// RPCHandler is implemented by connectors that serve RPC calls: server-side RPC for a device they own (Device
// set) and connector-wide methods "<connectorType>_<method>" (Device empty, Method without the prefix).
// It returns the JSON reply sent back to ThingsBoard (empty means {"success": true}), or an error that is sent as
// {"error": "..."}. ctx carries the RPC's deadline. It may be called concurrently with Run and other downlink
// calls; before Run and after Run returned it returns an error, never blocks or panics.
type RPCHandler interface {
	HandleRPC(ctx context.Context, req RPCRequest) (json.RawMessage, error)
}

// RPCRequest is a server-side RPC call routed to a connector or to the gateway itself.
type RPCRequest struct {
	// Device is the target device name, or empty for a call to the gateway or a connector.
	Device string
	// ID is ThingsBoard's request id (per device, from 0).
	ID int64
	// Method is the RPC method name.
	Method string
	// Params is the caller's JSON params (object, string, number, ...), or nil.
	Params json.RawMessage
}

// DeviceLister is implemented by connectors that know their devices before any data arrives (from config), so
// the gateway can register them in the device table and announce them to ThingsBoard, and route downlink calls
// to them before their first data. The runtime calls Devices before every Run (start and restarts); it does no I/O.
type DeviceLister interface {
	Devices() []DeviceInfo
}

// DeviceInfo names a device and its type.
type DeviceInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// DeviceFaultReporter is implemented by connectors that track device-side faults: a register the device refuses
// or does not answer for, a node that does not exist, a payload on a topic that cannot be converted. The runtime
// reads it for the statistics (gateway_stats and the statistics telemetry); it is called concurrently with Run,
// must not block, and its counters never go down while the connector value lives (across restarts of Run).
type DeviceFaultReporter interface {
	DeviceFaults() DeviceFaultStats
}

// DeviceFaultStats are a connector's device-side fault counters.
type DeviceFaultStats struct {
	// Faults counts every fault seen: each failed read of an item, each bad message.
	Faults uint64 `json:"deviceFaults"`
	// Active is how many devices, addresses, nodes or topics are failing now.
	Active int `json:"deviceFaultsActive"`
}

// ConnectorConfig is what a connector factory receives: the connector's entry from the main config and the raw
// JSON of its own configuration file.
type ConnectorConfig struct {
	// Name is the connector's name from the main config ("name").
	Name string
	// Type is the connector type ("mqtt", "modbus", ...).
	Type string
	// File is the path of the connector's configuration file, for error messages; empty for inline config.
	File string
	// Raw is the connector's configuration JSON.
	Raw json.RawMessage
	// Logger is the connector's logger.
	Logger *slog.Logger
}

// ConnectorFactory decodes and validates a connector's configuration without doing any I/O and returns the
// connector, ready to Run. Errors name the file and the key path.
type ConnectorFactory func(cfg ConnectorConfig) (Connector, error)

// ConfigChecker is an optional, I/O-free check of a connector's configuration used by "tbgateway check-config".
// It returns warnings (unknown keys, ignored settings) and the first error found.
type ConfigChecker func(cfg ConnectorConfig) (warnings []string, err error)

// Converter turns one raw message from a device into records. Converters are pure: no I/O, no context, safe for
// concurrent use after construction.
type Converter interface {
	Convert(topic string, payload []byte) ([]Record, error)
}

// ReportStrategySource is implemented by connectors whose configuration sets report strategies for single
// devices or keys (the Python configs' per-device and per-key "reportStrategy" objects). The connector-wide
// "reportStrategy" of a connector file is read by the runtime itself.
type ReportStrategySource interface {
	ReportStrategies() []ReportStrategyRule
}

// ReportStrategyRule sets the report strategy of one device (Key empty), one key of every device of the
// connector (Device empty), or one key of one device. Config is the "reportStrategy" JSON object as written.
type ReportStrategyRule struct {
	Device string
	Key    string
	Config json.RawMessage
}

// SharedKeysLister is implemented by connectors that know which shared attributes a device listens to, so the
// gateway can request their current values from ThingsBoard when it (re)connects: ThingsBoard does not replay
// changes made while the gateway was offline.
type SharedKeysLister interface {
	SharedAttributeKeys(device string) []string
}

// Where names the connector's configuration in messages: its file, or "connector NAME" for inline config.
func (c ConnectorConfig) Where() string {
	if c.File != "" {
		return c.File
	}
	return "connector " + c.Name
}

// Located prefixes a decoder's warnings and error with Where, so that every message names the file; connector
// ConfigCheckers return its result.
func (c ConnectorConfig) Located(warnings []string, err error) ([]string, error) {
	where := c.Where()
	for i, w := range warnings {
		warnings[i] = where + ": " + w
	}
	if err != nil {
		return warnings, fmt.Errorf("%s: %w", where, err)
	}
	return warnings, nil
}
