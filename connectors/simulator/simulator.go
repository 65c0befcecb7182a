// Package simulator is the "simulator" connector: devices that exist only in the gateway and produce generated
// data, for demos, load tests and end-to-end tests without any hardware. It has no equivalent in the Python
// gateway; its configuration follows the Python connectors' style:
//
//	{
//	  "name": "Simulator",
//	  "seed": 1,
//	  "reportStrategy": {"type": "ON_RECEIVED"},
//	  "devices": [{
//	    "deviceName": "Sim Thermostat 1", "deviceType": "thermostat", "periodMs": 1000,
//	    "attributes": [{"key": "model", "value": "T-1000"}],
//	    "timeseries": [
//	      {"key": "temperature", "type": "sine", "min": 18, "max": 26, "periodSeconds": 60},
//	      {"key": "humidity", "type": "random", "min": 30, "max": 60},
//	      {"key": "cycles", "type": "counter"},
//	      {"key": "setpoint", "type": "constant", "value": 21.5},
//	      {"key": "heating", "type": "bool"},
//	      {"key": "mode", "type": "string", "value": "auto"}
//	    ]
//	  }]
//	}
//
// Each time Run starts, every device sends its attributes once, then its time series right away and every
// periodMs, stamped with strictly increasing timestamps per device. Series types are described at TypeSine and
// the following constants; "random" series are repeatable for a given seed.
//
// Downlink: a shared-attribute update is kept, applied to a constant or string series of the same key, and
// echoed back as the client attribute "lastSharedUpdate" (a JSON object of the values received). Device RPCs:
// "getValue" {"key"} → {"value": v} (the series' last value or an attribute's value), "setValue" {"key",
// "value"} → {"key", "value"} (the series becomes a constant of that value), "echo" → its params. Connector RPC
// "simulator_devices" → [{"name", "type"}, ...].
package simulator

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/sendretry"
)

// Type is the connector type in the main config.
const Type = "simulator"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: newConnector, Check: Check})
}

// Check is the simulator's ConfigChecker: it decodes and validates cfg.Raw without I/O. Warnings and the error
// name the file and the key path; the runtime logs the warnings when the connector starts.
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
	return New(c, cfg.Logger), nil
}

// Simulator is a running instance of the simulator connector. It implements tbgateway.Connector,
// DeviceLister, AttributeUpdater and RPCHandler; the downlink methods are safe to call concurrently with Run.
type Simulator struct {
	name       string
	ackLogPath string
	log        *slog.Logger

	mu      sync.Mutex
	devices []*device
	byName  map[string]*device
	sink    tbgateway.Sink // set while Run runs
	full    bool           // the last Send found storage full (logged once per change)
	ackLog  *ackLog        // set while Run runs when the config names an ackLog
	refused uint64
}

var (
	_ tbgateway.Connector        = (*Simulator)(nil)
	_ tbgateway.DeviceLister     = (*Simulator)(nil)
	_ tbgateway.AttributeUpdater = (*Simulator)(nil)
	_ tbgateway.RPCHandler       = (*Simulator)(nil)
)

type device struct {
	cfg    DeviceConfig
	series []*series
	attrs  map[string]any // configured client attributes
	shared map[string]any // last shared attributes received
	lastTS int64
}

type series struct {
	cfg     SeriesConfig
	typ     string
	value   any // constant/string value, counter position (int64) or bool state
	rng     *rand.Rand
	last    any
	hasLast bool
}

// New returns a simulator for a decoded, validated configuration (see Decode); log may be nil.
func New(cfg *Config, log *slog.Logger) *Simulator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{name: cfg.Name, log: log, byName: map[string]*device{}, ackLogPath: cfg.AckLog}
	seed := uint64(DefaultSeed)
	if cfg.Seed != nil {
		seed = uint64(*cfg.Seed)
	}
	for i, dc := range cfg.Devices {
		d := &device{cfg: dc, attrs: map[string]any{}, shared: map[string]any{}}
		for _, a := range dc.Attributes {
			d.attrs[a.Key] = a.Value
		}
		for j, sc := range dc.Timeseries {
			se := &series{cfg: sc, typ: sc.Type, value: sc.Value}
			switch sc.Type {
			case TypeRandom:
				se.rng = rand.New(rand.NewPCG(seed, uint64(i)<<32|uint64(j)))
			case TypeCounter:
				if se.value == nil {
					se.value = int64(0)
					if sc.Min != nil {
						se.value = int64(*sc.Min)
					}
				}
			case TypeBool:
				if se.value == nil {
					se.value = false
				}
			}
			d.series = append(d.series, se)
		}
		s.devices = append(s.devices, d)
		s.byName[dc.DeviceName] = d
	}
	return s
}

// Devices lists the configured devices.
func (s *Simulator) Devices() []tbgateway.DeviceInfo {
	out := make([]tbgateway.DeviceInfo, len(s.devices))
	for i, d := range s.devices {
		out[i] = tbgateway.DeviceInfo{Name: d.cfg.DeviceName, Type: d.cfg.DeviceType}
	}
	return out
}

