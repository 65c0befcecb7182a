package modbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/values"
)

// ConnectorRPCTimeout bounds one device's part of a connector RPC, as the Python gateway's 5 s.
const ConnectorRPCTimeout = 5 * time.Second

// connectorRPC serves an RPC to the connector ("modbus_<method>", Device empty) as the Python gateway does. The
// params name the objects to read or write (functionCode, address, objectsCount, type, value) and either an ad-hoc
// slave (any of host, port, unitId set: the keys of a master.slaves entry, serial ports included) or, without
// them, every configured device; the method name then only matters when the params name no functionCode (ours:
// the devices whose rpc section has that tag run it). The reply is a list with an entry per device, in config
// order: {"result": value, "device_name": name} or {"error": reason, "device_name": name}; an ad-hoc slave that
// cannot be reached gives {"error": "Failed to connect to device NAME: reason", "success": false}.
func (c *Connector) connectorRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	raw, err := values.Decode(req.Params)
	if err != nil {
		return rpcList(adhocError("", fmt.Errorf("params: %w", err))), nil
	}
	params, _ := raw.(map[string]any)
	if params != nil && (truthy(params["host"]) || truthy(params["port"]) || truthy(params["unitId"])) {
		return rpcList(c.adhocRPC(ctx, params)), nil
	}
	p, perr := reservedParams(req.Params)
	var out []map[string]any
	for _, d := range c.devices {
		switch {
		case perr == nil && p.fc != "":
			v, err := c.paramsRPC(ctx, nil, d, p)
			out = append(out, entry(d.cfg.Name, v, err))
		case findItem(d.cfg.RPC, req.Method) != nil:
			res, err := c.itemRPC(ctx, d, findItem(d.cfg.RPC, req.Method), req.Params)
			out = append(out, entry(d.cfg.Name, res, err))
		}
	}
	if len(out) == 0 {
		return rpcList(adhocError("", fmt.Errorf("params name no functionCode and no device has RPC method %q", req.Method))), nil
	}
	return rpcList(out...), nil
}

// truthy is Python's truth of a JSON value, as the Python gateway tests host, port and unitId.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case bool:
		return x
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case float64:
		return x != 0
	}
	return true
}

// paramsRPC reads or writes the objects the params name on one device, in the device's byte and word order, on
// line l (nil: the device's configured line).
func (c *Connector) paramsRPC(ctx context.Context, l *line, d *device, p *reserved) (any, error) {
	fc, err := strconv.Atoi(p.fc)
	if err != nil {
		return nil, fmt.Errorf("functionCode %q is not a number", p.fc)
	}
	if fc < 1 || fc > 16 || (fc > 6 && fc < 15) {
		return nil, errors.New("Unsupported function code in RPC request.") //nolint:staticcheck // the Python gateway's text
	}
	it, value, err := p.item(d, fc >= 5)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ConnectorRPCTimeout)
	defer cancel()
	var v any
	if l == nil {
		v, err = c.do(ctx, d, it, value, fc >= 5)
	} else {
		v, err = c.doOn(ctx, l, d, it, value, fc >= 5)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("Timeout rpc has been reached for %s", d.cfg.Name) //nolint:staticcheck // the Python gateway's text
	case err == nil && fc >= 5:
		return p.rawValue, nil // the Python gateway answers a write with the value as it was sent
	}
	return v, err
}

// itemRPC runs a configured rpc item of a device with the params as its value.
func (c *Connector) itemRPC(ctx context.Context, d *device, it *Item, params json.RawMessage) (any, error) {
	var value any
	if it.Write {
		v, err := rpcValue(params)
		if err != nil {
			return nil, err
		}
		value = v
	}
	ctx, cancel := context.WithTimeout(ctx, ConnectorRPCTimeout)
	defer cancel()
	return c.do(ctx, d, it, value, it.Write)
}

