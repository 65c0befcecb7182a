package tbemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer starts an emulator with a gateway "gw" (token "gwtoken") and
// a plain device "dev" (token "devtoken").
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	for _, d := range []DeviceSpec{
		{Name: "gw", Gateway: true, Token: "gwtoken"},
		{Name: "dev", Token: "devtoken"},
	} {
		if err := s.AddDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func waitFor(t testing.TB, s *Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// versions runs f for MQTT 3.1.1 and 5.
func versions(t *testing.T, f func(t *testing.T, v byte)) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { f(t, v) })
	}
}

func connectGateway(t *testing.T, s *Server, v byte) *rawClient {
	t.Helper()
	c, ack := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "gwtoken"})
	if ack.ReasonCode != 0 {
		t.Fatalf("connack 0x%02x", ack.ReasonCode)
	}
	waitFor(t, s, "gw connected", func() bool { d, _ := s.Device("gw"); return d.Connected })
	return c
}

func TestGatewayTelemetryStored(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		ack := c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":1000,"values":{"t":21.5,"n":3,"b":true,"s":"x","j":{"a":1}}},{"ts":2000,"values":{"t":"22"}}],"B":[{"k":1}]}`))
		if ack.ReasonCode != 0 {
			t.Fatalf("puback 0x%02x", ack.ReasonCode)
		}
		got := s.Telemetry("A", "t")
		want := []TSValue{{1000, 21.5}, {2000, int64(22)}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("A/t = %#v, want %#v", got, want)
		}
		l := s.Latest("A")
		if l["n"].Value != int64(3) || l["b"].Value != true || l["s"].Value != "x" || string(l["j"].Value.(json.RawMessage)) != `{"a":1}` {
			t.Fatalf("latest A = %#v", l)
		}
		if b := s.Latest("B"); b["k"].Value != int64(1) || b["k"].TS == 0 {
			t.Fatalf("latest B = %#v", b)
		}
		d, ok := s.Device("A")
		if !ok || d.Type != "default" || !d.Connected || d.LastGateway != "gw" {
			t.Fatalf("device A = %+v", d)
		}
		if n := s.MessageCount(); n != 1 {
			t.Fatalf("message count %d", n)
		}
		if m := s.Messages()[0]; m.Device != "gw" || m.Topic != topicGwTelemetry || m.QoS != 1 {
			t.Fatalf("message %+v", m)
		}
		_ = packets.Puback
	})
}

func TestSharedAttributesPushedToGatewayWithoutSubscription(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		c.puback(topicGwConnect, []byte(`{"device":"A","type":"thermostat"}`))
		if err := s.SetSharedAttributes("A", map[string]any{"target": 21.0, "mode": "eco"}); err != nil {
			t.Fatal(err)
		}
		p := c.expect(isPublish(topicGwAttributes))
		if got, want := string(p.Payload), `{"device":"A","data":{"mode":"eco","target":21.0}}`; got != want {
			t.Fatalf("push %s, want %s", got, want)
		}
		if err := s.DeleteSharedAttributes("A", "mode"); err != nil {
			t.Fatal(err)
		}
		p = c.expect(isPublish(topicGwAttributes))
		if got, want := string(p.Payload), `{"device":"A","data":{"deleted":["mode"]}}`; got != want {
			t.Fatalf("push %s, want %s", got, want)
		}
		if a := s.Attributes("A", ScopeShared); !reflect.DeepEqual(a, map[string]any{"target": 21.0}) {
			t.Fatalf("shared = %v", a)
		}
		if d, _ := s.Device("A"); d.Type != "thermostat" {
			t.Fatalf("type %q", d.Type)
		}
	})
}

func TestDeviceAttributesPushOnlyWhenSubscribed(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c, _ := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "devtoken"})
		if err := s.SetSharedAttributes("dev", map[string]any{"a": 1}); err != nil {
			t.Fatal(err)
		}
		if seen := c.sync(); len(seen) != 0 {
			t.Fatalf("pushed without subscription: %v", types(seen))
		}
		c.subscribe(topicAttributes)
		if err := s.SetSharedAttributes("dev", map[string]any{"b": "x"}); err != nil {
			t.Fatal(err)
		}
		if p := c.expect(isPublish(topicAttributes)); string(p.Payload) != `{"b":"x"}` {
			t.Fatalf("push %s", p.Payload)
		}
	})
}

