package modbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/values"
)

// initSlave writes the configured initial values of the slave section into its bank.
func (c *Connector) initSlave(d *device) {
	for _, list := range [][]*Item{d.cfg.Attributes, d.cfg.Timeseries, d.cfg.AttributeUpdates, d.cfg.RPC} {
		for _, it := range list {
			if it.Value == nil {
				continue
			}
			if err := c.slaveWrite(d, it, it.Value); err != nil {
				c.log.Warn("slave: initial value not set", "device", d.cfg.Name, "key", it.Tag, "path", it.Path, "err", err)
			}
		}
	}
}

func (c *Connector) slaveWrite(d *device, it *Item, value any) error {
	table := Table(it.FunctionCode)
	if it.Codec.Coils {
		bits, err := it.Codec.EncodeBits(value)
		if err != nil {
			return err
		}
		d.slave.SetBits(d.cfg.UnitID, table, it.Address, bits)
		return nil
	}
	regs, err := it.Codec.EncodeRegisters(value)
	if err != nil {
		return err
	}
	d.slave.SetRegisters(d.cfg.UnitID, table, it.Address, regs)
	return nil
}

// UpdateAttributes writes each updated shared attribute that a device's attributeUpdates name. Keys no item
// names are ignored. It fails for an unknown device and with the first failed write.
func (c *Connector) UpdateAttributes(ctx context.Context, name string, values map[string]any) error {
	d := c.byName[name]
	if d == nil {
		return fmt.Errorf("modbus %q: unknown device %q", c.name, name)
	}
	if _, _, err := c.live(ctx); err != nil {
		return err
	}
	var errs []error
	for _, it := range d.cfg.AttributeUpdates {
		v, ok := values[it.Tag]
		if !ok {
			continue
		}
		if _, err := c.do(ctx, d, it, v, true); err != nil {
			errs = append(errs, fmt.Errorf("modbus %q: device %q: attribute %q: %w", c.name, name, it.Tag, err))
		}
	}
	return errors.Join(errs...)
}

// do reads (function codes 1-4, or any item of the slave section when write is false) or writes an item.
func (c *Connector) do(ctx context.Context, d *device, it *Item, value any, write bool) (any, error) {
	if d.slave != nil {
		if write {
			return value, c.slaveWrite(d, it, value)
		}
		r := &readRequest{fc: it.FunctionCode, addr: it.Address, count: it.Codec.Objects(), parts: []readPart{{item: it}}}
		return r.parts[0].decode(d.slave.read(d.cfg.UnitID, r), c.log, d.cfg.Name)
	}
	lines, _, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	return c.doOn(ctx, lines[d.cfg.lineKey()], d, it, value, write)
}

// doOn reads or writes an item of a polled device through line l.
func (c *Connector) doOn(ctx context.Context, l *line, d *device, it *Item, value any, write bool) (any, error) {
	if write {
		op, err := newWrite(it, value)
		if d.cfg.Downlink != nil {
			op, err = expressionWrite(d.cfg, it, value)
		}
		if err != nil {
			return nil, err
		}
		err = l.submit(ctx, l.writes, &job{unit: d.cfg.UnitID, device: d.cfg.Name, fn: op.run})
		d.stats.writes.Add(1)
		if err != nil {
			d.stats.writeFailures.Add(1)
			c.count(d, err)
			c.log.Warn("write failed", "device", d.cfg.Name, "addr", d.cfg.url(), "unitId", d.cfg.UnitID,
				"key", it.Tag, "functionCode", it.FunctionCode, "address", it.Address, "reason", err)
			return nil, err
		}
		return value, nil
	}
	r := &readRequest{fc: it.FunctionCode, addr: it.Address, count: it.Codec.Objects(), parts: []readPart{{item: it}}}
	var res readResult
	err := l.submit(ctx, l.writes, &job{unit: d.cfg.UnitID, device: d.cfg.Name, fn: func(ctx context.Context, mc client) error {
		res = readFrom(ctx, mc, r)
		return res.err
	}})
	if err != nil {
		c.count(d, err)
		return nil, err
	}
	return r.parts[0].decode(res, c.log, d.cfg.Name)
}

// HandleRPC serves device RPCs (an rpc item's tag as the method, or the reserved "get" and "set") and the
// connector RPCs "modbus_<method>" (Device empty; see connectorRPC).
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	if _, _, err := c.live(ctx); err != nil {
		return nil, err
	}
	if req.Device == "" {
		return c.connectorRPC(ctx, req)
	}
	d := c.byName[req.Device]
	if d == nil {
		return nil, fmt.Errorf("modbus %q: unknown device %q", c.name, req.Device)
	}
	return c.deviceRPC(ctx, d, req), nil
}

