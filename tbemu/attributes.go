package tbemu

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// appendObject appends {"k":v,...} for the given keys of m (sorted).
func appendObject(b []byte, m map[string]value, keys []string) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, k)
		b = append(b, ':')
		b = m[k].appendJSON(b)
	}
	return append(b, '}')
}

// found returns the requested keys present in m, sorted.
func found(m map[string]value, keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := m[k]; ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// deviceAttrRequest answers {"clientKeys":"a,b","sharedKeys":"c"} with
// {"client":{..},"shared":{..}}, empty sections omitted; without both
// fields every client and shared attribute is returned (as ThingsBoard does).
func (s *Server) deviceAttrRequest(ss *session, idText string, payload []byte, v2 bool, now time.Time) outcome {
	id, ok := decimalID(idText)
	var req map[string]json.RawMessage
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !ok || !validJSON(payload) || json.Unmarshal(payload, &req) != nil || req == nil {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	ck, hasC := stringField(req, "clientKeys")
	sk, hasS := stringField(req, "sharedKeys")
	topic, filter := topicAttrResponsePfx+idText, topicAttrResponseSub
	if v2 {
		topic, filter = topicAttrResponseV2+idText, topicAttrResponseSub2
	}
	_ = id
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := ss.dev
	d.lastActivity = now
	if o, limited := deviceLimited(ss, now, 0, 0); limited {
		return o
	}
	var client, shared []string
	if !hasC && !hasS {
		client = slices.Sorted(maps.Keys(d.attrs[0]))
		shared = slices.Sorted(maps.Keys(d.attrs[1]))
	} else {
		client = found(d.attrs[0], splitKeys(ck))
		shared = found(d.attrs[1], splitKeys(sk))
	}
	b := []byte{'{'}
	if len(client) > 0 {
		b = append(b, `"client":`...)
		b = appendObject(b, d.attrs[0], client)
	}
	if len(shared) > 0 {
		if len(client) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"shared":`...)
		b = appendObject(b, d.attrs[1], shared)
	}
	b = append(b, '}')
	out.send = append(out.send, outbound{ss: ss, topic: topic, payload: b, qos: ss.qosFor(filter)})
	return out
}

func splitKeys(s string) []string {
	var out []string
	for k := range strings.SplitSeq(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// gatewayAttrRequest answers {"id","device","client":bool,"key"|"keys"} on
// v1/gateway/attributes/response with "value" for one requested key,
// "values" for several, or neither when nothing was found (as ThingsBoard does).
func (s *Server) gatewayAttrRequest(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	id, okID := intField(m, "id")
	name, okName := stringField(m, "device")
	client, okClient := boolField(m, "client")
	if !okID || !okName || name == "" || !okClient {
		return outcomeB()
	}
	var keys []string
	single := false
	if k, ok := stringField(m, "key"); ok {
		keys, single = []string{k}, true
	} else if raw, ok := m["keys"]; ok {
		if err := json.Unmarshal(raw, &keys); err != nil {
			return outcomeB()
		}
		single = len(keys) == 1
	} else {
		return outcomeB()
	}
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if !ss.limits.allow(now, 1+s.newDevices([]byte(name)), 0, 0) {
		return s.rateLimited(ss, [][]byte{[]byte(name)})
	}
	d := s.subDevice(ss, name, "", now, &out)
	d.lastActivity = now
	scope := d.attrs[1]
	if client {
		scope = d.attrs[0]
	}
	b := fmt.Appendf(nil, `{"id":%d,"device":%s`, id, appendQuoted(nil, name))
	switch {
	case len(keys) == 0:
		// Every attribute of both scopes; the client scope wins on a clash.
		all := maps.Clone(d.attrs[1])
		maps.Copy(all, d.attrs[0])
		b = append(b, `,"values":`...)
		b = appendObject(b, all, slices.Sorted(maps.Keys(all)))
	case single:
		if v, ok := scope[keys[0]]; ok {
			b = append(b, `,"value":`...)
			b = v.appendJSON(b)
		}
	default:
		if f := found(scope, keys); len(f) > 0 {
			b = append(b, `,"values":`...)
			b = appendObject(b, scope, f)
		}
	}
	b = append(b, '}')
	out.send = append(out.send, outbound{ss: ss, topic: topicGwAttrResponse, payload: b, qos: ss.qosFor(topicGwAttrResponse)})
	return out
}

// Attributes returns a copy of device's attributes in scope (nil if the
// device does not exist).
func (s *Server) Attributes(device string, scope Scope) map[string]any {
	i, ok := scopeIndex(scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil || !ok {
		return nil
	}
	out := make(map[string]any, len(d.attrs[i]))
	for k, v := range d.attrs[i] {
		out[k] = v.toAny()
	}
	return out
}

// SetAttributes writes attributes in scope without pushing anything (for
// client and server scope; use SetSharedAttributes to push shared ones).
func (s *Server) SetAttributes(device string, scope Scope, values map[string]any) error {
	if scope == ScopeShared {
		return s.SetSharedAttributes(device, values)
	}
	i, ok := scopeIndex(scope)
	if !ok {
		return fmt.Errorf("set attributes of %q: unknown scope %q", device, scope)
	}
	conv, err := convertValues(device, values)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil {
		return fmt.Errorf("set attributes of %q: %w", device, ErrNoDevice)
	}
	maps.Copy(d.attrs[i], conv)
	return nil
}

func convertValues(device string, values map[string]any) (map[string]value, error) {
	conv := make(map[string]value, len(values))
	for k, x := range values {
		v, err := fromAny(x)
		if err != nil {
			return nil, fmt.Errorf("attribute %q of %q: %w", k, device, err)
		}
		conv[k] = v
	}
	return conv, nil
}

// SetSharedAttributes writes shared attributes and pushes them to the
// device's session if it is subscribed to attributes, or through the
// gateway holding its sub-session (as ThingsBoard does). Nothing is queued.
func (s *Server) SetSharedAttributes(device string, values map[string]any) error {
	conv, err := convertValues(device, values)
	if err != nil {
		return err
	}
	s.mu.Lock()
	d := s.devices[device]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("set shared attributes of %q: %w", device, ErrNoDevice)
	}
	maps.Copy(d.attrs[1], conv)
	data := appendObject(nil, conv, slices.Sorted(maps.Keys(conv)))
	o, ok := s.attrPush(d, data)
	s.mu.Unlock()
	if ok {
		s.write(o)
	}
	s.notify()
	return nil
}

// DeleteSharedAttributes removes shared attributes and pushes
// {"deleted":[keys]} the same way SetSharedAttributes pushes values.
func (s *Server) DeleteSharedAttributes(device string, keys ...string) error {
	s.mu.Lock()
	d := s.devices[device]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("delete shared attributes of %q: %w", device, ErrNoDevice)
	}
	for _, k := range keys {
		delete(d.attrs[1], k)
	}
	data := append([]byte(`{"deleted":`), marshal(keys)...)
	data = append(data, '}')
	o, ok := s.attrPush(d, data)
	s.mu.Unlock()
	if ok {
		s.write(o)
	}
	s.notify()
	return nil
}

// attrPush builds the attribute update for d's session. Called with s.mu held.
func (s *Server) attrPush(d *device, data []byte) (outbound, bool) {
	ss := d.owner
	if ss == nil || ss.closed {
		return outbound{}, false
	}
	if ss.dev != d {
		body := fmt.Appendf(nil, `{"device":%s,"data":%s}`, appendQuoted(nil, d.spec.Name), data)
		return outbound{ss: ss, topic: topicGwAttributes, payload: body, qos: ss.qosFor(topicGwAttributes)}, true
	}
	switch {
	case ss.subscribed(topicAttributes):
		return outbound{ss: ss, topic: topicAttributes, payload: data, qos: ss.qosFor(topicAttributes)}, true
	case ss.subscribed(topicAttributesV2):
		return outbound{ss: ss, topic: topicAttributesV2, payload: data, qos: ss.qosFor(topicAttributesV2)}, true
	}
	return outbound{}, false
}
