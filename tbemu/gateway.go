package tbemu

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// handleGateway handles v1/gateway/* publishes of a gateway session (as ThingsBoard does).
func (s *Server) handleGateway(ss *session, pk packets.Packet) outcome {
	now := time.Now()
	switch pk.TopicName {
	case topicGwTelemetry:
		return s.gatewayTelemetry(ss, pk.Payload, now)
	case topicGwAttributes:
		return s.gatewayAttributes(ss, pk.Payload, now)
	case topicGwConnect:
		return s.gatewayConnect(ss, pk.Payload, now)
	case topicGwDisconnect:
		return s.gatewayDisconnect(ss, pk.Payload, now)
	case topicGwAttrRequest:
		return s.gatewayAttrRequest(ss, pk.Payload, now)
	case topicGwRPC:
		return s.gatewayRPCReply(ss, pk.Payload, now)
	case topicGwClaim:
		return s.gatewayClaim(ss, pk.Payload, now)
	}
	s.touch(ss, now)
	return unknownTopic()
}

func (s *Server) touch(ss *session, now time.Time) {
	s.mu.Lock()
	if ss.dev != nil {
		ss.dev.lastActivity = now
	}
	s.mu.Unlock()
}

// subDevice gets or creates the named device and opens its sub-session on
// the gateway session ss, as every gateway message naming a device does
// (as ThingsBoard does). Pending RPCs go out when a sub-session opens. Called with
// s.mu held.
func (s *Server) subDevice(ss *session, name, typ string, now time.Time, out *outcome) *device {
	d := s.devices[name]
	if d == nil {
		if typ == "" {
			typ = "default"
		}
		d = newDevice(DeviceSpec{Name: name, Type: typ})
		s.devices[name] = d
		s.log.Info("device created by gateway", "device", name, "type", typ, "gateway", ss.name())
	}
	if ss.subDevs[name] == d && d.owner == ss {
		return d
	}
	if e := s.takeOver(d, ss); e != nil {
		out.evict = append(out.evict, e)
	}
	ss.subDevs[name] = d
	if _, ok := ss.subLimits[name]; !ok {
		ss.subLimits[name] = s.newLimiter(false, true)
	}
	d.lastConnect = now
	d.lastGateway = ss.name()
	for _, c := range slices.Clone(d.pending) {
		if o, ok := s.rpcOutbound(d, c); ok {
			out.send = append(out.send, o)
			s.markSent(d, c)
		}
	}
	return d
}

// newDevices counts names that do not exist yet (device creation counts as
// a gateway message for rate limits). Called with s.mu held.
func (s *Server) newDevices(names ...[]byte) int {
	n := 0
	for _, nm := range names {
		if s.devices[string(nm)] == nil {
			n++
		}
	}
	return n
}

