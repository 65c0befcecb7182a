package tbemu

import (
	"bytes"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// expectation is what the client must see after one publish.
type expectation struct {
	ack    bool // a PUBACK arrives
	reason byte // its reason code (v5)
	closed bool // the server closes the connection
}

func TestBadInputTable(t *testing.T) {
	var (
		keptAck  = func(r byte) expectation { return expectation{ack: true, reason: r} }
		closeAck = func(r byte) expectation { return expectation{ack: true, reason: r, closed: true} }
		noAck    = expectation{}
		closeNo  = expectation{closed: true}
	)
	for _, tc := range []struct {
		name, token, topic, payload string
		v5, v3                      expectation
	}{
		{"A not json gateway telemetry", "gwtoken", topicGwTelemetry, `{"A":[`, keptAck(0x99), closeNo},
		{"A not json gateway attributes", "gwtoken", topicGwAttributes, `nope`, keptAck(0x99), closeNo},
		{"A not json device telemetry", "devtoken", topicTelemetry, `{"t":}`, keptAck(0x99), closeNo},
		{"A device telemetry wrong shape", "devtoken", topicTelemetry, `42`, keptAck(0x99), closeNo},
		{"A device attributes not object", "devtoken", topicAttributes, `[1]`, keptAck(0x99), closeNo},
		{"B top level not object", "gwtoken", topicGwTelemetry, `[{"A":[]}]`, closeAck(0x83), closeAck(0)},
		{"B telemetry entry not array", "gwtoken", topicGwTelemetry, `{"A":{"temp":1}}`, closeAck(0x83), closeAck(0)},
		{"B attributes entry not object", "gwtoken", topicGwAttributes, `{"A":[1]}`, closeAck(0x83), closeAck(0)},
		{"B empty device name", "gwtoken", topicGwTelemetry, `{"":[{"a":1}]}`, closeAck(0x83), closeAck(0)},
		{"B connect without device", "gwtoken", topicGwConnect, `{"type":"x"}`, closeAck(0x83), closeAck(0)},
		{"B connect empty device", "gwtoken", topicGwConnect, `{"device":""}`, closeAck(0x83), closeAck(0)},
		{"B disconnect without device", "gwtoken", topicGwDisconnect, `{}`, closeAck(0x83), closeAck(0)},
		{"B attribute request without id", "gwtoken", topicGwAttrRequest, `{"device":"A","client":true,"key":"k"}`, closeAck(0x83), closeAck(0)},
		{"B attribute request client not bool", "gwtoken", topicGwAttrRequest, `{"id":1,"device":"A","client":["k"],"key":"k"}`, closeAck(0x83), closeAck(0)},
		{"B rpc reply without data", "gwtoken", topicGwRPC, `{"device":"A","id":1}`, closeAck(0x83), closeAck(0)},
		{"C bad ts", "gwtoken", topicGwTelemetry, `{"A":[{"ts":"soon","values":{"x":1}}]}`, keptAck(0x99), closeNo},
		{"C entry not object", "gwtoken", topicGwTelemetry, `{"A":[5]}`, keptAck(0x99), closeNo},
		{"C metadata incomplete", "gwtoken", topicGwTelemetry, `{"A":[{"ts":1,"values":{"x":1},"metadata":{"connector":"c"}}]}`, keptAck(0x99), closeNo},
		{"unknown gateway topic", "gwtoken", "v1/gateway/metrics", `{}`, keptAck(0x90), keptAck(0)},
		{"unknown device topic", "devtoken", "v1/devices/me/nothing", `{}`, keptAck(0x90), keptAck(0)},
		{"gateway topic from plain device", "devtoken", topicGwTelemetry, `{"A":[{"x":1}]}`, noAck, noAck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			versions(t, func(t *testing.T, v byte) {
				want := tc.v3
				if v == 5 {
					want = tc.v5
				}
				s := startServer(t, Options{})
				c, ack := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: tc.token})
				if ack.ReasonCode != 0 {
					t.Fatalf("connack 0x%02x", ack.ReasonCode)
				}
				id := c.publish(tc.topic, []byte(tc.payload), 1)
				var seen []packets.Packet
				if want.closed {
					seen = c.expectClosed()
				} else {
					seen = c.sync()
				}
				var got *packets.Packet
				for i, p := range seen {
					if p.FixedHeader.Type == packets.Puback && p.PacketID == id {
						got = &seen[i]
					}
				}
				switch {
				case want.ack && got == nil:
					t.Fatalf("no PUBACK (seen %v)", types(seen))
				case !want.ack && got != nil:
					t.Fatalf("unexpected PUBACK 0x%02x", got.ReasonCode)
				case got != nil && got.ReasonCode != want.reason:
					t.Fatalf("PUBACK 0x%02x, want 0x%02x", got.ReasonCode, want.reason)
				}
				if n := s.MessageCount(); n != 1 {
					t.Fatalf("raw log count %d", n)
				}
			})
		})
	}
}

