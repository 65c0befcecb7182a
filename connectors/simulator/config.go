package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/values"
	"github.com/tbgateway/tbgateway/report"
)

// Defaults applied by Decode.
const (
	// DefaultPeriodMs is a device's default emission period.
	DefaultPeriodMs = 1000
	// DefaultSeed seeds the "random" series when the config names no seed, so runs are repeatable.
	DefaultSeed = 1
	// DefaultMin and DefaultMax bound "sine" and "random" series without min/max.
	DefaultMin, DefaultMax = 0.0, 100.0
	// DefaultSinePeriodSeconds is the default period of a "sine" series.
	DefaultSinePeriodSeconds = 60.0
)

// Series types.
const (
	TypeSine     = "sine"     // min..max following a sine wave of periodSeconds, from wall-clock time
	TypeRandom   = "random"   // uniform in [min, max), from the seeded generator
	TypeCounter  = "counter"  // integer from value (or min, or 0) up by 1 per emission, back to the start after max
	TypeConstant = "constant" // value (the default type); setValue and shared attributes change it
	TypeBool     = "bool"     // toggles each emission, starting from value (false)
	TypeString   = "string"   // the string value; setValue and shared attributes change it
)

var seriesTypes = []string{TypeSine, TypeRandom, TypeCounter, TypeConstant, TypeBool, TypeString}

// Config is the simulator connector's configuration file (JSON, camelCase like the Python gateway's files; see
// the package documentation for an example).
type Config struct {
	// Name is the connector's name ("name"); the main config's name wins when both are set.
	Name string
	// LogLevel ("logLevel") is accepted like in every Python connector config; the runtime applies it.
	LogLevel string
	// Seed ("seed") seeds the random series (DefaultSeed when absent).
	Seed *int64
	// AckLog ("ackLog"), when set, is a file to which every telemetry record is appended as one JSON line
	// {"device","ts","values"} once the gateway has accepted it (Sink.Send returned): the simulator's "device side
	// acknowledgement", which delivery tests compare with what reached ThingsBoard. A relative path is relative to
	// the gateway's working directory.
	AckLog string
	// ReportStrategy is the connector-wide report strategy; the runtime applies it, Decode checks it.
	ReportStrategy json.RawMessage
	// Devices ("devices") are the simulated devices; at least one.
	Devices []DeviceConfig
}

// DeviceConfig is one simulated device.
type DeviceConfig struct {
	// DeviceName ("deviceName") is the device's name at ThingsBoard; required, unique within the connector.
	DeviceName string
	// DeviceType ("deviceType") is its device profile (tbgateway.DefaultDeviceType when absent).
	DeviceType string
	// PeriodMs ("periodMs") is how often the device emits its time series (DefaultPeriodMs when absent or 0).
	PeriodMs int
	// ReportStrategy is the device's report strategy; the runtime applies it, Decode checks it.
	ReportStrategy json.RawMessage
	// Attributes are client attributes sent once each time the connector starts.
	Attributes []AttributeConfig
	// Timeseries are the generated time series.
	Timeseries []SeriesConfig
}

// AttributeConfig is a fixed client attribute {"key", "value"}; Value is a record value.
type AttributeConfig struct {
	Key   string
	Value any
}

// SeriesConfig is one generated time series.
type SeriesConfig struct {
	// Key is the telemetry key; required, unique within the device.
	Key string
	// Type is one of sine, random, counter, constant (default), bool, string (any case).
	Type string
	// Min and Max bound sine and random (defaults 0 and 100) and wrap counter (when Max is set).
	Min *float64
	Max *float64
	// PeriodSeconds is the sine's period (default 60).
	PeriodSeconds float64
	// Value is the constant or string value, the counter's start or the bool's first value, as a record value.
	Value any
	// ReportStrategy is the key's report strategy; the runtime applies it, Decode checks it.
	ReportStrategy json.RawMessage
}

