package tbemu

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// pahoGateway connects a paho.golang MQTT 5 client as the gateway; received
// publishes arrive on the returned channel.
func pahoGateway(t *testing.T, s *Server) (*paho.Client, chan *paho.Publish) {
	t.Helper()
	conn, err := net.Dial("tcp", s.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *paho.Publish, 100)
	c := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			in <- r.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{KeepAlive: 60, CleanStart: true, Username: "gwtoken", UsernameFlag: true})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect: %v %+v", err, ack)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, in
}

func TestPahoGatewayFlow(t *testing.T) {
	s := startServer(t, Options{})
	c, in := pahoGateway(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	sub, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: topicGwRPC, QoS: 1}, {Topic: topicGwAttributes, QoS: 1}, {Topic: "#", QoS: 1},
	}})
	if sub == nil || len(sub.Reasons) != 3 || sub.Reasons[0] != 1 || sub.Reasons[2] != 0x8F { // paho reports the refused "#" as an error
		t.Fatalf("suback %v %+v", err, sub)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topicGwTelemetry, QoS: 1,
		Payload: []byte(`{"Dev 1":[{"ts":1700000000000,"values":{"temp":20.5}}]}`)}); err != nil {
		t.Fatal(err)
	}
	if got := s.Telemetry("Dev 1", "temp"); len(got) != 1 || got[0].Value != 20.5 {
		t.Fatalf("telemetry %v", got)
	}
	// A malformed payload surfaces as a PUBACK error (0x99) and the session stays.
	if r, err := c.Publish(ctx, &paho.Publish{Topic: topicGwTelemetry, QoS: 1, Payload: []byte(`{`)}); err == nil || r.ReasonCode != 0x99 {
		t.Fatalf("bad payload: %v %+v", err, r)
	}
	replied := make(chan struct{})
	go func() {
		defer close(replied)
		p := <-in
		var req struct {
			Device string
			Data   struct{ ID int }
		}
		if err := json.Unmarshal(p.Payload, &req); err != nil || p.Topic != topicGwRPC {
			t.Errorf("rpc request %s %s", p.Topic, p.Payload)
			return
		}
		reply, _ := json.Marshal(map[string]any{"device": req.Device, "id": req.Data.ID, "data": map[string]bool{"ok": true}})
		if _, err := c.Publish(ctx, &paho.Publish{Topic: topicGwRPC, QoS: 1, Payload: reply}); err != nil {
			t.Error(err)
		}
	}()
	r, err := s.RPC(ctx, "Dev 1", "reboot", nil, false, waitBound)
	if err != nil || string(r) != `{"ok":true}` {
		t.Fatalf("rpc %s %v", r, err)
	}
	<-replied
}
