package tbemu

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

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
