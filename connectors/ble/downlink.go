package ble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// UpdateAttributes writes every updated shared attribute listed in the device's attributeUpdates to its
// characteristics, as the UTF-8 text of the value (Python's str(value), with JSON spellings: true, 1.5,
// {"a":1}), as a write request (with response). Attributes not listed are ignored. While the device is not
// connected the newest value of each is kept and written once it connects (Python drops them); the call then
// returns nil.
func (c *Connector) UpdateAttributes(ctx context.Context, device string, vals map[string]any) error {
	if !c.isRunning() {
		return errNotRunning
	}
	d := c.byName[device]
	if d == nil {
		return fmt.Errorf("device %q is not served by ble connector %s", device, c.name)
	}
	l := d.link()
	if l == nil {
		if d.keepPending(vals) {
			c.log.Info("attribute update kept until the device connects", "device", device)
		}
		return nil
	}
	return c.writeAttributes(ctx, d, l, vals)
}

func (c *Connector) writeAttributes(ctx context.Context, d *device, l link, vals map[string]any) error {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		for _, uuid := range d.updates[k] {
			if err := l.write(ctx, uuid, []byte(values.Text(vals[k])), true); err != nil {
				errs = append(errs, fmt.Errorf("device %q: attribute %s: write %s: %w", d.name, k, uuid, err))
			}
		}
	}
	return errors.Join(errs...)
}

// writePending writes the attribute updates kept while the device was not connected.
func (c *Connector) writePending(ctx context.Context, d *device, l link) {
	vals := d.takePending()
	if len(vals) == 0 {
		return
	}
	if err := c.writeAttributes(ctx, d, l, vals); err != nil {
		c.log.Warn("attribute update failed", "device", d.name, "err", err)
	}
}

// connected returns the device and its live connection, or an error naming why there is none.
func (c *Connector) connected(device string) (*device, link, error) {
	if !c.isRunning() {
		return nil, nil, errNotRunning
	}
	d := c.byName[device]
	if d == nil {
		return nil, nil, fmt.Errorf("device %q is not served by ble connector %s", device, c.name)
	}
	l := d.link()
	if l == nil {
		return nil, nil, fmt.Errorf("device %q (%s) is not connected", device, d.mac)
	}
	return d, l, nil
}

// HandleRPC serves, with the Python connector's replies (a text reply that is JSON is sent as that JSON):
//   - a serverSideRpc method of the device: "read" reads the characteristic and answers its value as UTF-8
//     text; "write" writes the params' text (as attribute updates are written; a write request when
//     withResponse is true, else a write command) and answers "Ok"; "scan" answers the device's GATT map
//     (services and characteristics with their flags and the values of the readable ones);
//   - the reserved methods "get" with params "characteristicUUID=<uuid>" and "set" with
//     "characteristicUUID=<uuid>;value=<text>" (or a JSON object with those keys), answered like read and write;
//   - the connector method "ble_scan" (no device): the advertisers seen, {"<MAC>": {"name", "rssi"}}, filtered
//     by scanner.deviceName.
//
// Python answers nothing when withResponse is false (the call times out at ThingsBoard); here every call is
// answered. Unknown methods are errors listing the methods the device has.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	if req.Device == "" {
		if !c.isRunning() {
			return nil, errNotRunning
		}
		if strings.TrimPrefix(req.Method, Type+"_") == ProcScan {
			return c.scanReply()
		}
		return nil, fmt.Errorf("ble connector %s has no method %q (it has: ble_scan)", c.name, req.Method)
	}
	d, l, err := c.connected(req.Device)
	if err != nil {
		return nil, err
	}
	rc := d.rpc[req.Method]
	var data []byte
	switch {
	case rc != nil:
		if rc.Processing == ProcWrite {
			data = []byte(paramText(req.Params))
		}
	case req.Method == "get" || req.Method == "set":
		p, err := reservedParams(req.Params)
		if err != nil {
			return nil, fmt.Errorf("device %q: %s: %w", req.Device, req.Method, err)
		}
		rc = &RPCConfig{Method: req.Method, UUID: p.uuid, Processing: ProcRead, WithResponse: true}
		if req.Method == "set" {
			rc.Processing, data = ProcWrite, []byte(p.value)
		}
	default:
		names := make([]string, 0, len(d.rpc)+2)
		for m := range d.rpc {
			names = append(names, m)
		}
		sort.Strings(names)
		names = append(names, "get", "set")
		return nil, fmt.Errorf("device %q has no RPC method %q (it has: %s)", req.Device, req.Method,
			strings.Join(names, ", "))
	}
	switch rc.Processing {
	case ProcRead:
		v, err := l.read(ctx, rc.UUID)
		if err != nil {
			return nil, fmt.Errorf("device %q: read %s: %w", req.Device, rc.UUID, err)
		}
		if !utf8.Valid(v) {
			return nil, fmt.Errorf("device %q: read %s: the value is not UTF-8 text (hex %x)", req.Device, rc.UUID, v)
		}
		return textReply(string(v)), nil
	case ProcWrite:
		if err := l.write(ctx, rc.UUID, data, rc.WithResponse); err != nil {
			return nil, fmt.Errorf("device %q: write %s: %w", req.Device, rc.UUID, err)
		}
		return textReply("Ok"), nil
	default:
		return textReply(gattMap(ctx, d, l)), nil
	}
}

// textReply is how the Python gateway sends a text reply: parsed as JSON when it is JSON, else as a string.
func textReply(s string) json.RawMessage {
	if t := strings.TrimSpace(s); t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// paramText is the text a write sends: a JSON string's content, anything else as its JSON text.
func paramText(params json.RawMessage) string {
	p := bytes.TrimSpace(params)
	var s string
	if json.Unmarshal(p, &s) == nil {
		return s
	}
	if len(p) == 0 {
		return ""
	}
	v, err := values.Decode(p)
	if err != nil {
		return string(p)
	}
	return values.Text(v)
}

type reserved struct{ uuid, value string }

// reservedParams reads "characteristicUUID=<uuid>;value=<text>" (Python's form) or a JSON object with those keys.
func reservedParams(params json.RawMessage) (reserved, error) {
	var r reserved
	kv := map[string]string{}
	var obj map[string]any
	if json.Unmarshal(params, &obj) == nil && obj != nil {
		for k, v := range obj {
			kv[k] = values.Text(v)
		}
	} else {
		for _, part := range strings.Split(paramText(params), ";") {
			k, v, ok := strings.Cut(part, "=")
			if ok && strings.TrimSpace(k) != "" {
				kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	u, ok := NormalUUID(kv["characteristicUUID"])
	if !ok {
		return r, fmt.Errorf("params: expected characteristicUUID=<uuid>, found %q", paramText(params))
	}
	r.uuid = u
	r.value, ok = kv["value"]
	if !ok {
		r.value = ""
	}
	return r, nil
}

// scanReply lists the advertisers seen.
func (c *Connector) scanReply() (json.RawMessage, error) {
	out := map[string]any{}
	for _, a := range c.seen.list() {
		if c.nameMatches(a) {
			out[a.mac] = map[string]any{"name": a.name, "rssi": a.rssi}
		}
	}
	return json.Marshal(out)
}
