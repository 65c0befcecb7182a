// Package ble is the "ble" connector: it reads Bluetooth Low Energy devices through BlueZ (bluetoothd) over the
// system D-Bus into device attributes and time series, by reading characteristics every pollPeriod, by
// notifications and from the advertisements a scanner sees, and serves ThingsBoard's attribute updates and RPCs
// by writing and reading characteristics. Its configuration is the Python gateway's ble.json (see Decode).
//
// Behaviour, following the Python gateway (thingsboard_gateway/connectors/ble, bleak), with the differences named:
//   - One adapter per connector ("adapter", default the first BlueZ lists). Connection attempts go through one
//     FIFO queue, one at a time, each bounded by the device's timeout; a connected device keeps its connection.
//     Failed attempts and lost connections are retried per device with the back-off of internal/backoff:
//     connectRetry attempts connectRetryInSeconds apart (1 s when 0), then waitAfterConnectRetries, over again.
//     A device that goes away (disconnects or leaves range) is reconnected by itself and its data resumes.
//   - Devices with only advertisement keys and no downlink are never connected, as in Python.
//   - The scanner runs for the connector's life: scans of scannerTimeout (else scanner.timeout) started every
//     scannerPollPeriod (always scanning when the period is not longer). With passiveScanMode it asks BlueZ for
//     a passive scan (an advertisement monitor matching scanner.deviceName); without a name, or an adapter that
//     cannot, it warns and scans actively. Python's scanner always scans actively.
//   - Items are read and converted per characteristic; a characteristic that fails (read error, subscription
//     refused, value that does not convert) is logged once when it starts failing and once when it recovers,
//     counted (DeviceFaults), and the others go on.
//   - valueExpression: see Expr. A device's "type" picks the converter (bytes, the default for characteristics;
//     hex, the default for advertisement data); "extension" BytesBLEUplinkConverter / HexBytesBLEUplinkConverter
//     name them too. Any other "extension" is a converter registered with tbgateway.RegisterConverter (a Go
//     converter compiled in, or one written in config): its factory gets the device's JSON object (with its
//     "extensionConfig"), and Convert is called for every value with the topic "<MAC>/<characteristic UUID>"
//     (lower-case 128-bit), "<MAC>/advertisement" (manufacturer data) or "<MAC>/advertisement/<service UUID>"
//     and the raw bytes; records it returns without a device name are the device's. Python's "compute" (eval)
//     is refused.
//   - Advertisement keys read the manufacturer data of the lowest company id (Python: the first listed), or,
//     with a characteristicUUID, the service data of that service UUID (our addition). They are sent every
//     pollPeriod when an advertisement was seen since the previous poll.
//   - Downlink: see UpdateAttributes and HandleRPC.
package ble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/devicefault"
)

// Type is the connector type in the main config.
const Type = "ble"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check})
}

// Check is the connector's ConfigChecker: it decodes and validates cfg.Raw and compiles the devices, without I/O.
func Check(cfg tbgateway.ConnectorConfig) ([]string, error) {
	c, warnings, err := Decode(cfg.Where(), cfg.Raw)
	if err != nil {
		return warnings, err
	}
	_, err = compile(cfg.Where(), c)
	return append(warnings, extensionWarnings(cfg.Where(), c)...), err
}

func extensionWarnings(where string, c *Config) []string {
	var out []string
	for i, d := range c.Devices {
		if d.Extension == "" {
			continue
		}
		if _, ok := tbgateway.LookupConverter(d.Extension); !ok {
			out = append(out, fmt.Sprintf("%s: devices[%d].extension: no converter %q is compiled into this binary; "+
				"the device's telemetry and attributes are not sent", where, i, d.Extension))
		}
	}
	return out
}