func (s *Server) gatewayTelemetry(ss *session, payload []byte, now time.Time) outcome {
	ps := &ss.scratch
	class := ps.gatewayTelemetry(payload, now.UnixMilli())
	switch class {
	case classA:
		return outcomeA(ss)
	case classB:
		return outcomeB()
	}
	out := ackOK()
	if class == classC {
		out = outcomeC(ss)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if ss.limits != nil || s.devLimits != (RateLimits{}) {
		names := make([][]byte, len(ps.devs))
		for i, pd := range ps.devs {
			names[i] = pd.name
		}
		if !ss.limits.allow(now, 1+s.newDevices(names...), 1, len(ps.pts)) {
			return s.rateLimited(ss, names)
		}
		for _, pd := range ps.devs {
			l, ok := ss.subLimits[string(pd.name)]
			if !ok {
				l = s.newLimiter(false, true)
				ss.subLimits[string(pd.name)] = l
			}
			if !l.allow(now, 1, 1, pd.to-pd.from) {
				return s.rateLimited(ss, [][]byte{pd.name})
			}
		}
	}
	for _, pd := range ps.devs {
		d := s.devices[string(pd.name)]
		if d == nil || d.owner != ss || d == ss.dev {
			d = s.subDevice(ss, string(pd.name), "", now, &out)
		}
		d.lastActivity = now
		s.storePoints(d, ps.pts[pd.from:pd.to])
	}
	if len(ps.meta) > 0 {
		ss.recordMetrics(ps.meta, now.UnixMilli())
	}
	return out
}

// rateLimited: PUBACK 0x97, a v5 notice 150 per device, then the whole
// gateway connection closes (as ThingsBoard does). Called with s.mu held.
func (s *Server) rateLimited(ss *session, names [][]byte) outcome {
	out := outcome{ack: true, reason: rcQuotaExceeded, close: true, discode: rcQuotaExceeded}
	if ss.v5 {
		for _, n := range names {
			out.send = append(out.send, outbound{ss: ss, topic: topicGwDisconnect,
				payload: marshal(map[string]any{"device": string(n), "reason": 150}), qos: 1})
		}
	}
	s.log.Info("rate limit exceeded, closing gateway connection", "gateway", ss.name())
	return out
}

// gatewayObject validates a gateway payload: class A when not JSON, class B
// when not an object.
func gatewayObject(payload []byte) (map[string]json.RawMessage, errClass) {
	if !validJSON(payload) {
		return nil, classA
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return nil, classB
	}
	return m, classNone
}

func classOutcome(ss *session, c errClass) outcome {
	if c == classA {
		return outcomeA(ss)
	}
	return outcomeB()
}

func isObject(r json.RawMessage) bool {
	sc := scanner{b: r}
	return sc.peek() == '{'
}

// gatewayAttributes: {"A":{"k":v},...}; entries that are not objects are
// dropped, and if all are the message is class B.
func (s *Server) gatewayAttributes(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	kept := 0
	for name, raw := range m {
		if name == "" {
			return outcomeB()
		}
		if isObject(raw) {
			kept++
		}
	}
	if kept == 0 {
		return outcomeB()
	}
	out := ackOK()
	ps := &ss.scratch
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if !ss.limits.allow(now, 1, 0, 0) {
		return s.rateLimited(ss, nil)
	}
	for name, raw := range m {
		if !isObject(raw) {
			s.log.Warn("gateway attributes entry is not an object; dropped", "gateway", ss.name(), "device", name)
			continue
		}
		if !ss.subLimits[name].allow(now, 1, 0, 0) {
			return s.rateLimited(ss, [][]byte{[]byte(name)})
		}
		d := s.subDevice(ss, name, "", now, &out)
		d.lastActivity = now
		ps.reset()
		sc := scanner{b: raw}
		ps.kvObject(&sc, 0, false)
		if ps.tooLong(0) {
			s.log.Warn("gateway attributes entry holds a string longer than the limit; dropped", "gateway", ss.name(), "device", name)
			out = outcomeC(ss)
			continue
		}
		for _, p := range ps.pts {
			d.attrs[0][string(p.key)] = p.v.toValue()
		}
	}
	return out
}

func (s *Server) gatewayConnect(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	name, ok := stringField(m, "device")
	if !ok || name == "" {
		return outcomeB()
	}
	typ, _ := stringField(m, "type")
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if !ss.limits.allow(now, 1+s.newDevices([]byte(name)), 0, 0) {
		return s.rateLimited(ss, [][]byte{[]byte(name)})
	}
	d := s.subDevice(ss, name, typ, now, &out)
	d.lastActivity = now
	return out
}

func (s *Server) gatewayDisconnect(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	name, ok := stringField(m, "device")
	if !ok || name == "" {
		return outcomeB()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if d := ss.subDevs[name]; d != nil {
		delete(ss.subDevs, name)
		delete(ss.subLimits, name)
		if d.owner == ss {
			d.owner = nil
			d.lastDisconnect = now
		}
	}
	return ackOK()
}

func (s *Server) gatewayClaim(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	kept := 0
	for name, raw := range m {
		if name == "" || !isObject(raw) {
			continue
		}
		kept++
		d := s.subDevice(ss, name, "", now, &out)
		d.lastActivity = now
		d.claim = append(json.RawMessage(nil), raw...)
	}
	if kept == 0 {
		return outcomeB()
	}
	return out
}

// gatewayRPCReply: {"device":"A","id":0,"data":{...}}; all three required.
// A stale id is ignored but acknowledged.
func (s *Server) gatewayRPCReply(ss *session, payload []byte, now time.Time) outcome {
	m, c := gatewayObject(payload)
	if c != classNone {
		return classOutcome(ss, c)
	}
	name, ok := stringField(m, "device")
	id, okID := intField(m, "id")
	data, okData := m["data"]
	if !ok || name == "" || !okID || !okData {
		return outcomeB()
	}
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	d := s.subDevice(ss, name, "", now, &out)
	d.lastActivity = now
	s.completeRPC(d, id, append(json.RawMessage(nil), data...))
	return out
}

func stringField(m map[string]json.RawMessage, k string) (string, bool) {
	raw, ok := m[k]
	if !ok {
		return "", false
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	return v, true
}

func intField(m map[string]json.RawMessage, k string) (int, bool) {
	raw, ok := m[k]
	if !ok {
		return 0, false
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false
	}
	return v, true
}

func boolField(m map[string]json.RawMessage, k string) (bool, bool) {
	raw, ok := m[k]
	if !ok {
		return false, false
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false
	}
	return v, true
}
