package modbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/report"
)

// errSkipItem is returned by decodeItem for an item that is left out with a warning.
var errSkipItem = errors.New("item skipped")

// decodeItem reads one attributes/timeseries/attributeUpdates/rpc entry. write says the section writes values
// (function codes 5, 6, 15, 16; rpc entries may also read with 1-4); slave says the function code comes from
// the slave section's table and may be absent.
func decodeItem(path string, raw json.RawMessage, byteOrder, wordOrder string, write, rpc, slave bool) (*Item, []string, error) {
	o, err := newObj(path, raw)
	if err != nil {
		return nil, nil, err
	}
	it := &Item{Path: path}
	if it.Tag, err = o.str("tag", ""); err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(it.Tag) == "" {
		return nil, nil, fmt.Errorf("%s: required", o.key("tag"))
	}
	if it.FunctionCode, err = o.integer("functionCode", 0); err != nil {
		return nil, nil, err
	}
	switch fc := it.FunctionCode; {
	case slave:
	case !write && (fc < 1 || fc > 4):
		return nil, nil, fmt.Errorf("%s: want 1 (coils), 2 (discrete inputs), 3 (holding) or 4 (input registers), found %d", o.key("functionCode"), fc)
	case write && !rpc && fc != 5 && fc != 6 && fc != 15 && fc != 16:
		return nil, nil, fmt.Errorf("%s: want 5, 6, 15 or 16, found %d", o.key("functionCode"), fc)
	case rpc && !(fc >= 1 && fc <= 6) && fc != 15 && fc != 16:
		return nil, nil, fmt.Errorf("%s: want 1-4 (read) or 5, 6, 15, 16 (write), found %d", o.key("functionCode"), fc)
	}
	if av, ok := o.get("address"); ok {
		var s string
		if json.Unmarshal(av, &s) == nil && strings.Contains(s, "-") {
			return nil, nil, fmt.Errorf("%s: address ranges (%q) are not supported yet", o.key("address"), s)
		}
	}
	addr, err := o.integer("address", -1)
	if err != nil {
		return nil, nil, err
	}
	if addr < 0 || addr > 65535 {
		return nil, nil, fmt.Errorf("%s: want a register address 0-65535, found %d", o.key("address"), addr)
	}
	it.Address = uint16(addr)
	switch it.FunctionCode {
	case 5, 6, 15, 16:
		it.Write = true
	}
	count := 1
	for _, k := range []string{"registerCount", "registersCount", "objectsCount"} {
		if o.has(k) {
			if count, err = o.integer(k, 1); err != nil {
				return nil, nil, err
			}
		}
	}
	if count < 1 || count > MaxBitsPerRead {
		return nil, nil, fmt.Errorf("%s: %d is out of range 1-%d", o.key("objectsCount"), count, MaxBitsPerRead)
	}
	if it.TypeName, err = o.str("type", ""); err != nil {
		return nil, nil, err
	}
	if it.TypeName == "" {
		if it.FunctionCode == 1 || it.FunctionCode == 2 || it.FunctionCode == 5 || it.FunctionCode == 15 {
			it.TypeName = "bits"
		} else {
			return nil, nil, fmt.Errorf("%s: required", o.key("type"))
		}
	}
	kind, err := parseKind(it.TypeName, count)
	if err != nil {
		// the Python gateway loads such a file and fails only when the item is used (its own corpus has one)
		return nil, []string{fmt.Sprintf("%s: %v; the item is skipped", o.key("type"), err)}, errSkipItem
	}
	c := Codec{Kind: kind, Count: count, Bit: -1, Round: DefaultRound}
	switch it.FunctionCode {
	case 1, 2, 5, 15:
		c.Coils = true
	}
	bo, err := o.str("byteOrder", byteOrder)
	if err != nil {
		return nil, nil, err
	}
	wo, err := o.str("wordOrder", wordOrder)
	if err != nil {
		return nil, nil, err
	}
	c.LittleBytes, c.LittleWords = strings.EqualFold(bo, "LITTLE"), strings.EqualFold(wo, "LITTLE")
	if c.Divider, err = o.num("divider", 0); err != nil {
		return nil, nil, err
	}
	if c.Multiplier, err = o.num("multiplier", 0); err != nil {
		return nil, nil, err
	}
	if c.Round, err = o.integer("round", DefaultRound); err != nil {
		return nil, nil, err
	}
	if o.has("bit") {
		if c.Bit, err = o.integer("bit", -1); err != nil {
			return nil, nil, err
		}
		if c.Bit < 0 || c.Bit >= MaxBitsPerRead {
			return nil, nil, fmt.Errorf("%s: %d is out of range", o.key("bit"), c.Bit)
		}
	}
	tt, err := o.str("bitTargetType", "bool")
	if err != nil {
		return nil, nil, err
	}
	switch strings.ToLower(tt) {
	case "bool":
	case "int":
		c.BitsAsInt = true
	default:
		return nil, nil, fmt.Errorf("%s: want bool or int, found %q", o.key("bitTargetType"), tt)
	}
	if v, ok := o.get("variants"); ok {
		if err := json.Unmarshal(v, &c.Variants); err != nil {
			return nil, nil, fmt.Errorf("%s: want an object mapping values to labels, found %s", o.key("variants"), describe(v))
		}
	}
	if rs, ok := o.get("reportStrategy"); ok {
		if _, err := report.ParseConfig(rs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.key("reportStrategy"), err)
		}
		it.ReportStrategy = rs
	}
	if v, ok := o.get("value"); ok {
		if it.Value, err = jsonValue(v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.key("value"), err)
		}
	}
	it.Codec = c
	var warns []string
	if !c.Coils && c.Kind.width() > 0 && count < (c.Kind.width()+1)/2 {
		warns = append(warns, fmt.Sprintf("%s: objectsCount %d is less than type %s needs; %d registers are used",
			o.key("objectsCount"), count, it.TypeName, (c.Kind.width()+1)/2))
	}
	if n := c.Objects(); (c.Coils && n > MaxBitsPerRead) || (!c.Coils && n > MaxRegistersPerRead) {
		return nil, nil, fmt.Errorf("%s: %d objects exceed what one request can read", o.key("objectsCount"), n)
	}
	if int(it.Address)+c.Objects() > 65536 {
		return nil, nil, fmt.Errorf("%s: %d + %d objects run past address 65535", o.key("address"), it.Address, c.Objects())
	}
	o.ignore("id")
	warns = append(warns, o.unknown()...)
	return it, warns, nil
}

