package opcua

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gopcua/opcua/ua"
	"github.com/tbgateway/tbgateway/internal/values"
)

// methodNode finds the method called name among the device node's children (any namespace).
func (s *session) methodNode(ctx context.Context, d *device, name string) (*ua.NodeID, error) {
	kids, err := s.res.children(ctx, d.node)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		if k.name == name {
			return k.id, nil
		}
	}
	return nil, fmt.Errorf("device %q: no method %q under node %s", d.name, name, d.node)
}

// inputTypes reads the method's InputArguments property and returns the built-in type of each argument (nil
// where the type is not built-in or the property is missing).
func (s *session) inputTypes(ctx context.Context, method *ua.NodeID) []*ua.TypeID {
	kids, err := s.res.children(ctx, method)
	if err != nil {
		return nil
	}
	for _, k := range kids {
		if k.name != "InputArguments" {
			continue
		}
		dvs, err := readAttr(ctx, s.c, []*ua.NodeID{k.id}, ua.AttributeIDValue, 1)
		if err != nil || dvs[0].Value == nil {
			return nil
		}
		objs, _ := dvs[0].Value.Value().([]*ua.ExtensionObject)
		out := make([]*ua.TypeID, len(objs))
		for i, o := range objs {
			if a, ok := o.Value.(*ua.Argument); ok && a.ValueRank <= 0 {
				if t, ok := builtinType(a.DataType); ok {
					out[i] = &t
				}
			}
		}
		return out
	}
	return nil
}

// callArguments merges configured arguments with the request's params: a JSON array or {"arguments": [...]}
// replaces the configured values position by position (elements are values or {"type", "value"}); a single
// scalar fills the first argument without a configured value.
func callArguments(conf []ArgumentDef, params json.RawMessage) ([]ArgumentDef, error) {
	args := append([]ArgumentDef(nil), conf...)
	p := bytes.TrimSpace(params)
	if len(p) == 0 || string(p) == "null" || string(p) == "{}" {
		return args, nil
	}
	tree, err := values.Decode(p)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	var given []ArgumentDef
	list, isList := tree.([]any)
	if o, isObj := tree.(map[string]any); isObj {
		list, _ = o["arguments"].([]any)
		isList = true // an object without an arguments list changes nothing
	}
	if !isList {
		for i := range args {
			if args[i].Value == nil {
				args[i].Value = tree
				return args, nil
			}
		}
		return append(args, ArgumentDef{Value: tree}), nil
	}
	for _, item := range list {
		given = append(given, argumentDef(item))
	}
	for i, g := range given {
		if i < len(args) {
			if g.Type == "" {
				g.Type = args[i].Type
			}
			args[i] = g
		} else {
			args = append(args, g)
		}
	}
	return args, nil
}

// callMethod calls a device method and returns its outputs as record values.
func (c *Connector) callMethod(ctx context.Context, s *session, d *device, rc *RPCConfig, params json.RawMessage) (any, error) {
	method, err := s.methodNode(ctx, d, rc.Method)
	if err != nil {
		return nil, err
	}
	args, err := callArguments(rc.Arguments, params)
	if err != nil {
		return nil, fmt.Errorf("device %q: method %q: %w", d.name, rc.Method, err)
	}
	declared := s.inputTypes(ctx, method)
	inputs := make([]*ua.Variant, len(args))
	for i, a := range args {
		if a.Value == nil {
			return nil, fmt.Errorf("device %q: method %q: argument %d has no value in the config or the request", d.name, rc.Method, i)
		}
		var dt *ua.TypeID
		if i < len(declared) {
			dt = declared[i]
		}
		if inputs[i], err = argumentVariant(a.Type, a.Value, dt); err != nil {
			return nil, fmt.Errorf("device %q: method %q: argument %d: %w", d.name, rc.Method, i, err)
		}
	}
	res, err := s.c.Call(ctx, &ua.CallMethodRequest{ObjectID: d.node, MethodID: method, InputArguments: inputs})
	if err != nil {
		return nil, fmt.Errorf("device %q: call %q: %w", d.name, rc.Method, err)
	}
	if res.StatusCode != ua.StatusOK {
		return nil, fmt.Errorf("device %q: call %q: %s", d.name, rc.Method, statusName(res.StatusCode))
	}
	outs := make([]any, len(res.OutputArguments))
	for i, o := range res.OutputArguments {
		if o != nil {
			outs[i] = recordValue(o.Value())
		}
	}
	switch len(outs) {
	case 0:
		return nil, nil
	case 1:
		return outs[0], nil
	}
	return outs, nil
}
