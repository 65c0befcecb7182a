package mqtt_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// rpcConfig is a connector with one device mapping ("plant/data", device named by "name") and a two-way rule
// "ask" whose request and response topics carry the device name and the request id.
func rpcConfig(version int, clientID string) map[string]any {
	return map[string]any{
		"broker": map[string]any{"version": version, "clientId": clientID},
		"mapping": []any{map[string]any{"topicFilter": "plant/data", "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "message", "deviceNameExpression": "${name}"},
			"timeseries": []any{map[string]any{"key": "t", "type": "int", "value": "${t}"}},
		}}},
		"requestsMapping": map[string]any{"serverSideRpc": []any{map[string]any{
			"deviceNameFilter": ".*", "methodFilter": "^ask$", "qos": 1, "responseTimeout": 30000,
			"requestTopicExpression":  "plant/${deviceName}/ask/${requestId}",
			"responseTopicExpression": "plant/${deviceName}/answer/${requestId}", "valueExpression": "${params}"}}},
	}
}

// TestConnectorRPCE2E: ThingsBoard's RPC "mqtt_<method>" to the gateway carries its rule in its params, as in
// the Python gateway: one-way (publish, {"success": true}) and two-way (the device's answer on the response
// topic is the reply); params that are not a rule are an error reply naming them.
func TestConnectorRPCE2E(t *testing.T) {
	e := newEnv(t, mqtt.Type, rpcConfig(4, "gw-connrpc")) // the real type: the method prefix is "mqtt_"
	dev := newDevice(t, e.b, "device-connrpc", "cmd/#")

	reply, err := e.emu.RPC(e.ctx, gwtest.GatewayName, "mqtt_write", json.RawMessage(
		`{"requestTopicExpression": "cmd/${params.pump}/level", "valueExpression": "${params.level}", "qos": 1, "pump": "P1", "level": 5}`),
		false, 30*time.Second)
	if err != nil || string(reply) != `{"success":true}` {
		t.Fatalf("one-way connector rpc: %s, %v", reply, err)
	}
	if m := dev.next(e.ctx); m.Topic() != "cmd/P1/level" || string(m.Payload()) != "5" {
		t.Fatalf("one-way connector rpc published %q %s", m.Topic(), m.Payload())
	}

	// The "value" key stands for valueExpression, as in the reserved get/set methods.
	type result struct {
		reply json.RawMessage
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.emu.RPC(e.ctx, gwtest.GatewayName, "mqtt_ask", json.RawMessage(
			`{"requestTopicExpression": "cmd/${methodName}/${requestId}", "responseTopicExpression": "answer/${requestId}",
			  "responseTimeout": 30000, "value": "{\"q\": 1}", "qos": 1}`), false, 60*time.Second)
		done <- result{r, err}
	}()
	m := dev.next(e.ctx)
	id, ok := strings.CutPrefix(m.Topic(), "cmd/ask/")
	if !ok || string(m.Payload()) != `{"q": 1}` {
		t.Fatalf("two-way connector rpc published %q %s", m.Topic(), m.Payload())
	}
	dev.publish("answer/"+id, `{"a":42}`)
	r := <-done
	if r.err != nil || string(r.reply) != `{"a":42}` {
		t.Fatalf("two-way connector rpc: %s, %v", r.reply, r.err)
	}

	reply, err = e.emu.RPC(e.ctx, gwtest.GatewayName, "mqtt_write", json.RawMessage(`{"valueExpression": "1"}`), false, 30*time.Second)
	if err != nil || !strings.Contains(string(reply), "requestTopicExpression") {
		t.Fatalf("connector rpc without requestTopicExpression: %s, %v (want an error naming the key)", reply, err)
	}
}

// TestRPCAcrossBrokerRestartE2E: a two-way RPC whose request reached the device is still answered when the
// broker restarts before the device replies: the connector subscribes the waiting call's response topic again
// on the new connection (a clean session, so the broker forgot it), and ThingsBoard gets the device's reply.
func TestRPCAcrossBrokerRestartE2E(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) {
			e := newEnv(t, probeType, rpcConfig(version, fmt.Sprintf("gw-rpcrestart-v%d", version)))
			dev := newDevice(t, e.b, "device-rpcrestart", "plant/+/ask/+")
			dev.publish("plant/data", map[string]any{"name": "Pump-1", "t": 1})
			e.waitFor("Pump-1 telemetry", func() bool { return e.emu.Latest("Pump-1")["t"].Value == int64(1) })
			e.waitKnown("Pump-1")

			type result struct {
				reply json.RawMessage
				err   error
			}
			done := make(chan result, 1)
			go func() {
				r, err := e.emu.RPC(e.ctx, "Pump-1", "ask", json.RawMessage(`{"x":1}`), false, 90*time.Second)
				done <- result{r, err}
			}()
			var m paho3.Message
			select { // the request is out: the gateway waits on the response topic
			case m = <-dev.got:
			case r := <-done:
				t.Fatalf("the rpc ended before the device got its request: %s, %v", r.reply, r.err)
			case <-e.ctx.Done():
				t.Fatalf("the device got no request: %v", e.ctx.Err())
			}
			id, ok := strings.CutPrefix(m.Topic(), "plant/Pump-1/ask/")
			if !ok {
				t.Fatalf("request published on %q", m.Topic())
			}

			e.log.reset()
			if err := e.b.restart(); err != nil {
				t.Fatal(err)
			}
			// The connector logs this once every subscription of the new connection is in place.
			e.gw.WaitLog(e.ctx, "connected to the broker")
			replier := newDevice(t, e.b, "device-rpcrestart-2")
			replier.publish("plant/Pump-1/answer/"+id, `{"answer":42}`)

			r := <-done
			if r.err != nil || string(r.reply) != `{"answer":42}` {
				t.Fatalf("rpc across the broker restart: %s, %v (want the device's answer)", r.reply, r.err)
			}
		})
	}
}
