package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
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

// Config is the simulator connector's configuration file (JSON, camelCase like the Python gateway's files).
type Config struct {
	// Name is the connector's name; the main config's name wins when both are set.
	Name string `json:"name,omitempty"`
	// LogLevel is accepted like in every Python connector config; the runtime applies it.
	LogLevel string `json:"logLevel,omitempty"`
	// Seed seeds the random series (DefaultSeed when absent).
	Seed *int64 `json:"seed,omitempty"`
	// AckLog, when set, is a file to which every telemetry record is appended as one JSON line
	// {"device","ts","values"} once the gateway has accepted it (Sink.Send returned): the simulator's "device side
	// acknowledgement", which delivery tests compare with what reached ThingsBoard. A relative path is relative to
	// the gateway's working directory.
	AckLog string `json:"ackLog,omitempty"`
	// ReportStrategy is the connector-wide report strategy; the runtime applies it, Validate checks it.
	ReportStrategy json.RawMessage `json:"reportStrategy,omitempty"`
	// Devices are the simulated devices; at least one.
	Devices []DeviceConfig `json:"devices"`
}

// DeviceConfig is one simulated device.
type DeviceConfig struct {
	// DeviceName is the device's name at ThingsBoard; required, unique within the connector.
	DeviceName string `json:"deviceName"`
	// DeviceType is its device profile (tbgateway.DefaultDeviceType when empty).
	DeviceType string `json:"deviceType,omitempty"`
	// PeriodMs is how often the device emits its time series (DefaultPeriodMs when absent; at least 1).
	PeriodMs int `json:"periodMs,omitempty"`
	// ReportStrategy is the device's report strategy; the runtime applies it, Validate checks it.
	ReportStrategy json.RawMessage `json:"reportStrategy,omitempty"`
	// Attributes are client attributes sent once each time the connector starts.
	Attributes []AttributeConfig `json:"attributes,omitempty"`
	// Timeseries are the generated time series.
	Timeseries []SeriesConfig `json:"timeseries,omitempty"`
}

// AttributeConfig is a fixed client attribute.
type AttributeConfig struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// SeriesConfig is one generated time series.
type SeriesConfig struct {
	// Key is the telemetry key; required, unique within the device.
	Key string `json:"key"`
	// Type is one of sine, random, counter, constant (default), bool, string.
	Type string `json:"type,omitempty"`
	// Min and Max bound sine and random (defaults 0 and 100) and wrap counter (when Max is set).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// PeriodSeconds is the sine's period (default 60).
	PeriodSeconds float64 `json:"periodSeconds,omitempty"`
	// Value is the constant or string value, the counter's start or the bool's first value.
	Value any `json:"value,omitempty"`
	// ReportStrategy is the key's report strategy; the runtime applies it, Validate checks it.
	ReportStrategy json.RawMessage `json:"reportStrategy,omitempty"`
}

// Decode parses a configuration strictly enough to never panic, applies the defaults and validates it. It
// returns warnings for unknown keys (with their path) and an error naming the key path of the first problem.
func Decode(raw []byte) (*Config, []string, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("decode: %w", err)
	}
	warnings, err := unknownKeys(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, warnings, err
	}
	return &cfg, warnings, nil
}

func (c *Config) applyDefaults() {
	if c.Seed == nil {
		s := int64(DefaultSeed)
		c.Seed = &s
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.DeviceType == "" {
			d.DeviceType = tbgateway.DefaultDeviceType
		}
		if d.PeriodMs == 0 {
			d.PeriodMs = DefaultPeriodMs
		}
		for j := range d.Timeseries {
			s := &d.Timeseries[j]
			if s.Type == "" {
				s.Type = TypeConstant
			}
			s.Type = strings.ToLower(s.Type)
			if s.PeriodSeconds == 0 {
				s.PeriodSeconds = DefaultSinePeriodSeconds
			}
			if s.Type == TypeSine || s.Type == TypeRandom {
				if s.Min == nil {
					v := DefaultMin
					s.Min = &v
				}
				if s.Max == nil {
					v := DefaultMax
					s.Max = &v
				}
			}
			s.Value = normalize(s.Value)
		}
		for j := range d.Attributes {
			d.Attributes[j].Value = normalize(d.Attributes[j].Value)
		}
	}
}

// Validate checks a configuration (after defaults) without I/O. The error names the key path.
func (c *Config) Validate() error {
	if err := checkStrategy("reportStrategy", c.ReportStrategy); err != nil {
		return err
	}
	if len(c.Devices) == 0 {
		return errors.New("devices: at least one device is required")
	}
	names := map[string]bool{}
	for i, d := range c.Devices {
		p := fmt.Sprintf("devices[%d]", i)
		if strings.TrimSpace(d.DeviceName) == "" {
			return fmt.Errorf("%s.deviceName: required", p)
		}
		if names[d.DeviceName] {
			return fmt.Errorf("%s.deviceName: %q is used by another device", p, d.DeviceName)
		}
		names[d.DeviceName] = true
		if d.PeriodMs < 1 {
			return fmt.Errorf("%s.periodMs: %d is not positive", p, d.PeriodMs)
		}
		if err := checkStrategy(p+".reportStrategy", d.ReportStrategy); err != nil {
			return err
		}
		if len(d.Attributes) == 0 && len(d.Timeseries) == 0 {
			return fmt.Errorf("%s: no attributes and no timeseries", p)
		}
		for j, a := range d.Attributes {
			ap := fmt.Sprintf("%s.attributes[%d]", p, j)
			if strings.TrimSpace(a.Key) == "" {
				return fmt.Errorf("%s.key: required", ap)
			}
			if err := checkValue(a.Value); err != nil {
				return fmt.Errorf("%s.value: %w", ap, err)
			}
		}
		keys := map[string]bool{}
		for j, s := range d.Timeseries {
			sp := fmt.Sprintf("%s.timeseries[%d]", p, j)
			if err := s.validate(sp); err != nil {
				return err
			}
			if keys[s.Key] {
				return fmt.Errorf("%s.key: %q appears twice", sp, s.Key)
			}
			keys[s.Key] = true
		}
	}
	return nil
}

