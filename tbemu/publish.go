package tbemu

import (
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Reason codes used in PUBACKs and DISCONNECTs (MQTT 5).
const (
	rcSuccess       byte = 0x00
	rcUnspecified   byte = 0x80
	rcImplSpecific  byte = 0x83
	rcTopicInvalid  byte = 0x90
	rcQuotaExceeded byte = 0x97
	rcPayloadFormat byte = 0x99
)

// outbound is a server-to-client publish, written to its session only.
type outbound struct {
	ss      *session
	topic   string
	payload []byte
	qos     byte
}

// outcome is what ThingsBoard does after handling one publish.
type outcome struct {
	ack     bool // write a PUBACK (for QoS > 0)
	reason  byte // its reason code (v5 only on the wire)
	close   bool // close the connection afterwards
	discode byte // v5 DISCONNECT code sent before closing; 0 = none
	send    []outbound
	evict   []*session // sessions taken over by this message's devices
}

func ackOK() outcome { return outcome{ack: true} }

// outcomeA: class A, payload not valid JSON (as ThingsBoard does).
func outcomeA(ss *session) outcome {
	if ss.v5 {
		return outcome{ack: true, reason: rcPayloadFormat}
	}
	return outcome{close: true}
}

// outcomeB: class B, wrong structure; PUBACK 0x83 and the connection closes.
func outcomeB() outcome {
	return outcome{ack: true, reason: rcImplSpecific, close: true, discode: rcImplSpecific}
}

// outcomeC: class C, a bad value in one device's data.
func outcomeC(ss *session) outcome { return outcomeA(ss) }

func unknownTopic() outcome { return outcome{ack: true, reason: rcTopicInvalid} }

// handlePublish runs on the client's read goroutine, so one connection's
// publishes are handled in arrival order.
func (s *Server) handlePublish(cl *mqtt.Client, pk packets.Packet) {
	s.mu.Lock()
	ss := s.sessions[cl]
	drop := ss != nil && s.dropPubs
	if drop {
		s.dropped++
	}
	s.mu.Unlock()
	if ss == nil {
		return
	}
	if drop {
		s.notify()
		return
	}
	var out outcome
	switch {
	case ss.provision:
		out = s.handleProvision(ss, pk)
	case strings.HasPrefix(pk.TopicName, topicGwPrefix):
		if !ss.gateway {
			s.log.Warn("gateway topic from a device that is not a gateway; dropped without PUBACK",
				"device", ss.name(), "topic", pk.TopicName)
			out = outcome{reason: rcUnspecified}
		} else {
			out = s.handleGateway(ss, pk)
		}
	default:
		out = s.handleDevice(ss, pk)
	}

	s.mu.Lock()
	s.msgs.add(Message{Time: time.Now(), Device: ss.name(), Topic: pk.TopicName, Payload: pk.Payload,
		QoS: pk.FixedHeader.Qos, Reason: out.reason})
	delay, withhold := s.ackDelay, s.withhold
	s.mu.Unlock()
	s.notify()

	ack := out.ack && pk.FixedHeader.Qos > 0 && !withhold
	switch {
	case delay > 0:
		s.after(delay, func() { s.finish(ss, pk.PacketID, ack, out) })
	case ss.acks != nil && len(out.send) == 0 && len(out.evict) == 0 && !out.close:
		// The common case: batched, written before the next read.
		if ack {
			ss.acks.queueAck(pk.PacketID, out.reason, ss.v5)
		}
	default:
		if ss.acks != nil {
			ss.acks.flushAcks() // keep the order of this connection's packets
		}
		s.finish(ss, pk.PacketID, ack, out)
	}
}

// finish writes the PUBACK, then the responses, then closes if needed.
func (s *Server) finish(ss *session, id uint16, ack bool, out outcome) {
	if ack {
		_ = ss.cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Puback},
			PacketID:    id,
			ReasonCode:  out.reason,
		})
	}
	for _, o := range out.send {
		s.write(o)
	}
	for _, e := range out.evict {
		s.closeSession(e, packets.ErrSessionTakenOver.Code)
	}
	if out.close {
		s.closeSession(ss, out.discode)
	}
}

// write sends one publish to its session's connection only.
func (s *Server) write(o outbound) {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: o.qos},
		TopicName:   o.topic,
		Payload:     o.payload,
	}
	if o.qos > 0 {
		pk.PacketID = o.ss.nextPacketID()
	}
	if err := o.ss.cl.WritePacket(pk); err != nil {
		s.log.Debug("write to client failed", "device", o.ss.name(), "topic", o.topic, "error", err)
	}
}

// qosFor is the QoS ThingsBoard publishes with: the subscription's, or 1.
// Called with s.mu held.
func (ss *session) qosFor(filter string) byte {
	if q, ok := ss.subs[filter]; ok {
		return q
	}
	return 1
}

func (ss *session) subscribed(filter string) bool {
	_, ok := ss.subs[filter]
	return ok
}
