package modbus

import (
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
)

// Expression converters (docs/converters.md): a device's "uplink_converter" or "downlink_converter" holds, instead
// of the Python gateway's class name, an object with an "expression". The uplink expression sees the raw value of
// every item read in a poll as data.<tag> (registers as bytes, big-endian as on the wire; coils and discrete
// inputs as a list of bools) and returns the records; the downlink expression sees an attribute update or an RPC
// write as key (the item's tag) and value, the item as data (functionCode, address, objectsCount, type), and
// returns {registers: [...]} or {payload: bytes} (two bytes per register) or {coils: [...]}, optionally with
// another functionCode or address.

// decodeConverters reads a device's converter slots. A class name cannot run in this gateway: it is reported and
// the built-in converter is used, so Python configurations keep working.
func decodeConverters(o *confjson.Object, dev *Device) {
	base := expression.Env{Device: dev.Name, DeviceType: dev.Type, Address: dev.url()}
	for _, key := range []string{"uplink_converter", "downlink_converter"} {
		v, ok := o.Get(key)
		switch v.(type) {
		case map[string]any:
			co := o.Object(key)
			co.Ignore("type", "extension")
			if key == "uplink_converter" {
				dev.Uplink = expression.DecodeUplink(co, base)
			} else {
				dev.Downlink = expression.DecodeDownlink(co, base)
			}
			co.Done()
		case string:
			o.Decoder().Warn(o.Key(key), fmt.Sprintf("converter class %q cannot be loaded by this gateway; the built-in converter is used (write the converter as an expression: docs/converters.md)", v))
		default:
			if ok {
				o.Decoder().Fail(o.Key(key), "a converter class name or an expression converter object", v)
			}
		}
	}
}

// raw is an item's part of a read result as the uplink expression sees it.
func (p readPart) raw(res readResult) (any, error) {
	n := p.item.Codec.Objects()
	if res.bits != nil || p.item.Codec.Coils {
		if p.offset+n > len(res.bits) {
			return nil, fmt.Errorf("%w: answer holds %d bits", ErrShortData, len(res.bits))
		}
		out := make([]any, n)
		for i, b := range res.bits[p.offset : p.offset+n] {
			out[i] = b
		}
		return out, nil
	}
	if p.offset+n > len(res.regs) {
		return nil, fmt.Errorf("%w: answer holds %d registers", ErrShortData, len(res.regs))
	}
	out := make([]byte, 0, 2*n)
	for _, r := range res.regs[p.offset : p.offset+n] {
		out = append(out, byte(r>>8), byte(r))
	}
	return out, nil
}

// convertExpression turns a poll's raw values into records with the device's uplink expression; a failure is a
// fault of the device's conversion, logged once and counted.
func (c *Connector) convertExpression(d *device, data map[string]any) []tbgateway.Record {
	key := "convert\x00" + d.cfg.Name
	recs, err := d.cfg.Uplink.Records(&expression.Env{Data: data, Connector: c.name})
	if err != nil {
		c.faults.Fail(key, err, "device", d.cfg.Name, "converter", "uplink_converter")
		return nil
	}
	if c.faults.Stats().Active > 0 {
		c.faults.OK(key)
	}
	return recs
}

// expressionWrite builds the write of an item from the device's downlink expression.
func expressionWrite(d *Device, it *Item, value any) (*writeOp, error) {
	r, err := d.Downlink.Eval(&expression.Env{Key: it.Tag, Value: value, Data: map[string]any{
		"functionCode": it.FunctionCode, "address": int(it.Address), "objectsCount": it.Codec.Objects(), "type": it.TypeName}})
	if err != nil {
		return nil, fmt.Errorf("downlink_converter: %w", err)
	}
	if r == nil {
		return nil, fmt.Errorf("downlink_converter: the expression returned nothing to write for %q", it.Tag)
	}
	fc, err := r.Int("functionCode", it.FunctionCode)
	if err != nil {
		return nil, err
	}
	addr, err := r.Int("address", int(it.Address))
	if err != nil {
		return nil, err
	}
	if addr < 0 || addr > 0xffff {
		return nil, fmt.Errorf("downlink_converter: address %d is not 0-65535", addr)
	}
	w := &writeOp{fc: fc, addr: uint16(addr)}
	switch fc {
	case 5, 15:
		if w.bits, err = r.Bools("coils"); err == nil && len(w.bits) == 0 {
			err = fmt.Errorf("downlink_converter: no coils to write (function code %d)", fc)
		}
	case 6, 16:
		err = w.setRegisters(r)
	default:
		err = fmt.Errorf("downlink_converter: function code %d does not write", fc)
	}
	if err != nil {
		return nil, err
	}
	if fc == 5 || fc == 6 {
		w.bits, w.regs = firstOf(w.bits), firstOf(w.regs)
	}
	return w, nil
}

func (w *writeOp) setRegisters(r *expression.Result) error {
	if r.Has("payload") {
		b, err := r.Payload("payload")
		if err != nil {
			return err
		}
		if len(b) == 0 || len(b)%2 != 0 {
			return fmt.Errorf("downlink_converter: payload of %d bytes is not whole registers", len(b))
		}
		for i := 0; i < len(b); i += 2 {
			w.regs = append(w.regs, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return nil
	}
	ints, err := r.Ints("registers")
	if err != nil {
		return err
	}
	if len(ints) == 0 {
		return fmt.Errorf("downlink_converter: no registers or payload to write")
	}
	for i, n := range ints {
		if n < -0x8000 || n > 0xffff {
			return fmt.Errorf("downlink_converter: registers[%d] = %d is not a 16-bit value", i, n)
		}
		w.regs = append(w.regs, uint16(n))
	}
	return nil
}

func firstOf[T any](s []T) []T {
	if len(s) > 1 {
		return s[:1]
	}
	return s
}