// Decode parses a configuration, applies the defaults and validates it, without I/O; file names the file in
// every message. It returns warnings for unknown keys (with their path) and an error naming the key path of the
// first problem. It never panics.
func Decode(file string, raw []byte) (*Config, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{Name: root.String("name", ""), LogLevel: root.String("logLevel", "")}
	seed := root.Int("seed", DefaultSeed, math.MinInt64, math.MaxInt64)
	cfg.Seed = &seed
	cfg.AckLog = root.String("ackLog", "")
	cfg.ReportStrategy = report.Read(root, "reportStrategy")
	root.Ignore("id", "configVersion", "enableRemoteLogging")
	devs := root.Objects("devices")
	if len(devs) == 0 {
		d.Failf(root.Key("devices"), "at least one device is required")
	}
	cfg.Devices = decodeUnique(devs, "deviceName", decodeDevice, func(d DeviceConfig) string { return d.DeviceName })
	root.Done()
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

func decodeDevice(o *confjson.Object) DeviceConfig {
	d := o.Decoder()
	dc := DeviceConfig{DeviceName: o.String("deviceName", ""), DeviceType: o.String("deviceType", tbgateway.DefaultDeviceType)}
	if o.Require("deviceName", "the device's name") && strings.TrimSpace(dc.DeviceName) == "" {
		d.Fail(o.Key("deviceName"), "the device's name", dc.DeviceName)
	}
	if dc.PeriodMs = int(o.IntAs("periodMs", 0, 0, math.MaxInt32, "a positive number of milliseconds")); dc.PeriodMs == 0 {
		dc.PeriodMs = DefaultPeriodMs
	}
	dc.ReportStrategy = report.Read(o, "reportStrategy")
	for _, ao := range o.Objects("attributes") {
		a := AttributeConfig{Key: ao.String("key", "")}
		if ao.Require("key", "the attribute's name") && strings.TrimSpace(a.Key) == "" {
			d.Fail(ao.Key("key"), "the attribute's name", a.Key)
		}
		a.Value = recordValue(ao, "value", true)
		ao.Done()
		dc.Attributes = append(dc.Attributes, a)
	}
	dc.Timeseries = decodeUnique(o.Objects("timeseries"), "key", decodeSeries, func(s SeriesConfig) string { return s.Key })
	if len(dc.Attributes) == 0 && len(dc.Timeseries) == 0 {
		d.Failf(o.Path(), "no attributes and no timeseries")
	}
	return dc
}

// decodeUnique decodes each object (and calls its Done); a name (the value at key) used by an earlier object is
// an error at that key.
func decodeUnique[T any](objs []*confjson.Object, key string, decode func(*confjson.Object) T, name func(T) string) []T {
	seen := map[string]bool{}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		v := decode(o)
		o.Done()
		if n := name(v); seen[n] {
			o.Decoder().Failf(o.Key(key), "%q is used twice", n)
		}
		seen[name(v)] = true
		out = append(out, v)
	}
	return out
}

// recordValue reads the value at key as a record value (values.FromJSON); absent or null is an error when
// required.
func recordValue(o *confjson.Object, key string, required bool) any {
	raw, ok := o.Get(key)
	if !ok {
		if required {
			o.Decoder().FailMissing(o.Key(key), "a value")
		}
		return nil
	}
	v, err := values.FromJSON(raw)
	if err != nil {
		o.Decoder().Failf(o.Key(key), "%v", err)
	}
	return v
}

func decodeSeries(o *confjson.Object) SeriesConfig {
	d := o.Decoder()
	s := SeriesConfig{Key: o.String("key", "")}
	switch {
	case !o.Require("key", "the time series' key"):
	case strings.TrimSpace(s.Key) == "":
		d.Fail(o.Key("key"), "the time series' key", s.Key)
	case len(s.Key) > tbgateway.MaxKeyLength:
		d.Failf(o.Key("key"), "longer than %d bytes", tbgateway.MaxKeyLength)
	}
	s.Type = o.OneOf("type", TypeConstant, seriesTypes...)
	s.ReportStrategy = report.Read(o, "reportStrategy")
	number := func(key string) *float64 {
		if !o.Has(key) {
			o.Ignore(key)
			return nil
		}
		f := o.Float(key, 0, -math.MaxFloat64, math.MaxFloat64)
		return &f
	}
	s.Min, s.Max = number("min"), number("max")
	if s.Type == TypeSine || s.Type == TypeRandom {
		if s.Min == nil {
			s.Min = ptr(DefaultMin)
		}
		if s.Max == nil {
			s.Max = ptr(DefaultMax)
		}
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		d.Failf(o.Key("min"), "%v is above max %v", *s.Min, *s.Max)
	}
	s.PeriodSeconds = o.FloatAs("periodSeconds", DefaultSinePeriodSeconds, math.SmallestNonzeroFloat64, math.MaxFloat64, "a positive number of seconds")
	s.Value = recordValue(o, "value", s.Type == TypeConstant || s.Type == TypeString)
	switch s.Type {
	case TypeCounter:
		if _, ok := s.Value.(int64); s.Value != nil && !ok {
			d.Fail(o.Key("value"), "an integer counter start", s.Value)
		}
	case TypeBool:
		if _, ok := s.Value.(bool); s.Value != nil && !ok {
			d.Fail(o.Key("value"), "true or false", s.Value)
		}
	case TypeString:
		if _, ok := s.Value.(string); s.Value != nil && !ok {
			d.Fail(o.Key("value"), "a string", s.Value)
		}
	}
	return s
}

func ptr(f float64) *float64 { return &f }

// recordValueOf converts a value from ThingsBoard (a shared attribute, an RPC parameter) to a record value a
// series may carry; nil is an error.
func recordValueOf(v any) (any, error) {
	out, err := values.FromJSON(values.Tree(v))
	if err == nil && out == nil {
		err = errors.New("no value")
	}
	if err != nil {
		return nil, fmt.Errorf("value %v: %w", v, err)
	}
	return out, nil
}
