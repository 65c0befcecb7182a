package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dlclark/regexp2"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/values"
)

// ErrBadPayload is wrapped by every converter error caused by the message itself (not JSON, missing device
// name, a value of the wrong type, nothing to report): the message is logged, counted and skipped.
var ErrBadPayload = errors.New("bad payload")

func badPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPayload, fmt.Sprintf(format, args...))
}

// deviceExpr computes a device name or profile from a message: a template over the payload (sources message
// and constant) or a regular expression searched in the topic (source topic; no match means the expression's
// own text, as the Python gateway does).
type deviceExpr struct {
	source string
	tmpl   tmpl
	re     *regexp2.Regexp
	// lastGroup takes the last group of the topic's match, as the Python gateway's converters do (its connect,
	// disconnect and attribute requests take the whole match).
	lastGroup bool
}

func compileDeviceExpr(source, expr string) (deviceExpr, error) {
	d := deviceExpr{source: source}
	if source == SourceTopic {
		re, err := compileRegex(expr)
		if err != nil {
			return d, fmt.Errorf("invalid regular expression %q: %w", expr, err)
		}
		d.re = re
	}
	t, err := parseTemplate(expr)
	d.tmpl = t
	return d, err
}

// compileConverterDeviceExpr is compileDeviceExpr for a converter: a topic's match gives its last group.
func compileConverterDeviceExpr(source, expr string) (deviceExpr, error) {
	d, err := compileDeviceExpr(source, expr)
	d.lastGroup = true
	return d, err
}

// eval returns the value and whether one was found; missing names what was not found.
func (d *deviceExpr) eval(topic string, body any) (string, string, bool) {
	if d.re != nil {
		find := search
		if d.lastGroup {
			find = searchLastGroup
		}
		if s, ok := find(d.re, topic); ok {
			return s, "", true
		}
		return d.tmpl.Text, "", true
	}
	if d.tmpl.Text == "" {
		return "", "", false
	}
	v, missing, ok := evalJSON(d.tmpl, body)
	if !ok {
		return "", missing, false
	}
	return text(v), "", true
}

// datapoint is a compiled attribute or time series mapping.
type datapoint struct {
	key     tmpl
	keyRE   *regexp2.Regexp // keySource topic
	value   tmpl
	typ     string
	tsField *jpath
	// tsName is the tsField's last path segment, searched anywhere in the payload when the path finds nothing
	// (the Python gateway's find_ts_field_value).
	tsName              string
	dayFirst, yearFirst bool
}

func compileDatapoints(list []DatapointConfig) ([]datapoint, error) {
	out := make([]datapoint, 0, len(list))
	for i, d := range list {
		k, err := parseTemplate(d.Key)
		if err != nil {
			return nil, fmt.Errorf("[%d].key: %w", i, err)
		}
		v, err := parseTemplate(d.Value)
		if err != nil {
			return nil, fmt.Errorf("[%d].value: %w", i, err)
		}
		dp := datapoint{key: k, value: v, typ: d.Type, dayFirst: d.DayFirst, yearFirst: d.YearFirst}
		if d.KeySource == SourceTopic {
			if dp.keyRE, err = compileRegex(d.Key); err != nil {
				return nil, fmt.Errorf("[%d].key: invalid regular expression %q: %w", i, d.Key, err)
			}
		}
		if d.TSField != "" {
			f := d.TSField
			if t, err := parseTemplate(f); err == nil && t.Single() {
				dp.tsField = t.Parts[0].Expr
			} else if dp.tsField, err = parsePath(f); err != nil {
				return nil, fmt.Errorf("[%d].tsField: %w", i, err)
			}
			if n := len(dp.tsField.steps); n > 0 && !dp.tsField.steps[n-1].isIdx {
				dp.tsName = dp.tsField.steps[n-1].key
			}
		}
		out = append(out, dp)
	}
	return out, nil
}