func (s *SeriesConfig) validate(p string) error {
	if strings.TrimSpace(s.Key) == "" {
		return fmt.Errorf("%s.key: required", p)
	}
	if len(s.Key) > tbgateway.MaxKeyLength {
		return fmt.Errorf("%s.key: longer than %d bytes", p, tbgateway.MaxKeyLength)
	}
	if err := checkStrategy(p+".reportStrategy", s.ReportStrategy); err != nil {
		return err
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		return fmt.Errorf("%s.min: %v is above max %v", p, *s.Min, *s.Max)
	}
	switch s.Type {
	case TypeSine:
		if s.PeriodSeconds <= 0 {
			return fmt.Errorf("%s.periodSeconds: %v is not positive", p, s.PeriodSeconds)
		}
	case TypeRandom:
	case TypeCounter:
		if s.Value != nil {
			if _, ok := s.Value.(int64); !ok {
				return fmt.Errorf("%s.value: counter start must be an integer, got %v", p, s.Value)
			}
		}
	case TypeConstant:
		if s.Value == nil {
			return fmt.Errorf("%s.value: required for a constant", p)
		}
		if err := checkValue(s.Value); err != nil {
			return fmt.Errorf("%s.value: %w", p, err)
		}
	case TypeBool:
		if _, ok := s.Value.(bool); s.Value != nil && !ok {
			return fmt.Errorf("%s.value: want true or false, got %v", p, s.Value)
		}
	case TypeString:
		if _, ok := s.Value.(string); !ok {
			return fmt.Errorf("%s.value: want a string, got %v", p, s.Value)
		}
	default:
		return fmt.Errorf("%s.type: unknown type %q (want %s)", p, s.Type, strings.Join(seriesTypes, ", "))
	}
	return nil
}

func checkStrategy(path string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := report.ParseConfig(raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// checkValue accepts what a record may carry.
func checkValue(v any) error {
	switch x := v.(type) {
	case bool, int64, string, tbgateway.RawJSON:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		return nil
	case nil:
		return errors.New("required")
	}
	return fmt.Errorf("unsupported value %v", v)
}

// normalize turns a decoded JSON value into a record value: integral numbers to int64, other numbers to float64,
// objects and arrays to RawJSON.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil
		}
		return tbgateway.RawJSON(b)
	}
	return v
}

var (
	topKeys    = keySet("name", "logLevel", "seed", "ackLog", "reportStrategy", "devices", "id", "configVersion", "enableRemoteLogging")
	deviceKeys = keySet("deviceName", "deviceType", "periodMs", "reportStrategy", "attributes", "timeseries")
	attrKeys   = keySet("key", "value")
	seriesKeys = keySet("key", "type", "min", "max", "periodSeconds", "value", "reportStrategy")
)

func keySet(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// unknownKeys lists the keys the simulator does not know, with their paths.
func unknownKeys(raw []byte) ([]string, error) {
	var top struct {
		Devices []struct {
			Attributes []map[string]json.RawMessage `json:"attributes"`
			Timeseries []map[string]json.RawMessage `json:"timeseries"`
		} `json:"devices"`
	}
	var topMap map[string]json.RawMessage
	if err := json.Unmarshal(raw, &topMap); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var devMaps []map[string]json.RawMessage
	if d, ok := topMap["devices"]; ok {
		_ = json.Unmarshal(d, &devMaps) // its shape was checked by the typed decode
	}
	var out []string
	out = append(out, unknownIn("", topMap, topKeys)...)
	for i, dm := range devMaps {
		p := fmt.Sprintf("devices[%d].", i)
		out = append(out, unknownIn(p, dm, deviceKeys)...)
		for j, am := range top.Devices[i].Attributes {
			out = append(out, unknownIn(fmt.Sprintf("%sattributes[%d].", p, j), am, attrKeys)...)
		}
		for j, sm := range top.Devices[i].Timeseries {
			out = append(out, unknownIn(fmt.Sprintf("%stimeseries[%d].", p, j), sm, seriesKeys)...)
		}
	}
	return out, nil
}

func unknownIn(prefix string, m map[string]json.RawMessage, known map[string]bool) []string {
	var out []string
	for k := range m {
		if !known[k] {
			out = append(out, fmt.Sprintf("%s%s: unknown key, ignored", prefix, k))
		}
	}
	sort.Strings(out)
	return out
}
