package modbus

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/values"
)

// decodeItem reads one attributes/timeseries/attributeUpdates/rpc entry and calls Done on it. write says the
// section writes values (function codes 5, 6, 15, 16; rpc entries may also read with 1-4); slave says the
// function code comes from the slave section's table and may be absent. It returns nil for an item left out with
// a warning (a type that does not exist) and after an error. An "address": "start-end" range (attributes and
// timeseries only) is returned with the item decoded at its start, for expandRange.
func decodeItem(o *confjson.Object, byteOrder, wordOrder string, write, rpc, slave bool) (*Item, *addrRange) {
	d := o.Decoder()
	it := &Item{Path: o.Path()}
	if it.Tag = o.String("tag", ""); strings.TrimSpace(it.Tag) == "" {
		d.Fail(o.Key("tag"), "the key's name", it.Tag)
	}
	it.FunctionCode = int(o.IntAs("functionCode", 0, 0, 255, "a function code"))
	switch fc := it.FunctionCode; {
	case slave:
	case !write && (fc < 1 || fc > 4):
		d.Failf(o.Key("functionCode"), "want 1 (coils), 2 (discrete inputs), 3 (holding) or 4 (input registers), found %d", fc)
	case write && !rpc && fc != 5 && fc != 6 && fc != 15 && fc != 16:
		d.Failf(o.Key("functionCode"), "want 5, 6, 15 or 16, found %d", fc)
	case rpc && !(fc >= 1 && fc <= 6) && fc != 15 && fc != 16:
		d.Failf(o.Key("functionCode"), "want 1-4 (read) or 5, 6, 15, 16 (write), found %d", fc)
	}
	var rng *addrRange
	if s, ok := isAddrRange(o.Map()["address"]); ok {
		o.Ignore("address")
		if write || rpc || slave {
			d.Failf(o.Key("address"), "address range %q: ranges apply to attributes and timeseries only", s)
		} else if r, ok := parseAddrRange(o, s); ok {
			rng, it.Address = &r, uint16(r.start)
		}
	} else if o.Require("address", "a register address 0-65535") {
		it.Address = uint16(o.IntAs("address", 0, 0, 65535, "a register address 0-65535"))
	}
	switch it.FunctionCode {
	case 5, 6, 15, 16:
		it.Write = true
	}
	count, countKey := 1, "objectsCount"
	for _, k := range []string{"registerCount", "registersCount", "objectsCount"} {
		if o.Has(k) {
			count, countKey = int(o.Int(k, 1, 1, MaxBitsPerRead)), k
		}
	}
	it.TypeName = o.String("type", "")
	if it.TypeName == "" {
		switch it.FunctionCode {
		case 1, 2, 5, 15:
			it.TypeName = "bits"
		default:
			d.FailMissing(o.Key("type"), "a value type (16int, 32float, string, bits, ...)")
		}
	}
	if d.Failed() {
		return nil, nil
	}
	kind, err := parseKind(it.TypeName, count)
	if err != nil {
		// the Python gateway loads such a file and fails only when the item is used (its own corpus has one)
		d.Warn(o.Key("type"), err.Error()+"; the item is skipped")
		o.Ignore(o.Keys()...)
		return nil, nil
	}
	c := Codec{Kind: kind, Count: count, Bit: -1}
	switch it.FunctionCode {
	case 1, 2, 5, 15:
		c.Coils = true
	}
	bo, wo := byteWordOrder(o, byteOrder, wordOrder)
	c.LittleBytes, c.LittleWords = bo == "LITTLE", wo == "LITTLE"
	c.Divider = o.Float("divider", 0, -math.MaxFloat64, math.MaxFloat64)
	c.Multiplier = o.Float("multiplier", 0, -math.MaxFloat64, math.MaxFloat64)
	c.Round = int(o.Int("round", DefaultRound, 0, 30))
	if o.Has("bit") {
		c.Bit = int(o.Int("bit", 0, 0, MaxBitsPerRead-1))
	}
	c.BitsAsInt = o.OneOf("bitTargetType", "bool", "bool", "int") == "int"
	c.Variants = variants(o)
	it.ReportStrategy = reportStrategy(o)
	if v, ok := o.Get("value"); ok {
		it.Value = v // slave mode's initial value, as decoded JSON (what EncodeRegisters takes)
	}
	it.Codec = c
	if !c.Coils && c.Kind.width() > 0 && count < (c.Kind.width()+1)/2 {
		d.Warn(o.Key(countKey), fmt.Sprintf("objectsCount %d is less than type %s needs; %d registers are used",
			count, it.TypeName, (c.Kind.width()+1)/2))
	}
	if n := c.Objects(); (c.Coils && n > MaxBitsPerRead) || (!c.Coils && n > MaxRegistersPerRead) {
		d.Failf(o.Key(countKey), "%d objects exceed what one request can read", n)
	} else if int(it.Address)+n > 65536 {
		d.Failf(o.Key("address"), "%d + %d objects run past address 65535", it.Address, n)
	}
	o.Ignore("id")
	o.Done()
	if d.Failed() {
		return nil, nil
	}
	return it, rng
}

// variants reads "variants", an object mapping values (as their text) to the labels reported instead.
func variants(o *confjson.Object) map[string]any {
	v, ok := o.Get("variants")
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		o.Decoder().Fail(o.Key("variants"), "an object mapping values to labels", v)
		return nil
	}
	out := make(map[string]any, len(m))
	for k, label := range m {
		rv, err := values.FromJSON(label)
		if err != nil || rv == nil {
			o.Decoder().Fail(confjson.Join(o.Key("variants"), k), "a label (text, number or boolean)", label)
			return nil
		}
		out[k] = rv
	}
	return out
}

// adHocItem builds the item a reserved get/set RPC names with its params, in the device's byte and word order.
func adHocItem(d *device, typ string, fc int, addr, count string, set bool) (*Item, error) {
	m := map[string]any{"tag": "rpc", "type": typ, "functionCode": json.Number(fmt.Sprint(fc)), "address": addr}
	if count != "" {
		m["objectsCount"] = count
	}
	dec := confjson.New("")
	it, _ := decodeItem(dec.Object("params", m), d.cfg.ByteOrder, d.cfg.WordOrder, set, true, false)
	if err := dec.Err(); err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("params: %s", strings.Join(dec.WarningStrings(), "; "))
	}
	return it, nil
}
