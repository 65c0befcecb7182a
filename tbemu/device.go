package tbemu

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// handleDevice handles the device API (as ThingsBoard does) for any device, including
// a gateway's own device.
func (s *Server) handleDevice(ss *session, pk packets.Packet) outcome {
	now := time.Now()
	t := trimShort(pk.TopicName)
	switch {
	case t == topicTelemetry || t == topicTelemetryV2:
		return s.deviceTelemetry(ss, pk.Payload, now)
	case t == topicAttributes || t == topicAttributesV2:
		return s.deviceAttributes(ss, pk.Payload, now)
	case strings.HasPrefix(t, topicAttrRequestPfx):
		return s.deviceAttrRequest(ss, t[len(topicAttrRequestPfx):], pk.Payload, false, now)
	case strings.HasPrefix(t, topicAttrRequestV2):
		return s.deviceAttrRequest(ss, t[len(topicAttrRequestV2):], pk.Payload, true, now)
	case strings.HasPrefix(t, topicRPCResponsePfx):
		return s.deviceRPCReply(ss, t[len(topicRPCResponsePfx):], pk.Payload, now)
	case strings.HasPrefix(t, topicRPCResponseV2):
		return s.deviceRPCReply(ss, t[len(topicRPCResponseV2):], pk.Payload, now)
	case strings.HasPrefix(t, topicRPCRequestPfx):
		return s.clientSideRPC(ss, t[len(topicRPCRequestPfx):], pk.Payload, false, now)
	case strings.HasPrefix(t, topicRPCRequestV2):
		return s.clientSideRPC(ss, t[len(topicRPCRequestV2):], pk.Payload, true, now)
	case t == topicClaim:
		return s.deviceClaim(ss, pk.Payload, now)
	}
	s.touch(ss, now)
	s.log.Info("publish to unknown topic dropped", "device", ss.name(), "topic", pk.TopicName)
	return unknownTopic()
}

// deviceLimited applies the device's own limits: when exceeded there is no
// PUBACK and the connection closes (v5 0x83). Called with s.mu held.
func deviceLimited(ss *session, now time.Time, telMsgs, pts int) (outcome, bool) {
	if ss.limits.allow(now, 1, telMsgs, pts) {
		return outcome{}, false
	}
	return outcome{reason: rcImplSpecific, close: true, discode: rcImplSpecific}, true
}

func (s *Server) deviceTelemetry(ss *session, payload []byte, now time.Time) outcome {
	ps := &ss.scratch
	if ps.deviceTelemetry(payload, now.UnixMilli()) != classNone {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if out, limited := deviceLimited(ss, now, 1, len(ps.pts)); limited {
		return out
	}
	s.storePoints(ss.dev, ps.pts)
	return ackOK()
}

func (s *Server) deviceAttributes(ss *session, payload []byte, now time.Time) outcome {
	ps := &ss.scratch
	ps.reset()
	sc := scanner{b: payload}
	if !validJSON(payload) || sc.peek() != '{' {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	ps.kvObject(&sc, 0, false)
	if ps.tooLong(0) {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if out, limited := deviceLimited(ss, now, 0, 0); limited {
		return out
	}
	for _, p := range ps.pts {
		ss.dev.attrs[0][string(p.key)] = p.v.toValue()
	}
	return ackOK()
}

func (s *Server) deviceClaim(ss *session, payload []byte, now time.Time) outcome {
	var claim json.RawMessage
	if len(payload) > 0 {
		if sc := (scanner{b: payload}); !validJSON(payload) || sc.peek() != '{' {
			s.touch(ss, now)
			return outcomeA(ss)
		}
		claim = append(claim, payload...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if out, limited := deviceLimited(ss, now, 0, 0); limited {
		return out
	}
	ss.dev.claim = claim
	return ackOK()
}

// deviceRPCReply passes the payload through as the reply to RPC id; a stale
// id is ignored.
func (s *Server) deviceRPCReply(ss *session, idText string, payload []byte, now time.Time) outcome {
	id, ok := decimalID(idText)
	if !ok {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if out, limited := deviceLimited(ss, now, 0, 0); limited {
		return out
	}
	s.completeRPC(ss.dev, id, append(json.RawMessage(nil), payload...))
	return ackOK()
}

// clientSideRPC answers getSessionLimits itself; other methods go to the
// installed handler or time out with {"error":"timeout"} (as ThingsBoard does).
func (s *Server) clientSideRPC(ss *session, idText string, payload []byte, v2 bool, now time.Time) outcome {
	id, ok := decimalID(idText)
	var req map[string]json.RawMessage
	if !ok || !validJSON(payload) || json.Unmarshal(payload, &req) != nil || req == nil {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	method, ok := stringField(req, "method")
	if !ok {
		s.touch(ss, now)
		return outcomeA(ss)
	}
	params := append(json.RawMessage(nil), req["params"]...)
	topic := topicRPCResponsePfx + strconv.Itoa(id)
	filter := topicRPCResponseSub
	if v2 {
		topic, filter = topicRPCResponseV2+strconv.Itoa(id), topicRPCResponseSubV2
	}
	out := ackOK()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.dev.lastActivity = now
	if o, limited := deviceLimited(ss, now, 0, 0); limited {
		return o
	}
	qos := ss.qosFor(filter)
	if method == "getSessionLimits" {
		out.send = append(out.send, outbound{ss: ss, topic: topic, payload: s.sessionLimits(ss), qos: qos})
		return out
	}
	h, name := s.clientRPC, ss.name()
	s.goBG(func() {
		reply := []byte(`{"error":"timeout"}`)
		if h != nil {
			if r, ok := h(name, method, params); ok {
				s.write(outbound{ss: ss, topic: topic, payload: r, qos: qos})
				return
			}
		}
		s.after(s.opts.ClientRPCTimeout, func() {
			s.write(outbound{ss: ss, topic: topic, payload: reply, qos: qos})
		})
	})
	return out
}