// adhocRPC reads or writes on a slave the params describe. Its requests go through the queue of the configured
// line with the same endpoint (TCP host:port, UDP, TLS, serial port) when there is one, else through a line of
// its own that lives as long as the calls using it.
func (c *Connector) adhocRPC(ctx context.Context, params map[string]any) map[string]any {
	dev, err := adhocDevice(params)
	if err != nil {
		return adhocError("", err)
	}
	p, err := reservedParams(mustJSON(params))
	if err != nil {
		return adhocError(dev.Name, err)
	}
	if p.fc == "" {
		return adhocError(dev.Name, errors.New("params: functionCode is missing"))
	}
	if transport(params["type"]) {
		p.typ, _ = params["tag"].(string) // as the Python gateway's write path falls back to "tag"
	}
	lines, _, err := c.live(ctx)
	if err != nil {
		return adhocError(dev.Name, err)
	}
	l := lines[dev.lineKey()]
	if l == nil {
		var release func()
		l, release = c.adhoc.acquire(dev, c.log)
		defer release()
	}
	v, err := c.paramsRPC(ctx, l, &device{cfg: dev}, p)
	if err != nil && classify(err) == faultDisconnect {
		return map[string]any{"error": "Failed to connect to device " + dev.Name + ": " + err.Error(), "success": false}
	}
	return entry(dev.Name, v, err)
}

// adhocDevice decodes the slave keys of the params as a master.slaves entry; the keys of the request itself
// (functionCode, address, value, ...) are not the slave's and are not reported. Its request timeout is at most
// ConnectorRPCTimeout.
func adhocDevice(params map[string]any) (*Device, error) {
	m := maps.Clone(params)
	if !transport(m["type"]) {
		delete(m, "type") // the data type: the slave is then a TCP one
	}
	if m["pollPeriod"] == nil {
		m["pollPeriod"] = json.Number("1000") // required of a configured slave; an ad-hoc one is never polled
	}
	dec := confjson.New("")
	o := dec.Object("params", m)
	dev := decodeDevice(o)
	if err := dec.Err(); err != nil {
		return nil, err
	}
	dev.Timeout = min(dev.Timeout, ConnectorRPCTimeout)
	return dev, nil
}

// transport says whether an ad-hoc "type" names the slave's transport rather than the data type: the Python
// gateway reads the one key as both.
func transport(v any) bool {
	s, _ := v.(string)
	switch strings.ToLower(s) {
	case "tcp", "udp", "serial", "tls":
		return true
	}
	return false
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// entry is one device's part of a connector RPC reply.
func entry(name string, v any, err error) map[string]any {
	if err != nil {
		return adhocError(name, err)
	}
	return map[string]any{"result": json.RawMessage(replyValue(v)), "device_name": name}
}

func adhocError(name string, err error) map[string]any {
	out := map[string]any{"error": err.Error()}
	if name != "" {
		out["device_name"] = name
	}
	return out
}

func rpcList(entries ...map[string]any) json.RawMessage {
	b, err := json.Marshal(entries)
	if err != nil {
		b, _ = json.Marshal([]map[string]any{{"error": err.Error()}})
	}
	return b
}

// adhocLines are the lines of ad-hoc slaves whose endpoint no configured device uses, by line key; a line runs
// while a call uses it, so concurrent calls to one endpoint share its queue and connection.
type adhocLines struct {
	mu sync.Mutex
	m  map[string]*adhocLine
}

type adhocLine struct {
	l     *line
	users int
	stop  context.CancelFunc
	done  chan struct{}
}

// acquire returns the running line for the device's endpoint, starting it when no call uses one; release ends
// the caller's use, and the last user stops the line and waits until its connection is closed.
func (a *adhocLines) acquire(dev *Device, log *slog.Logger) (*line, func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := dev.lineKey()
	al := a.m[key]
	if al == nil {
		ctx, stop := context.WithCancel(context.Background())
		al = &adhocLine{l: newLine(dev, 1, log.With("adhoc", true)), stop: stop, done: make(chan struct{})}
		go func() {
			defer close(al.done)
			al.l.run(ctx)
		}()
		if a.m == nil {
			a.m = map[string]*adhocLine{}
		}
		a.m[key] = al
	}
	al.users++
	return al.l, func() {
		a.mu.Lock()
		al.users--
		last := al.users == 0
		if last {
			delete(a.m, key)
		}
		a.mu.Unlock()
		if last {
			al.stop()
			<-al.done
		}
	}
}
