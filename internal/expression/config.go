package expression

import (
	"fmt"
	"math"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// ConfigKeys are the keys an expression converter object may hold besides what the connector reads.
var ConfigKeys = []string{"expression", "extensionConfig", "extension-config", "maxNodes", "budget",
	"maxPayloadBytes", "maxValueBytes", "maxRecords"}

// Config is an expression converter object of a connector file:
//
//	{"type": "expression", "expression": "...", "extensionConfig": {...}, "maxNodes": 1000, "budget": 100000,
//	 "maxPayloadBytes": 65536, "maxValueBytes": 262144, "maxRecords": 100}
//
// Only "expression" is required; extensionConfig is the expression's config input.
type Config struct {
	Expression string
	Extension  any // the parsed extensionConfig, or nil
	Limits     Limits
}

// DecodeConfig reads the expression keys of o (a converter object), marking them known; problems are reported to
// o's decoder with their key paths. It does not compile.
func DecodeConfig(o *confjson.Object) Config {
	var c Config
	if o.Require("expression", "an expression (text)") {
		c.Expression = o.String("expression", "")
	}
	for _, k := range []string{"extensionConfig", "extension-config"} {
		if raw := o.Raw(k); raw != nil && c.Extension == nil {
			c.Extension, _ = parseJSON(raw)
		}
	}
	limit := func(k string, def int) int { return int(o.Int(k, int64(def), 1, math.MaxInt32)) }
	c.Limits = Limits{
		MaxNodes:        limit("maxNodes", DefaultMaxNodes),
		Budget:          limit("budget", DefaultBudget),
		MaxPayloadBytes: limit("maxPayloadBytes", DefaultMaxPayloadBytes),
		MaxValueBytes:   limit("maxValueBytes", DefaultMaxValueBytes),
		MaxRecords:      limit("maxRecords", DefaultMaxRecords),
	}
	return c
}

// DecodeUplink decodes o (DecodeConfig) and compiles its expression as an uplink converter with base as its fixed
// inputs (base.Config is set from extensionConfig). A compile error is reported at o's "expression" key path with
// the line and column; nil is returned when o's decoder has failed.
func DecodeUplink(o *confjson.Object, base Env) *Uplink {
	c := DecodeConfig(o)
	if o.Decoder().Failed() {
		return nil
	}
	base.Config = c.Extension
	u, err := NewUplink(c.Expression, c.Limits, base)
	if err != nil {
		o.Decoder().Failf(o.Key("expression"), "%v", err)
		return nil
	}
	return u
}

// DecodeDownlink is DecodeUplink for a downlink converter.
func DecodeDownlink(o *confjson.Object, base Env) *Downlink {
	c := DecodeConfig(o)
	if o.Decoder().Failed() {
		return nil
	}
	base.Config = c.Extension
	d, err := NewDownlink(c.Expression, c.Limits, base)
	if err != nil {
		o.Decoder().Failf(o.Key("expression"), "%v", err)
		return nil
	}
	return d
}

// Factory is the tbgateway.ConverterFactory of the converter registry's "expression" entry: raw is the whole
// object the connector hands over (an MQTT converter, a BLE device). Its expression keys are read; the
// connector's own keys are left to the connector, except that a device object's name ("name" or "deviceName"),
// "deviceType" and "MACAddress" become the device, deviceType and address inputs.
func Factory(raw []byte) (*Uplink, error) {
	d := confjson.New("")
	o, err := d.Root(raw)
	if err != nil {
		return nil, err
	}
	var base Env
	str := func(k string) string { s, _ := o.Map()[k].(string); return s }
	base.Device, base.DeviceType, base.Address = str("deviceName"), str("deviceType"), str("MACAddress")
	if base.Device == "" {
		base.Device = str("name")
	}
	u := DecodeUplink(o, base)
	if err := d.Err(); err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("no expression")
	}
	return u, nil
}