func compile(where string, c *Config) ([]*device, error) {
	var out []*device
	for i := range c.Devices {
		d, err := compileDevice(&c.Devices[i])
		if err != nil {
			return nil, fmt.Errorf("%s: devices[%d]: %w", where, i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func newConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	c, _, err := Decode(cfg.Where(), cfg.Raw)
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = c.Name
	}
	return New(name, cfg.Where(), c, cfg.Logger)
}

// Connector is a BLE connector; build it with New. Its downlink methods may be called concurrently with Run.
type Connector struct {
	name    string
	cfg     *Config
	log     *slog.Logger
	devices []*device
	byName  map[string]*device
	faults  *devicefault.Tracker
	open    opener
	seen    *advertCache

	mu      sync.Mutex
	running bool
}

// opener connects to the adapter; close releases it.
type opener func(ctx context.Context, c *Config) (r radio, close func() error, err error)

// New compiles a decoded configuration into a connector that talks to BlueZ on the system bus. It does no I/O.
func New(name, where string, cfg *Config, log *slog.Logger) (*Connector, error) {
	return newWith(name, where, cfg, log, openBlueZ)
}

func newWith(name, where string, cfg *Config, log *slog.Logger, open opener) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	devs, err := compile(where, cfg)
	if err != nil {
		return nil, err
	}
	c := &Connector{name: name, cfg: cfg, log: log, devices: devs, byName: map[string]*device{},
		faults: devicefault.New(log, devicefault.Options{}), open: open, seen: newAdvertCache(maxAdverts)}
	for _, d := range devs {
		c.byName[d.name] = d
	}
	return c, nil
}

// Devices lists the configured devices.
func (c *Connector) Devices() []tbgateway.DeviceInfo {
	out := make([]tbgateway.DeviceInfo, 0, len(c.devices))
	for _, d := range c.devices {
		out = append(out, tbgateway.DeviceInfo{Name: d.name, Type: d.cfg.DeviceType})
	}
	return out
}

// SharedAttributeKeys lists the attributeUpdates keys of the device.
func (c *Connector) SharedAttributeKeys(device string) []string {
	d := c.byName[device]
	if d == nil {
		return nil
	}
	keys := make([]string, 0, len(d.updates))
	for k := range d.updates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ReportStrategies returns the per-device and per-key report strategies of the configuration.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	for _, d := range c.devices {
		if len(d.cfg.ReportStrategy) > 0 {
			out = append(out, tbgateway.ReportStrategyRule{Device: d.name, Config: d.cfg.ReportStrategy})
		}
		for _, ks := range [][]KeyConfig{d.cfg.Telemetry, d.cfg.Attributes} {
			for _, k := range ks {
				if len(k.ReportStrategy) > 0 {
					out = append(out, tbgateway.ReportStrategyRule{Device: d.name, Key: k.Key, Config: k.ReportStrategy})
				}
			}
		}
	}
	return out
}

// DeviceFaults returns the device-fault counters: failed connection attempts, characteristics that fail to read,
// subscribe or convert, scans that fail; see tbgateway.DeviceFaultReporter.
func (c *Connector) DeviceFaults() tbgateway.DeviceFaultStats { return c.faults.Stats() }

// errNotRunning answers downlink calls while Run is not running.
var errNotRunning = errors.New("ble connector is not running")

// Run opens the adapter, starts the scanner and one session per device, and returns nil once ctx is cancelled
// and every goroutine it started has ended. It returns an error when the adapter cannot be opened (the runtime
// retries with its restart policy).
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	r, closeRadio, err := c.open(ctx, c.cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ble connector %s: %w", c.name, err)
	}
	defer func() { _ = closeRadio() }()
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { c.scanLoop(ctx, r) })
	q := &connectQueue{}
	for _, d := range c.devices {
		if d.needsLink {
			wg.Go(func() { c.deviceLoop(ctx, r, q, d, sink) })
		}
		if len(d.adverts) > 0 {
			wg.Go(func() { c.advertLoop(ctx, d, sink) })
		}
	}
	wg.Wait()
	return nil
}

func (c *Connector) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}