// Refused returns how many Sends storage refused because it was full (each refused record is sent again).
func (s *Simulator) Refused() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Run sends every device's attributes, then its time series every period, until ctx is done (it then returns
// nil). A record refused with ErrStorageFull (counted in Refused, logged once per episode) is sent again, the
// same reading with its timestamp, at the device's next period, before the device samples anew: a full storage
// delays readings, it loses none. Any other Send error ends Run with that error so the runtime restarts the
// connector.
func (s *Simulator) Run(ctx context.Context, sink tbgateway.Sink) error {
	var al *ackLog
	if s.ackLogPath != "" {
		var err error
		if al, err = openAckLog(s.ackLogPath); err != nil {
			return fmt.Errorf("simulator %q: %w", s.name, err)
		}
	}
	s.mu.Lock()
	s.sink = sink
	s.ackLog = al
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.sink = nil
		s.ackLog = nil
		s.mu.Unlock()
		if al != nil {
			al.close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(s.devices))
	var wg sync.WaitGroup
	for _, d := range s.devices {
		wg.Go(func() {
			if err := s.runDevice(ctx, sink, d); err != nil {
				errc <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc // nil when every device stopped because ctx is done
}

func (s *Simulator) runDevice(ctx context.Context, sink tbgateway.Sink, d *device) error {
	period := time.Duration(d.cfg.PeriodMs) * time.Millisecond
	refused := false
	// a refused record is sent again every period, before the device samples anew
	sender := sendretry.Sender{Policy: backoff.Fixed(period), FullOnly: true,
		Refused: func(_ error, _ int) { refused = true; s.storageFull(d) }}
	sender.Policy.Jitter = -1
	var first []tbgateway.Record // what the device has at its start: its attributes, its first sample
	if rec, ok := s.attributesRecord(d); ok {
		first = append(first, rec)
	}
	if len(d.series) > 0 {
		first = append(first, s.sample(d, time.Now()))
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for _, rec := range first {
		if err := s.send(ctx, sink, sender, rec); err != nil || ctx.Err() != nil {
			return err
		}
	}
	for len(d.series) > 0 {
		if refused {
			t.Reset(period) // the period starts after the refused reading was stored
			refused = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.send(ctx, sink, sender, s.sample(d, time.Now())); err != nil || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// storageFull counts a Send of d storage refused because it was full, logging the first of an episode.
func (s *Simulator) storageFull(d *device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused++
	if !s.full {
		s.full = true
		s.log.Warn("storage full; simulated readings wait until it has room", "device", d.cfg.DeviceName)
	}
}

// send stores one record through sender (which sends it again while storage is full); it returns nil when the
// record is stored or ctx ended, and an error for any other failure.
func (s *Simulator) send(ctx context.Context, sink tbgateway.Sink, sender sendretry.Sender, rec tbgateway.Record) error {
	err := sender.Send(ctx, sink, rec)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulator %q: device %q: %w", s.name, rec.Device, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ackLog != nil && len(rec.Telemetry) > 0 {
		if err := s.ackLog.write(rec); err != nil {
			return fmt.Errorf("simulator %q: %w", s.name, err)
		}
	}
	if s.full {
		s.full = false
		s.log.Info("storage accepts data again", "refused", s.refused)
	}
	return nil
}

func (s *Simulator) attributesRecord(d *device) (tbgateway.Record, bool) {
	if len(d.attrs) == 0 {
		return tbgateway.Record{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	attrs := make(map[string]any, len(d.attrs))
	for k, v := range d.attrs {
		attrs[k] = v
	}
	return tbgateway.Record{Device: d.cfg.DeviceName, DeviceType: d.cfg.DeviceType, Connector: s.name, Attributes: attrs}, true
}

// sample computes the next value of every series of d at now, stamped strictly after the previous sample.
func (s *Simulator) sample(d *device, now time.Time) tbgateway.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := max(now.UnixMilli(), d.lastTS+1)
	d.lastTS = ts
	vals := make(map[string]any, len(d.series))
	for _, se := range d.series {
		v := se.next(now)
		se.last, se.hasLast = v, true
		vals[se.cfg.Key] = v
	}
	return tbgateway.Record{Device: d.cfg.DeviceName, DeviceType: d.cfg.DeviceType, Connector: s.name,
		Telemetry: []tbgateway.Telemetry{{TS: ts, Values: vals}}}
}

// next returns the series' value for an emission at now.
func (se *series) next(now time.Time) any {
	switch se.typ {
	case TypeSine:
		lo, hi := *se.cfg.Min, *se.cfg.Max
		phase := float64(now.UnixNano()) / 1e9 / se.cfg.PeriodSeconds
		return round3(lo + (hi-lo)*(1+math.Sin(2*math.Pi*phase))/2)
	case TypeRandom:
		lo, hi := *se.cfg.Min, *se.cfg.Max
		return round3(lo + (hi-lo)*se.rng.Float64())
	case TypeCounter:
		v := se.value.(int64)
		next := v + 1
		if se.cfg.Max != nil && float64(next) > *se.cfg.Max {
			next = se.start()
		}
		se.value = next
		return v
	case TypeBool:
		v := se.value.(bool)
		se.value = !v
		return v
	}
	return se.value // constant, string
}

// start is where a counter wraps to.
func (se *series) start() int64 {
	if v, ok := se.cfg.Value.(int64); ok {
		return v
	}
	if se.cfg.Min != nil {
		return int64(*se.cfg.Min)
	}
	return 0
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
