package opcua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/gopcua/opcua/ua"
)

// UpdateAttributes writes shared attributes to the nodes the device's "attributes_updates" name (a node id, an
// absolute path, or a path under the device node). Keys that are not configured are ignored, as in the Python
// gateway. Each value is converted to the node's data type (read once per node and cached for the session):
// "12.5" becomes a Double for a Double node, "true" a Boolean, and so on.
func (c *Connector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	s, err := c.current()
	if err != nil {
		return err
	}
	d := s.devices[device]
	if d == nil {
		return fmt.Errorf("device %q is not served by opc-ua connector %s", device, c.name)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		ref, ok := d.m.updates[k]
		if !ok {
			c.log.Debug("attribute update for a key without attributes_updates entry ignored", "device", device, "key", k)
			continue
		}
		node, err := s.res.resolve(ctx, ref, d.node)
		if err == nil {
			err = s.write(ctx, node, values[k])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("device %q: attribute %q: %w", device, k, err))
		}
	}
	return errors.Join(errs...)
}

// write converts v to the node's data type and writes it as the node's value.
func (s *session) write(ctx context.Context, node *ua.NodeID, v any) error {
	t, err := s.dataType(ctx, node)
	if err != nil {
		return err
	}
	variant, err := coerce(v, t)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	res, err := s.c.Write(ctx, &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
		NodeID: node, AttributeID: ua.AttributeIDValue,
		Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: variant},
	}}})
	if err != nil {
		return fmt.Errorf("write %s: %w", node, err)
	}
	if len(res.Results) != 1 || res.Results[0] != ua.StatusOK {
		st := ua.StatusBad
		if len(res.Results) == 1 {
			st = res.Results[0]
		}
		return fmt.Errorf("write %s: %s", node, statusName(st))
	}
	return nil
}

// dataType returns the built-in type of a variable: its DataType attribute when that is a built-in type, else
// the type of its current value (enumerations, subtypes).
func (s *session) dataType(ctx context.Context, node *ua.NodeID) (ua.TypeID, error) {
	key := node.String()
	s.mu.Lock()
	t, ok := s.dataTypes[key]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	res, err := s.c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{
		{NodeID: node, AttributeID: ua.AttributeIDDataType}, {NodeID: node, AttributeID: ua.AttributeIDValue},
	}})
	if err != nil {
		return 0, fmt.Errorf("read data type of %s: %w", node, err)
	}
	if len(res.Results) != 2 {
		return 0, fmt.Errorf("read data type of %s: %d results", node, len(res.Results))
	}
	if dt := res.Results[0]; dt.Status == ua.StatusOK && dt.Value != nil {
		if bt, ok := builtinType(dt.Value.NodeID()); ok {
			t, ok = bt, true
		}
	}
	if !ok {
		cur := res.Results[1]
		if cur.Status != ua.StatusOK || cur.Value == nil || cur.Value.Type() == ua.TypeIDNull {
			return 0, fmt.Errorf("node %s: data type unknown (%s)", node, statusName(res.Results[0].Status))
		}
		t = cur.Value.Type()
	}
	s.mu.Lock()
	s.dataTypes[key] = t
	s.mu.Unlock()
	return t, nil
}

// read returns a node's current value as a record value.
func (s *session) read(ctx context.Context, node *ua.NodeID) (any, error) {
	dvs, err := readAttr(ctx, s.c, []*ua.NodeID{node}, ua.AttributeIDValue, 1)
	if err != nil {
		return nil, err
	}
	if st := dvs[0].Status; st != ua.StatusOK && st&0x80000000 != 0 {
		return nil, fmt.Errorf("read %s: %s", node, statusName(st))
	}
	v, _ := dataValueOf(dvs[0])
	return v, nil
}

// replyValue encodes {"result": {"value": v}}, the reply of the reserved get and set RPCs.
func replyValue(v any) (json.RawMessage, error) {
	return json.Marshal(map[string]any{"result": map[string]any{"value": v}})
}