func TestGatewayAttributeRequest(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	c.puback(topicGwAttributes, []byte(`{"A":{"c1":1,"c2":"two"}}`))
	if err := s.SetSharedAttributes("A", map[string]any{"s1": true, "s2": 2.5}); err != nil {
		t.Fatal(err)
	}
	c.expect(isPublish(topicGwAttributes))
	for _, tc := range []struct{ req, want string }{
		{`{"id":1,"device":"A","client":true,"key":"c1"}`, `{"id":1,"device":"A","value":1}`},
		{`{"id":2,"device":"A","client":false,"keys":["s1"]}`, `{"id":2,"device":"A","value":true}`},
		{`{"id":3,"device":"A","client":false,"keys":["s1","s2","nope"]}`, `{"id":3,"device":"A","values":{"s1":true,"s2":2.5}}`},
		{`{"id":4,"device":"A","client":true,"key":"nope"}`, `{"id":4,"device":"A"}`},
		{`{"id":5,"device":"A","client":true,"keys":["nope","nada"]}`, `{"id":5,"device":"A"}`},
	} {
		if ack := c.puback(topicGwAttrRequest, []byte(tc.req)); ack.ReasonCode != 0 {
			t.Fatalf("%s: puback 0x%02x", tc.req, ack.ReasonCode)
		}
		if p := c.expect(isPublish(topicGwAttrResponse)); string(p.Payload) != tc.want {
			t.Fatalf("%s: response %s, want %s", tc.req, p.Payload, tc.want)
		}
	}
}

func TestDeviceAttributeRequest(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c, _ := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "devtoken"})
		c.puback(topicAttributes, []byte(`{"fw":"1.0","n":"5"}`))
		if err := s.SetSharedAttributes("dev", map[string]any{"interval": 10}); err != nil {
			t.Fatal(err)
		}
		if a := s.Attributes("dev", ScopeClient); !reflect.DeepEqual(a, map[string]any{"fw": 1.0, "n": int64(5)}) {
			t.Fatalf("client attrs %v", a)
		}
		for i, tc := range []struct{ req, want string }{
			{`{"clientKeys":"fw","sharedKeys":"interval"}`, `{"client":{"fw":1.0},"shared":{"interval":10}}`},
			{`{"sharedKeys":"interval,nope"}`, `{"shared":{"interval":10}}`},
			{`{}`, `{"client":{"fw":1.0,"n":5},"shared":{"interval":10}}`},
		} {
			topic := fmt.Sprintf("%s%d", topicAttrRequestPfx, i)
			c.puback(topic, []byte(tc.req))
			p := c.expect(isPublish(fmt.Sprintf("%s%d", topicAttrResponsePfx, i)))
			if string(p.Payload) != tc.want {
				t.Fatalf("%s: %s, want %s", tc.req, p.Payload, tc.want)
			}
		}
	})
}

func TestRPCToSubDevice(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		c.puback(topicGwConnect, []byte(`{"device":"A"}`))
		for id := 0; id < 2; id++ {
			type result struct {
				r   json.RawMessage
				err error
			}
			done := make(chan result, 1)
			go func() {
				r, err := s.RPC(context.Background(), "A", "setTemp", json.RawMessage(`{"v":1}`), false, waitBound)
				done <- result{r, err}
			}()
			p := c.expect(isPublish(topicGwRPC))
			want := fmt.Sprintf(`{"device":"A","data":{"id":%d,"method":"setTemp","params":{"v":1}}}`, id)
			if string(p.Payload) != want {
				t.Fatalf("rpc %s, want %s", p.Payload, want)
			}
			c.puback(topicGwRPC, fmt.Appendf(nil, `{"device":"A","id":%d,"data":{"ok":%d}}`, id, id))
			res := <-done
			if res.err != nil || string(res.r) != fmt.Sprintf(`{"ok":%d}`, id) {
				t.Fatalf("rpc result %s, %v", res.r, res.err)
			}
		}
	})
}

