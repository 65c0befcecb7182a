package expression

import (
	"fmt"
	"sort"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// Uplink is an uplink converter written as an expression: it turns one message (Env) into records. It is safe for
// concurrent use.
//
// The expression returns one record (a map), a list of records, or nil (nothing to send). A record's keys:
// deviceName (default: the input device), deviceType (default: the input deviceType, else "default"),
// attributes (a map), telemetry (a map of values, a {ts, values} map, or a list of either) and ts (the
// telemetry's timestamp in ms where an entry has none; without one the gateway stamps it). Values are numbers,
// strings, bools, maps and lists (kept as JSON) and bytes (sent as hex text); a nil value leaves its key out,
// and a record without values is left out.
type Uplink struct {
	p    *Program
	base Env
	now  func() time.Time
}

// NewUplink compiles an uplink converter; base is copied into every evaluation's Env (connector, device,
// address, config: what does not change per message).
func NewUplink(src string, limits Limits, base Env) (*Uplink, error) {
	p, err := Compile(src, limits)
	if err != nil {
		return nil, err
	}
	return &Uplink{p: p, base: base, now: time.Now}, nil
}

// Convert implements tbgateway.Converter for connectors whose messages are a topic and a payload (MQTT, and any
// connector using the converter registry).
func (u *Uplink) Convert(topic string, payload []byte) ([]tbgateway.Record, error) {
	env := u.base
	env.Topic, env.Payload = topic, payload
	return u.Records(&env)
}

// Records evaluates the expression on env, after filling what env leaves empty from the base Env and ts from
// the clock, and returns the records it built. Errors wrap ErrLimit, ErrBudget or an EvalError.
func (u *Uplink) Records(env *Env) ([]tbgateway.Record, error) {
	u.fill(env)
	out, err := u.p.eval(env)
	if err != nil {
		return nil, err
	}
	var recs []tbgateway.Record
	switch x := out.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return u.appendRecord(recs, x, env)
	case []any:
		if len(x) > u.p.limits.MaxRecords {
			return nil, fmt.Errorf("%w: %d records are above maxRecords %d", ErrLimit, len(x), u.p.limits.MaxRecords)
		}
		for i, item := range x {
			m, ok := item.(map[string]any)
			if item == nil {
				continue
			}
			if !ok {
				return nil, fmt.Errorf("result item %d is %s, want a record (a map)", i, typeName(item))
			}
			if recs, err = u.appendRecord(recs, m, env); err != nil {
				return nil, fmt.Errorf("result item %d: %w", i, err)
			}
		}
		return recs, nil
	}
	return nil, fmt.Errorf("the expression returned %s; want a record (a map), a list of records, or nil", typeName(out))
}

func (u *Uplink) fill(env *Env) {
	b := &u.base
	if env.Device == "" {
		env.Device, env.DeviceType = b.Device, b.DeviceType
	}
	for _, f := range []struct{ dst, src *string }{{&env.Address, &b.Address}, {&env.Connector, &b.Connector}, {&env.Topic, &b.Topic}} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
	if env.Config == nil {
		env.Config = b.Config
	}
	if env.TS == 0 {
		env.TS = u.now().UnixMilli()
	}
}

// recordKeys are the keys a record map may have.
var recordKeys = map[string]bool{"deviceName": true, "deviceType": true, "attributes": true, "telemetry": true, "ts": true}

func (u *Uplink) appendRecord(recs []tbgateway.Record, m map[string]any, env *Env) ([]tbgateway.Record, error) {
	for k := range m {
		if !recordKeys[k] {
			return nil, fmt.Errorf("record key %q is unknown (have deviceName, deviceType, attributes, telemetry, ts)", k)
		}
	}
	rec := tbgateway.Record{Device: env.Device, DeviceType: env.DeviceType, Connector: env.Connector}
	if v, ok := m["deviceName"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("deviceName is %s, want a string", typeName(v))
		}
		rec.Device = s
	}
	if strings.TrimSpace(rec.Device) == "" {
		return nil, fmt.Errorf("record without deviceName")
	}
	if v, ok := m["deviceType"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("deviceType is %s, want a string", typeName(v))
		}
		rec.DeviceType = s
	}
	if rec.DeviceType == "" {
		rec.DeviceType = tbgateway.DefaultDeviceType
	}
	var ts int64
	if v, ok := m["ts"]; ok && v != nil {
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("ts: %v", err)
		}
		ts = int64(n)
	}
	var err error
	if rec.Attributes, err = valueMap("attributes", m["attributes"], u.p.limits.MaxValueBytes); err != nil {
		return nil, err
	}
	if rec.Telemetry, err = telemetry(m["telemetry"], ts, u.p.limits.MaxValueBytes); err != nil {
		return nil, err
	}
	if rec.Datapoints() == 0 {
		return recs, nil
	}
	if len(recs) >= u.p.limits.MaxRecords {
		return nil, fmt.Errorf("%w: more records than maxRecords %d", ErrLimit, u.p.limits.MaxRecords)
	}
	return append(recs, rec), nil
}

// telemetry reads a map of values, a {ts, values} map, or a list of either.
func telemetry(v any, ts int64, maxValue int) ([]tbgateway.Telemetry, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil, fmt.Errorf("telemetry is %s, want a map or a list of maps", typeName(v))
	}
	var out []tbgateway.Telemetry
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("telemetry[%d] is %s, want a map", i, typeName(item))
		}
		t := tbgateway.Telemetry{TS: ts}
		vals := any(m)
		if inner, ok := m["values"]; ok && onlyKeys(m, "ts", "values") {
			vals = inner
			if v, ok := m["ts"]; ok && v != nil {
				n, err := toInt(v)
				if err != nil {
					return nil, fmt.Errorf("telemetry[%d].ts: %v", i, err)
				}
				t.TS = int64(n)
			}
		}
		var err error
		if t.Values, err = valueMap(fmt.Sprintf("telemetry[%d]", i), vals, maxValue); err != nil {
			return nil, err
		}
		if len(t.Values) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

func onlyKeys(m map[string]any, keys ...string) bool {
	for k := range m {
		if k != keys[0] && k != keys[1] {
			return false
		}
	}
	return true
}

// valueMap converts a map of expression values to record values, leaving nil values out.
func valueMap(what string, v any, maxValue int) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want a map", what, typeName(v))
	}
	var out map[string]any
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m[k] == nil {
			continue
		}
		if err := checkSize(m[k], maxValue); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", what, k, err)
		}
		rv, err := values.FromJSON(jsonable(m[k]))
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", what, k, err)
		}
		if out == nil {
			out = make(map[string]any, len(m))
		}
		out[k] = rv
	}
	return out, nil
}

// typeName names a value's type the way the documentation does.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a bool"
	case float64, float32:
		return "a float"
	}
	if _, err := toInt(v); err == nil {
		return "an integer"
	}
	return fmt.Sprintf("%T", v)
}

// Limits returns the converter's limits (defaults filled in).
func (u *Uplink) Limits() Limits { return u.p.limits }