func (c *Connector) deviceRPC(ctx context.Context, d *device, req tbgateway.RPCRequest) json.RawMessage {
	method := strings.ToLower(req.Method)
	if it := findItem(d.cfg.RPC, req.Method); it != nil {
		write := it.Write
		var value any
		if write {
			v, err := rpcValue(req.Params)
			if err != nil {
				return reply(nil, fmt.Errorf("method %q: %w", req.Method, err))
			}
			value = v
		}
		return reply(c.do(ctx, d, it, value, write))
	}
	if method != "get" && method != "set" {
		return reply(nil, fmt.Errorf("device %q has no RPC method %q", d.cfg.Name, req.Method))
	}
	p, err := reservedParams(req.Params)
	if err != nil {
		return reply(nil, err)
	}
	it, value, err := p.item(d, method == "set")
	if err != nil {
		return reply(nil, fmt.Errorf("%s: %w", method, err))
	}
	return reply(c.do(ctx, d, it, value, method == "set"))
}

func findItem(items []*Item, tag string) *Item {
	for _, it := range items {
		if it.Tag == tag {
			return it
		}
	}
	return nil
}

// reply renders the Python gateway's RPC reply.
func reply(v any, err error) json.RawMessage {
	if err != nil {
		b, _ := json.Marshal(map[string]any{"result": map[string]string{"error": err.Error()}})
		return b
	}
	var val json.RawMessage
	if raw, ok := v.(json.RawMessage); ok {
		val = raw
	} else {
		val = replyValue(v)
	}
	return json.RawMessage(`{"result":{"value":` + string(val) + `}}`)
}

// rpcValue takes the value to write from params: the params themselves, or their "value" key.
func rpcValue(params json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return nil, errors.New("params must hold the value to write")
	}
	v, err := values.Decode(params)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if m, ok := v.(map[string]any); ok {
		if x, ok := m["value"]; ok {
			return x, nil
		}
	}
	return v, nil
}

// reserved is the parameter set of the reserved get/set methods.
type reserved struct {
	typ, fc, addr, count, value, host, port string
	hasValue                                bool
	rawValue                                any
}

// reservedParams parses "type=16int;functionCode=3;address=4;objectsCount=1;value=5;" or a JSON object with
// those keys.
func reservedParams(params json.RawMessage) (*reserved, error) {
	p := &reserved{}
	set := func(k string, v any) {
		s := fmt.Sprint(v)
		if n, ok := v.(json.Number); ok {
			s = n.String()
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			p.typ = s
		case "functioncode":
			p.fc = s
		case "address":
			p.addr = s
		case "objectscount", "registerscount", "registercount":
			p.count = s
		case "value":
			p.value, p.hasValue, p.rawValue = s, true, v
		case "host":
			p.host = s
		case "port":
			p.port = s
		}
	}
	v, err := values.Decode(params)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	switch x := v.(type) {
	case string:
		for _, kv := range strings.Split(x, ";") {
			k, val, ok := strings.Cut(kv, "=")
			if ok {
				set(k, strings.TrimSpace(val))
			}
		}
	case map[string]any:
		for k, val := range x {
			set(k, val)
		}
	default:
		return nil, fmt.Errorf("params must be \"type=…;functionCode=…;address=…;objectsCount=…;value=…\" or an object, got %s", confjson.Describe(v))
	}
	return p, nil
}

// item builds the ad-hoc item a get/set names, using the device's byte and word order.
func (p *reserved) item(d *device, set bool) (*Item, any, error) {
	fc, err := strconv.Atoi(p.fc)
	if err != nil {
		return nil, nil, fmt.Errorf("functionCode %q is not a number", p.fc)
	}
	if set != (fc >= 5) {
		return nil, nil, fmt.Errorf("functionCode %d does not fit the method", fc)
	}
	it, err := adHocItem(d, p.typ, fc, p.addr, p.count, set)
	if err != nil {
		return nil, nil, err
	}
	it.Codec.Repack = d.cfg.Repack
	var value any
	if set {
		if !p.hasValue {
			return nil, nil, errors.New("params need a value")
		}
		value = p.rawValue
		if s, ok := value.(string); ok {
			if v, err := values.Decode([]byte(s)); err == nil {
				value = v // "value=5" in the string form is the number 5
			}
		}
	}
	return it, value, nil
}
