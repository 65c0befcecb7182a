package mqtt_test

import (
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
)

var restartMessages = flag.Int("mqtt.restart-messages", 3000, "messages published by TestBrokerRestartUnderLoad")

// TestBrokerRestartUnderLoad restarts mosquitto while a device publishes as fast as it can. The connector uses
// a persistent session and the gateway durable file storage, so every message the broker acknowledged to the
// device must reach ThingsBoard: "no message acked to the broker is missing at tbemu".
func TestBrokerRestartUnderLoad(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) { testBrokerRestart(t, version) })
	}
}

func testBrokerRestart(t *testing.T, version int) {
	conf := map[string]any{
		"broker": map[string]any{"version": version, "clientId": fmt.Sprintf("gw-load-v%d", version),
			"cleanSession": false, "cleanStart": false, "sessionExpiryInterval": 3600},
		"mapping": []any{map[string]any{"topicFilter": "load/+", "subscriptionQos": 1, "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "constant", "deviceNameExpression": "LOAD"},
			"timeseries": []any{map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
		}}},
	}
	e := newEnv(t, probeType, conf)
	n := *restartMessages
	acked := make([]bool, n+1)
	restarted := make(chan error, 1)

	// The publisher retries each message until the broker acknowledges it, reconnecting as needed.
	connect := func() paho3.Client {
		for {
			c := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + e.b.addr()).SetClientID("load-publisher").
				SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(2 * time.Second))
			if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				return c
			}
			select {
			case <-e.ctx.Done():
				t.Fatalf("publisher cannot reconnect: %v", e.ctx.Err())
			case <-time.After(20 * time.Millisecond): // mosquitto is restarting; retry
			}
		}
	}
	pub := connect()
	for seq := 1; seq <= n; {
		tok := pub.Publish("load/"+strconv.Itoa(seq%7), 1, false, fmt.Sprintf(`{"seq":%d}`, seq))
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			acked[seq] = true
			if seq == n/3 { // restart the broker while the device keeps publishing
				go func() { restarted <- e.b.restart() }()
			}
			seq++
			continue
		}
		pub.Disconnect(0)
		pub = connect()
	}
	pub.Disconnect(100)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}

	e.waitFor("every acknowledged message at tbemu", func() bool {
		seen := map[int64]bool{}
		for _, p := range e.emu.Telemetry("LOAD", "seq") {
			if v, ok := p.Value.(int64); ok {
				seen[v] = true
			}
		}
		for seq := 1; seq <= n; seq++ {
			if acked[seq] && !seen[int64(seq)] {
				return false
			}
		}
		return true
	})
	points := len(e.emu.Telemetry("LOAD", "seq"))
	st := e.stats()
	if st.Connects < 2 {
		t.Errorf("the connector connected %d times, want a reconnect", st.Connects)
	}
	t.Logf("%d messages acked by the broker, %d points at tbemu (%d repeats), %d connects", n, points, points-n, st.Connects)
}

// TestGatewayDownPersistentSession stops the whole gateway, publishes while it is down, and starts it again:
// with a persistent session the broker kept every message for the gateway's clientId, so all of them arrive.
func TestGatewayDownPersistentSession(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) {
			conf := map[string]any{
				"broker": map[string]any{"version": version, "clientId": fmt.Sprintf("gw-down-v%d", version),
					"cleanSession": false, "cleanStart": false, "sessionExpiryInterval": 3600},
				"mapping": []any{map[string]any{"topicFilter": "down/+", "converter": map[string]any{
					"type":       "json",
					"deviceInfo": map[string]any{"deviceNameExpressionSource": "constant", "deviceNameExpression": "DOWN"},
					"timeseries": []any{map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
				}}},
			}
			e := newEnv(t, probeType, conf)
			dev := newDevice(t, e.b, "down-device")
			dev.publish("down/1", map[string]any{"seq": 0})
			e.waitFor("the first message", func() bool { return len(e.emu.Telemetry("DOWN", "seq")) == 1 })
			const n = 200
			e.restartGateway(probeType, conf, func() {
				for i := 1; i <= n; i++ {
					dev.publish("down/1", map[string]any{"seq": i})
				}
			})
			// Wait for every sequence number, not for a count: a message in flight at the stop may arrive twice,
			// and a count would then be reached before the last message.
			e.waitFor("every message published while the gateway was down", func() bool {
				seen := map[int64]bool{}
				for _, p := range e.emu.Telemetry("DOWN", "seq") {
					if v, ok := p.Value.(int64); ok {
						seen[v] = true
					}
				}
				return len(seen) == n+1
			})
			// Order is kept; only a message in flight at the stop may repeat.
			prev, seen := int64(-1), map[int64]bool{}
			for _, p := range e.emu.Telemetry("DOWN", "seq") {
				v, _ := p.Value.(int64)
				if v < prev {
					t.Fatalf("seq %d after %d: order not kept", v, prev)
				}
				prev, seen[v] = v, true
			}
			for i := int64(0); i <= n; i++ {
				if !seen[i] {
					t.Fatalf("seq %d is missing", i)
				}
			}
		})
	}
}