// JSONConverter is the "json" converter: device name and profile from ${...} expressions on the payload or
// regular expressions on the topic, attributes and time series from key/value templates with type hints.
// A JSON array payload gives one record per element. Telemetry carries the payload's "ts" or "timestamp" (or
// the mapping's tsField) when present, otherwise TS 0 so the gateway stamps it. Safe for concurrent use.
type JSONConverter struct {
	name, profile deviceExpr
	attrs, series []datapoint
	allAttrs      bool
	allSeries     bool
	useReceivedTS bool
	// dates hears how tsField dates parse (nil: nobody listens).
	dates dateReporter
}

// dateReporter hears, per device and key, whether a tsField date could be read, so that the connector logs a
// device's unreadable dates once per state change.
type dateReporter interface {
	dateFailed(device, topic, key string, err error)
	dateParsed(device, key string)
}

// NewJSONConverter compiles a json converter configuration.
func NewJSONConverter(c ConverterConfig) (*JSONConverter, error) {
	jc := &JSONConverter{allAttrs: c.AllAttributes, allSeries: c.AllTimeseries, useReceivedTS: c.UseReceivedTS}
	var err error
	if jc.name, err = compileConverterDeviceExpr(c.DeviceInfo.NameSource, c.DeviceInfo.NameExpression); err != nil {
		return nil, fmt.Errorf("deviceInfo.deviceNameExpression: %w", err)
	}
	if jc.profile, err = compileConverterDeviceExpr(c.DeviceInfo.ProfileSource, c.DeviceInfo.ProfileExpression); err != nil {
		return nil, fmt.Errorf("deviceInfo.deviceProfileExpression: %w", err)
	}
	if jc.attrs, err = compileDatapoints(c.Attributes); err != nil {
		return nil, fmt.Errorf("attributes%w", err)
	}
	if jc.series, err = compileDatapoints(c.Timeseries); err != nil {
		return nil, fmt.Errorf("timeseries%w", err)
	}
	return jc, nil
}

// Convert implements tbgateway.Converter. Errors wrap ErrBadPayload.
func (jc *JSONConverter) Convert(topic string, payload []byte) ([]tbgateway.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil {
		return nil, badPayload("not JSON: %v", err)
	}
	if dec.More() {
		return nil, badPayload("not JSON: extra data after the value")
	}
	switch x := body.(type) {
	case map[string]any:
		rec, err := jc.convertOne(topic, x)
		if err != nil {
			return nil, err
		}
		return []tbgateway.Record{rec}, nil
	case []any:
		out := make([]tbgateway.Record, 0, len(x))
		for i, item := range x {
			m, ok := item.(map[string]any)
			if !ok {
				return nil, badPayload("element %d of the array is %s, not an object", i, confjson.Describe(item))
			}
			rec, err := jc.convertOne(topic, m)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out = append(out, rec)
		}
		return out, nil
	}
	return nil, badPayload("payload is %s, not a JSON object or array", confjson.Describe(body))
}

