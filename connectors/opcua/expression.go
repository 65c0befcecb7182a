package opcua

import (
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
)

// Expression converters (docs/converters.md): a mapping's "converter" holds, instead of the Python gateway's class
// name, an object with an "expression". The expression sees the values of the mapping's keys read in one poll or
// notified in one message as data.<key> (typed as the nodes give them; JSON values parsed), the device's resolved
// name and profile as device and deviceType, the server URL as address, and ts as the newest device timestamp of
// the values (the receive time when they carry none); it returns the records.

// decodeConverter reads a mapping's "converter". A class name cannot run in this gateway: it is reported and the
// built-in conversion is used, so Python configurations keep working.
func decodeConverter(o *confjson.Object) *expression.Uplink {
	v, ok := o.Get("converter")
	switch v.(type) {
	case map[string]any:
		co := o.Object("converter")
		co.Ignore("type", "extension")
		u := expression.DecodeUplink(co, expression.Env{})
		co.Done()
		return u
	case string:
		o.Decoder().Warn(o.Key("converter"), fmt.Sprintf("converter class %q cannot be loaded by this gateway; the built-in conversion is used (write the converter as an expression: docs/converters.md)", v))
	default:
		if ok {
			o.Decoder().Fail(o.Key("converter"), "a converter class name or an expression converter object", v)
		}
	}
	return nil
}

// convertExpression turns a device's values of one poll or notification message into records with its
// mapping's expression; a failure is a fault of the device's conversion, logged once and counted.
func (c *Connector) convertExpression(d *device, b *recordBuilder) []tbgateway.Record {
	key := "convert\x00" + d.name
	var out []tbgateway.Record
	for _, f := range b.frames {
		data := make(map[string]any, len(f.attrs))
		var ts int64
		put := func(k string, v any) {
			if raw, ok := v.(tbgateway.RawJSON); ok {
				v, _ = expression.ParseJSON(raw)
			}
			data[k] = v
		}
		for k, v := range f.attrs {
			put(k, v)
		}
		for _, t := range f.tel {
			for k, v := range t.Values {
				put(k, v)
			}
			ts = max(ts, t.TS)
		}
		if len(data) == 0 {
			continue
		}
		recs, err := d.m.cfg.Converter.Records(&expression.Env{Data: data, Device: d.name, DeviceType: d.typ,
			Address: c.cfg.Server.URL, Connector: c.name, TS: ts})
		if err != nil {
			c.faults.Fail(key, err, "device", d.name, "converter", "converter")
			continue
		}
		if c.faults.Stats().Active > 0 {
			c.faults.OK(key)
		}
		out = append(out, recs...)
	}
	return out
}