func TestRPCPendingResentWhenSubSessionOpens(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	c.puback(topicGwConnect, []byte(`{"device":"A"}`))
	c.puback(topicGwDisconnect, []byte(`{"device":"A"}`))
	waitFor(t, s, "A disconnected", func() bool { d, _ := s.Device("A"); return !d.Connected })
	done := make(chan error, 1)
	go func() {
		_, err := s.RPC(context.Background(), "A", "m", nil, false, waitBound)
		done <- err
	}()
	waitFor(t, s, "pending rpc", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.devices["A"].pending) == 1
	})
	c.puback(topicGwTelemetry, []byte(`{"A":[{"x":1}]}`))
	p := c.expect(isPublish(topicGwRPC))
	if string(p.Payload) != `{"device":"A","data":{"id":0,"method":"m","params":{}}}` {
		t.Fatalf("rpc %s", p.Payload)
	}
	c.puback(topicGwRPC, []byte(`{"device":"A","id":0,"data":"done"}`))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRPCTimeouts(t *testing.T) {
	s := startServer(t, Options{})
	if _, err := s.RPC(context.Background(), "dev", "m", nil, false, 50*time.Millisecond); !errors.Is(err, ErrNoActiveConnection) {
		t.Fatalf("offline device: %v", err)
	}
	c := connectGateway(t, s, 5)
	c.puback(topicGwConnect, []byte(`{"device":"A"}`))
	if _, err := s.RPC(context.Background(), "A", "m", nil, false, 50*time.Millisecond); !errors.Is(err, ErrRPCTimeout) {
		t.Fatalf("unanswered: %v", err)
	}
	if _, err := s.RPC(context.Background(), "A", "m", nil, true, time.Second); err != nil {
		t.Fatalf("one-way: %v", err)
	}
	if _, err := s.RPC(context.Background(), "nope", "m", nil, true, time.Second); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestGetSessionLimits(t *testing.T) {
	s := startServer(t, Options{})
	s.SetRateLimits(RateLimits{Messages: "100:1", TelemetryMessages: "50:1", TelemetryDataPoints: "1000:1"},
		RateLimits{Messages: "10:1,300:60"})
	for _, tc := range []struct{ token, want string }{
		{"gwtoken", `{"gatewayRateLimits":{"messages":"10:1,300:60","telemetryMessages":"","telemetryDataPoints":""},"maxInflightMessages":100,"maxPayloadSize":65536,"rateLimits":{"messages":"100:1","telemetryMessages":"50:1","telemetryDataPoints":"1000:1"}}`},
		{"devtoken", `{"maxInflightMessages":100,"maxPayloadSize":65536,"rateLimits":{"messages":"","telemetryMessages":"","telemetryDataPoints":""}}`},
	} {
		c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: tc.token})
		c.subscribe(topicRPCResponseSub)
		c.puback(topicRPCRequestPfx+"7", []byte(`{"method":"getSessionLimits","params":{"timeout":5000}}`))
		if p := c.expect(isPublish(topicRPCResponsePfx + "7")); string(p.Payload) != tc.want {
			t.Fatalf("%s: %s", tc.token, p.Payload)
		}
	}
}

func TestRefuseAndDropConnections(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		s.DropConnections()
		c.expectClosed()
		waitFor(t, s, "gw disconnected", func() bool { d, _ := s.Device("gw"); return !d.Connected })
		s.RefuseConnections(time.Hour)
		want := byte(0x03)
		if v == 5 {
			want = 0x88
		}
		c2, ack := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "gwtoken"})
		if ack.ReasonCode != want {
			t.Fatalf("connack 0x%02x, want 0x%02x", ack.ReasonCode, want)
		}
		c2.expectClosed()
		s.RefuseConnections(0)
		connectGateway(t, s, v)
	})
}
