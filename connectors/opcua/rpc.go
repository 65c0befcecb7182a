package opcua

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// HandleRPC serves, like the Python gateway:
//   - device method "get" with params naming a node: a configured key of the device, a path under the device
//     node, an absolute "Root\.…" path or a node id (a trailing ";" is ignored), as text or {"key"|"path": …};
//     reply {"result": {"value": v}};
//   - device method "set" with "node; value", "node=value", "node value" or {"key"|"path": …, "value": …}: writes
//     the value with the node's data type; reply {"result": {"value": <value as given>}};
//   - a device method listed in the mapping's rpc_methods: calls the method of that browse name under the device
//     node, with the configured arguments, request params filling or replacing them (a JSON array, or
//     {"arguments": [...]}, each element a value or {"type", "value"}), each converted to the type the method
//     declares; reply {"result": {"result": output}} (one output as is, several as a list, none as null);
//   - connector method "opcua_<m>" (Device empty, Method m): calls m on every device that has it; reply
//     {"result": {"<device>": output, ...}}.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	if req.Device == "" {
		return c.connectorRPC(ctx, s, req)
	}
	d := s.devices[req.Device]
	if d == nil {
		return nil, fmt.Errorf("device %q is not served by opc-ua connector %s", req.Device, c.name)
	}
	switch strings.ToLower(req.Method) {
	case "get":
		target, _, err := rpcTarget(req.Params, false)
		if err != nil {
			return nil, err
		}
		node, err := s.nodeFor(ctx, d, target)
		if err != nil {
			return nil, err
		}
		v, err := s.read(ctx, node)
		if err != nil {
			return nil, err
		}
		return replyValue(v)
	case "set":
		target, value, err := rpcTarget(req.Params, true)
		if err != nil {
			return nil, err
		}
		node, err := s.nodeFor(ctx, d, target)
		if err != nil {
			return nil, err
		}
		if err := s.write(ctx, node, value); err != nil {
			return nil, err
		}
		return replyValue(value)
	}
	rc := d.m.methods[req.Method]
	if rc == nil {
		return nil, fmt.Errorf("device %q: method %q is not in rpc_methods", req.Device, req.Method)
	}
	out, err := c.callMethod(ctx, s, d, rc, req.Params)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"result": map[string]any{"result": out}})
}

func (c *Connector) connectorRPC(ctx context.Context, s *session, req tbgateway.RPCRequest) (json.RawMessage, error) {
	method := strings.TrimPrefix(req.Method, Type+"_")
	results := map[string]any{}
	var errs []error
	for _, d := range s.order {
		rc := &RPCConfig{Method: method}
		if m := d.m.methods[method]; m != nil {
			rc = m
		}
		if _, err := s.methodNode(ctx, d, method); err != nil {
			continue // this device has no such method
		}
		out, err := c.callMethod(ctx, s, d, rc, req.Params)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results[d.name] = out
	}
	if len(results) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("no device of connector %s has method %q", c.name, method)
	}
	return json.Marshal(map[string]any{"result": results})
}

// nodeFor resolves an RPC target: a configured key of the device first, then a node reference (relative to
// the device node).
func (s *session) nodeFor(ctx context.Context, d *device, target string) (*ua.NodeID, error) {
	for _, it := range d.items {
		if it.spec.key == target && it.node != nil {
			return it.node, nil
		}
	}
	ref, err := parseNodeExpr(target)
	if err != nil {
		return nil, err
	}
	return s.res.resolve(ctx, ref, d.node)
}

// nodeIDPrefix matches a node id at the start of an RPC params text; s= ids end at ";" or white space.
var nodeIDPrefix = regexp.MustCompile(`^(?:ns=\d+;)?(?:[igb]=[^;\s]+|s=[^;\s]+)`)

// rpcTarget extracts the node (and, for set, the value) from get/set params.
func rpcTarget(params json.RawMessage, withValue bool) (target string, value any, err error) {
	p := bytes.TrimSpace(params)
	if len(p) == 0 || string(p) == "null" {
		return "", nil, errors.New("params: expected the node to read or write")
	}
	if p[0] == '{' {
		tree, err := values.Decode(p)
		if err != nil {
			return "", nil, fmt.Errorf("params: %w", err)
		}
		o, _ := tree.(map[string]any)
		for _, k := range []string{"key", "path", "node", "nodeId"} {
			if t, ok := o[k].(string); ok && t != "" {
				target = t
				break
			}
		}
		if target == "" {
			return "", nil, errors.New(`params: expected "key" or "path"`)
		}
		value, ok := o["value"]
		if withValue && !ok {
			return "", nil, errors.New(`params: expected "value"`)
		}
		return target, value, nil
	}
	var text string
	if err := json.Unmarshal(p, &text); err != nil {
		text = string(p)
	}
	text = strings.TrimSpace(text)
	var rest string
	if m := nodeIDPrefix.FindString(text); m != "" {
		target, rest = m, text[len(m):]
	} else if i := strings.IndexAny(text, ";= \t"); i >= 0 {
		target, rest = text[:i], text[i:]
	} else {
		target = text
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && (rest[0] == ';' || rest[0] == '=') {
		rest = strings.TrimSpace(rest[1:])
	}
	if !withValue {
		return target, nil, nil
	}
	if rest == "" {
		return "", nil, fmt.Errorf("params %q: expected a value after the node", text)
	}
	return target, rest, nil
}
