package simulator

import (
	"context"
	"encoding/json"
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// UpdateAttributes keeps the shared attributes received for device, sets any constant or string series of the
// same key to the new value, and sends the client attribute "lastSharedUpdate" holding the values as a JSON
// object. It fails for an unknown device and, with tbgateway.ErrNotConnected, while Run is not running.
func (s *Simulator) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	s.mu.Lock()
	d, ok := s.byName[device]
	sink := s.sink
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("simulator %q: unknown device %q", s.name, device)
	}
	for k, v := range values {
		d.shared[k] = v
		rv, err := recordValueOf(v)
		if err != nil {
			continue // kept as a shared attribute, not emitted (a null cannot be a reading)
		}
		for _, se := range d.series {
			if se.cfg.Key == k && (se.typ == TypeConstant || se.typ == TypeString) {
				se.typ, se.value = TypeConstant, rv
			}
		}
	}
	devType := d.cfg.DeviceType
	s.mu.Unlock()
	if sink == nil {
		return fmt.Errorf("simulator %q: device %q: connector is not running: %w", s.name, device, tbgateway.ErrNotConnected)
	}
	b, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("simulator %q: device %q: encode shared attributes: %w", s.name, device, err)
	}
	rec := tbgateway.Record{Device: device, DeviceType: devType, Connector: s.name,
		Attributes: map[string]any{"lastSharedUpdate": tbgateway.RawJSON(b)}}
	if err := sink.Send(ctx, rec); err != nil {
		return fmt.Errorf("simulator %q: device %q: report lastSharedUpdate: %w", s.name, device, err)
	}
	return nil
}

// HandleRPC serves the device RPCs getValue, setValue and echo, and the connector RPC devices (called as
// "simulator_devices"). Unknown methods and devices are errors.
func (s *Simulator) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	if req.Device == "" {
		if req.Method == "devices" {
			return json.Marshal(s.Devices())
		}
		return nil, fmt.Errorf("simulator %q: unknown connector method %q (have: devices)", s.name, req.Method)
	}
	s.mu.Lock()
	d, ok := s.byName[req.Device]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("simulator %q: unknown device %q", s.name, req.Device)
	}
	switch req.Method {
	case "echo":
		if len(req.Params) == 0 {
			return json.RawMessage("null"), nil
		}
		return req.Params, nil
	case "getValue":
		key, _ := params(req.Params)
		if key == "" {
			return nil, fmt.Errorf("device %q: getValue: params must be {\"key\": name}, got %s", req.Device, req.Params)
		}
		v, err := s.value(d, key)
		if err != nil {
			return nil, fmt.Errorf("device %q: getValue: %w", req.Device, err)
		}
		return json.Marshal(map[string]any{"value": v})
	case "setValue":
		key, value := params(req.Params)
		if key == "" || value == nil {
			return nil, fmt.Errorf("device %q: setValue: params must be {\"key\": name, \"value\": v}, got %s", req.Device, req.Params)
		}
		v, err := recordValueOf(value)
		if err != nil {
			return nil, fmt.Errorf("device %q: setValue %q: %w", req.Device, key, err)
		}
		if err := s.setValue(d, key, v); err != nil {
			return nil, fmt.Errorf("device %q: setValue: %w", req.Device, err)
		}
		return json.Marshal(map[string]any{"key": key, "value": v})
	}
	return nil, fmt.Errorf("device %q: unknown method %q (have: getValue, setValue, echo)", req.Device, req.Method)
}

// params reads {"key": name, "value": v} from RPC params (value as a decoded JSON value); what is missing or
// not of that shape is empty.
func params(raw json.RawMessage) (key string, value any) {
	tree, _ := values.Decode(raw)
	o, _ := tree.(map[string]any)
	key, _ = o["key"].(string)
	return key, o["value"]
}

// value returns a series' last value, else a configured attribute, else a shared attribute received.
func (s *Simulator) value(d *device, key string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range d.series {
		if se.cfg.Key == key {
			if !se.hasLast {
				return nil, fmt.Errorf("key %q has no value yet", key)
			}
			return se.last, nil
		}
	}
	if v, ok := d.attrs[key]; ok {
		return v, nil
	}
	if v, ok := d.shared[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("unknown key %q", key)
}

// setValue makes the series key a constant of v from the next emission on.
func (s *Simulator) setValue(d *device, key string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range d.series {
		if se.cfg.Key == key {
			se.typ, se.value = TypeConstant, v
			return nil
		}
	}
	return fmt.Errorf("unknown time series %q", key)
}