// SlaveConfig is the "slave" section: the gateway serving registers as a Modbus TCP server.
type SlaveConfig struct {
	Addr string // host:port to listen on
	// Device holds the name, type, unit id, poll period and the items; their FunctionCode names the table.
	Device *Device
	// Send says whether the served values are polled and sent to ThingsBoard ("sendDataToThingsBoard").
	Send bool
}

var slaveTables = []struct {
	key string
	fc  int
}{{"holding_registers", 3}, {"coils_initializer", 1}, {"input_registers", 4}, {"discrete_inputs", 2}}

func decodeSlave(o *obj) (*SlaveConfig, []string, error) {
	var warns []string
	typ, err := o.str("type", "tcp")
	if err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(typ, "tcp") {
		return nil, nil, fmt.Errorf("%s: slave mode over %q is not supported yet (have tcp)", o.key("type"), typ)
	}
	method, err := o.str("method", "socket")
	if err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(method, "socket") {
		return nil, nil, fmt.Errorf("%s: slave mode with method %q is not supported yet (have socket)", o.key("method"), method)
	}
	host, err := o.str("host", "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	port, err := o.integer("port", 502)
	if err != nil {
		return nil, nil, err
	}
	if port < 0 || port > 65535 {
		return nil, nil, fmt.Errorf("%s: %d is not a port number", o.key("port"), port)
	}
	d := &Device{Path: o.path, Transport: "tcp", Method: "socket", Host: host, Port: port}
	unit, err := o.integer("unitId", 0)
	if err != nil {
		return nil, nil, err
	}
	if unit < 0 || unit > 255 {
		return nil, nil, fmt.Errorf("%s: %d is not a unit id (0-255)", o.key("unitId"), unit)
	}
	d.UnitID = uint8(unit)
	if d.Name, err = o.str("deviceName", defaultSlaveDeviceName); err != nil {
		return nil, nil, err
	}
	if d.Type, err = o.str("deviceType", "default"); err != nil {
		return nil, nil, err
	}
	pp, err := o.num("pollPeriod", float64(DefaultSlavePollPeriod.Milliseconds()))
	if err != nil {
		return nil, nil, err
	}
	if pp <= 0 {
		return nil, nil, fmt.Errorf("%s: must be positive", o.key("pollPeriod"))
	}
	d.PollPeriod = time.Duration(pp * float64(time.Millisecond))
	send, err := o.boolean("sendDataToThingsBoard", false)
	if err != nil {
		return nil, nil, err
	}
	if rs, ok := o.get("reportStrategy"); ok {
		if _, err := report.ParseConfig(rs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.key("reportStrategy"), err)
		}
		d.ReportStrategy = rs
	}
	bo, err := o.str("byteOrder", "LITTLE")
	if err != nil {
		return nil, nil, err
	}
	wo, err := o.str("wordOrder", "LITTLE")
	if err != nil {
		return nil, nil, err
	}
	d.ByteOrder, d.WordOrder = strings.ToUpper(bo), strings.ToUpper(wo)
	o.ignore("identity", "id")
	if o.has("security") {
		warns = append(warns, o.key("security")+": TLS for slave mode is not supported yet, ignored")
	}
	values, err := o.child("values")
	if err != nil {
		return nil, nil, err
	}
	if values != nil {
		for _, t := range slaveTables {
			sec, err := values.child(t.key)
			if err != nil {
				return nil, nil, err
			}
			if sec == nil {
				continue
			}
			for _, part := range []struct {
				key  string
				into *[]*Item
			}{{"attributes", &d.Attributes}, {"timeseries", &d.Timeseries}, {"attributeUpdates", &d.AttributeUpdates}, {"rpc", &d.RPC}} {
				items, err := sec.list(part.key)
				if err != nil {
					return nil, nil, err
				}
				for j, raw := range items {
					it, w, err := decodeItem(fmt.Sprintf("%s[%d]", sec.key(part.key), j), raw, bo, wo, false, false, true)
					warns = append(warns, w...)
					if errors.Is(err, errSkipItem) {
						continue
					}
					if err != nil {
						return nil, warns, err
					}
					it.FunctionCode = t.fc
					it.Codec.Coils = t.fc == 1 || t.fc == 2
					if part.key == "attributeUpdates" {
						it.Write = true
					}
					*part.into = append(*part.into, it)
				}
			}
			warns = append(warns, sec.unknown()...)
		}
		warns = append(warns, values.unknown()...)
	}
	warns = append(warns, o.unknown()...)
	return &SlaveConfig{Addr: hostPort(host, port), Device: d, Send: send}, warns, nil
}