func (jc *JSONConverter) convertOne(topic string, body map[string]any) (tbgateway.Record, error) {
	rec := tbgateway.Record{Kind: tbgateway.KindData}
	name, missing, ok := jc.name.eval(topic, body)
	if !ok || name == "" {
		return rec, badPayload("device name: %q not found", missing)
	}
	rec.Device = name
	if typ, _, ok := jc.profile.eval(topic, body); ok && typ != "" {
		rec.DeviceType = typ
	}
	msgTS := int64(0)
	if !jc.useReceivedTS {
		for _, k := range []string{"ts", "timestamp"} {
			if v, ok := body[k]; ok && v != nil {
				ts, err := values.Millis(v)
				if err != nil {
					return rec, badPayload("%s: %v", k, err)
				}
				msgTS = ts
				break
			}
		}
	}
	if jc.allAttrs || len(jc.attrs) > 0 {
		rec.Attributes = map[string]any{}
	}
	if jc.allAttrs {
		for k, v := range body {
			nv, err := values.FromJSON(v)
			if err != nil {
				return rec, badPayload("key %q: %v", k, err)
			}
			rec.Attributes[k] = nv
		}
	}
	for _, dp := range jc.attrs {
		k, v, ok, err := dp.apply(topic, body)
		if err != nil {
			return rec, err
		}
		if ok {
			rec.Attributes[k] = v
		}
	}
	var order []int64
	byTS := map[int64]map[string]any{}
	add := func(ts int64, k string, v any) {
		m, ok := byTS[ts]
		if !ok {
			m = map[string]any{}
			byTS[ts] = m
			order = append(order, ts)
		}
		m[k] = v
	}
	if jc.allSeries {
		for k, v := range body {
			nv, err := values.FromJSON(v)
			if err != nil {
				return rec, badPayload("key %q: %v", k, err)
			}
			add(msgTS, k, nv)
		}
	}
	for _, dp := range jc.series {
		k, v, ok, err := dp.apply(topic, body)
		if err != nil {
			return rec, err
		}
		if !ok {
			continue
		}
		ts := msgTS
		if dp.tsField != nil && !jc.useReceivedTS {
			if raw, found := dp.findTS(body); found {
				t, err := tsFieldMillis(raw, dp.dayFirst, dp.yearFirst)
				switch {
				case err != nil && jc.dates != nil:
					jc.dates.dateFailed(rec.Device, topic, k, fmt.Errorf("tsField %s: %w; the reading keeps the message's timestamp", dp.tsField.raw, err))
				case err == nil:
					ts = t
					if jc.dates != nil {
						jc.dates.dateParsed(rec.Device, k)
					}
				}
			}
		}
		add(ts, k, v)
	}
	for _, ts := range order {
		rec.Telemetry = append(rec.Telemetry, tbgateway.Telemetry{TS: ts, Values: byTS[ts]})
	}
	if len(rec.Attributes) == 0 {
		rec.Attributes = nil
	}
	if rec.Datapoints() == 0 {
		return rec, badPayload("device %q: none of the configured keys is in the payload", rec.Device)
	}
	return rec, nil
}

// apply evaluates one mapping on a payload. ok is false when a referenced value is missing (the key is
// skipped, as in the Python gateway); a value that does not fit the type hint is an error.
func (dp *datapoint) apply(topic string, body any) (key string, value any, ok bool, err error) {
	if dp.keyRE != nil {
		if key, ok = searchLastGroup(dp.keyRE, topic); !ok {
			return "", nil, false, nil
		}
	} else {
		kv, _, found := evalJSON(dp.key, body)
		if !found {
			return "", nil, false, nil
		}
		key = text(kv)
	}
	raw, _, found := evalJSON(dp.value, body)
	if !found {
		return "", nil, false, nil
	}
	if !dp.value.HasExpr() {
		raw = dp.value.Text
	}
	value, err = values.Cast(raw, dp.typ)
	if err != nil {
		return "", nil, false, badPayload("key %q: %v (type %s)", key, err, dp.typ)
	}
	return key, value, true, nil
}

// findTS finds the tsField's value: at its path, else (as the Python gateway does) under its last segment's name
// anywhere in the payload, depth first, keys in sorted order.
func (dp *datapoint) findTS(body any) (any, bool) {
	if v, ok := dp.tsField.get(body); ok {
		return v, true
	}
	if dp.tsName == "" {
		return nil, false
	}
	return findKey(body, dp.tsName, 0)
}

func findKey(body any, name string, depth int) (any, bool) {
	m, ok := body.(map[string]any)
	if !ok || depth > 32 {
		return nil, false
	}
	if v, ok := m[name]; ok && v != nil {
		return v, true
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if _, isMap := v.(map[string]any); isMap {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v, ok := findKey(m[k], name, depth+1); ok {
			return v, true
		}
	}
	return nil, false
}

// tsFieldMillis reads a tsField value: text is a date as dateutil reads it (see parseDate; a date without a
// zone is the gateway's local time), a JSON number is milliseconds since the epoch.
func tsFieldMillis(raw any, dayFirst, yearFirst bool) (int64, error) {
	s, ok := raw.(string)
	if !ok {
		return values.Millis(raw)
	}
	t, err := parseDate(s, dateOpts{dayFirst: dayFirst, yearFirst: yearFirst, loc: time.Local, now: time.Now()})
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