func TestClassCKeepsOtherDevicesData(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	ack := c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":"x","values":{"v":1}}],"B":[{"ts":5,"values":{"v":2}}]}`))
	if ack.ReasonCode != 0x99 {
		t.Fatalf("puback 0x%02x", ack.ReasonCode)
	}
	if got := s.Telemetry("A", "v"); len(got) != 0 {
		t.Fatalf("A stored %v", got)
	}
	if got := s.Telemetry("B", "v"); len(got) != 1 || got[0].TS != 5 {
		t.Fatalf("B stored %v", got)
	}
}

func TestOversizePacketClosesConnection(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{MaxPayloadSize: 1024})
		c := connectGateway(t, s, v)
		ok := c.puback(topicGwTelemetry, []byte(`{"A":[{"x":"`+string(bytes.Repeat([]byte{'a'}, 900))+`"}]}`))
		if ok.ReasonCode != 0 {
			t.Fatalf("puback 0x%02x", ok.ReasonCode)
		}
		c.publish(topicGwTelemetry, []byte(`{"A":[{"x":"`+string(bytes.Repeat([]byte{'a'}, 1100))+`"}]}`), 1)
		seen := c.expectClosed()
		if v == 5 {
			if len(seen) != 1 || seen[0].FixedHeader.Type != packets.Disconnect || seen[0].ReasonCode != 0x81 {
				t.Fatalf("want DISCONNECT 0x81, got %v", seen)
			}
		} else if len(seen) != 0 {
			t.Fatalf("v3 got packets %v", types(seen))
		}
	})
}

func TestSubscribeFilters(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		refused := byte(0x80)
		if v == 5 {
			refused = 0x8F
		}
		ack := c.subscribe(topicGwAttributes, "#", topicGwDisconnect, topicRPCRequestSub, "v1/devices/me/rpc/request/#", topicGwRPC)
		want := []byte{1, refused, refused, 1, refused, 1}
		if !bytes.Equal(ack.ReasonCodes, want) {
			t.Fatalf("suback % x, want % x", ack.ReasonCodes, want)
		}
		c.sync() // still connected
	})
}

// TestMaxStringValueLength: with ThingsBoard's JSON_MAX_STRING_VALUE_LENGTH set, a longer string is a bad value
// (class C): 0x99 under MQTT 5 with the other devices' data kept; a string at the limit is stored.
func TestMaxStringValueLength(t *testing.T) {
	s := startServer(t, Options{MaxStringValueLength: 4})
	c := connectGateway(t, s, 5)
	ack := c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":1,"values":{"s":"12345x"}}],"B":[{"ts":1,"values":{"s":"abcd"}}]}`))
	if ack.ReasonCode != 0x99 {
		t.Fatalf("telemetry with a long string: puback 0x%02x, want 0x99", ack.ReasonCode)
	}
	if got := s.Telemetry("A", "s"); len(got) != 0 {
		t.Fatalf("A stored %v", got)
	}
	if got := s.Telemetry("B", "s"); len(got) != 1 || got[0].Value != "abcd" {
		t.Fatalf("B: %v", got)
	}
	ack = c.puback(topicGwAttributes, []byte(`{"A":{"s":"toolong"},"B":{"s":"okay"}}`))
	if ack.ReasonCode != 0x99 {
		t.Fatalf("attributes with a long string: puback 0x%02x, want 0x99", ack.ReasonCode)
	}
	if got := s.Attributes("A", ScopeClient); len(got) != 0 {
		t.Fatalf("A attributes stored %v", got)
	}
	if got := s.Attributes("B", ScopeClient); got["s"] != "okay" {
		t.Fatalf("B attributes %v", got)
	}
}
