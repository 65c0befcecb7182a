package mqtt_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
)

// fullConfig is a connector configuration exercising every feature (in the new shape).
func fullConfig(version int) map[string]any {
	return map[string]any{
		"broker": map[string]any{"version": version, "clientId": fmt.Sprintf("gw-e2e-v%d", version), "keepAlive": 30},
		"mapping": []any{
			map[string]any{"topicFilter": "sensor/+/data", "subscriptionQos": 1, "converter": map[string]any{
				"type": "json",
				"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=sensor/)(.*?)(?=/data)",
					"deviceProfileExpressionSource": "constant", "deviceProfileExpression": "Thermometer"},
				"attributes": []any{map[string]any{"key": "model", "type": "string", "value": "${sensorModel}"}},
				"timeseries": []any{map[string]any{"key": "temperature", "type": "double", "value": "${temp}"},
					map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
			}},
			map[string]any{"topicFilter": "$share/gateways/shared/+/data", "converter": map[string]any{
				"type":       "json",
				"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=shared/)(.*?)(?=/data)"},
				"timeseries": []any{map[string]any{"key": "v", "type": "int", "value": "${v}"}},
			}},
			map[string]any{"topicFilter": "raw/data", "converter": map[string]any{
				"type":       "bytes",
				"deviceInfo": map[string]any{"deviceNameExpression": "[0:4]", "deviceProfileExpression": "default"},
				"timeseries": []any{map[string]any{"key": "level", "type": "int", "value": "[4:]"}},
			}},
		},
		"requestsMapping": map[string]any{
			"connectRequests": []any{map[string]any{"topicFilter": "sensor/+/connect", "deviceInfo": map[string]any{
				"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=sensor/)(.*?)(?=/connect)",
				"deviceProfileExpressionSource": "constant", "deviceProfileExpression": "Thermometer"}}},
			"disconnectRequests": []any{map[string]any{"topicFilter": "sensor/+/disconnect", "deviceInfo": map[string]any{
				"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=sensor/)(.*?)(?=/disconnect)"}}},
			"attributeRequests": []any{map[string]any{"topicFilter": "attr/request", "retain": false, "qos": 1,
				"deviceInfo":                    map[string]any{"deviceNameExpressionSource": "message", "deviceNameExpression": "${serialNumber}"},
				"attributeNameExpressionSource": "message", "attributeNameExpression": "${key}",
				"topicExpression": "devices/${deviceName}/attrs", "valueExpression": `{"${attributeKey}": ${attributeValue}}`}},
			"attributeUpdates": []any{map[string]any{"deviceNameFilter": ".*", "attributeFilter": "^fw", "qos": 1,
				"topicExpression": "sensor/${deviceName}/${attributeKey}", "valueExpression": `{"${attributeKey}":"${attributeValue}"}`}},
			"serverSideRpc": []any{
				map[string]any{"deviceNameFilter": ".*", "methodFilter": "echo", "responseTimeout": 20000, "qos": 1,
					"requestTopicExpression":  "sensor/${deviceName}/request/${methodName}/${requestId}",
					"responseTopicExpression": "sensor/${deviceName}/response/${methodName}/${requestId}", "valueExpression": "${params}"},
				map[string]any{"deviceNameFilter": ".*", "methodFilter": "silent", "responseTimeout": 300, "qos": 1,
					"requestTopicExpression":  "sensor/${deviceName}/request/${methodName}/${requestId}",
					"responseTopicExpression": "sensor/${deviceName}/response/${methodName}/${requestId}", "valueExpression": "${params}"},
				map[string]any{"deviceNameFilter": ".*", "methodFilter": "setRelay", "qos": 1,
					"requestTopicExpression": "sensor/${deviceName}/relay", "valueExpression": "${params.on}"},
			},
		},
	}
}

// TestE2E covers the uplink, bad payloads, device requests and the downlink against a real mosquitto, for
// MQTT 3.1 and 3.1.1 (paho.mqtt.golang) and MQTT 5 (paho.golang).
func TestE2E(t *testing.T) {
	for _, version := range []int{3, 4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) { testE2E(t, version) })
	}
}

func testE2E(t *testing.T, version int) {
	e := newEnv(t, probeType, fullConfig(version))
	dev := newDevice(t, e.b, "device-sim", "sensor/+/request/#", "sensor/+/relay", "sensor/+/fw", "devices/+/attrs")

	// Uplink: JSON with a lookbehind regex on the topic, attributes, typed telemetry.
	dev.publish("sensor/SN-1/data", map[string]any{"sensorModel": "T1000", "temp": "21.5", "seq": 1})
	e.waitFor("SN-1 telemetry", func() bool {
		l := e.emu.Latest("SN-1")
		return l["temperature"].Value == 21.5 && l["seq"].Value == int64(1)
	})
	e.waitFor("SN-1 attribute", func() bool { return e.emu.Attributes("SN-1", tbemu.ScopeClient)["model"] == "T1000" })
	if d, _ := e.emu.Device("SN-1"); d.Type != "Thermometer" {
		t.Errorf("SN-1 type %q, want Thermometer", d.Type)
	}

	// Bad payloads are logged with the topic and the reason (once, then at debug level), counted, skipped; the
	// connector goes on.
	dev.publish("sensor/SN-1/data", "not json")
	dev.publish("sensor/SN-1/data", map[string]any{"temp": "warm"})
	dev.publish("sensor/SN-1/data", map[string]any{"temp": 22, "seq": 2})
	e.waitFor("SN-1 after bad payloads", func() bool { return e.emu.Latest("SN-1")["seq"].Value == int64(2) })
	if got := e.stats().BadPayloads; got != 2 {
		t.Errorf("bad payloads counted %d, want 2", got)
	}
	if !e.log.contains(`msg="device fault"`, "topic=sensor/SN-1/data", "not JSON") ||
		!e.log.contains(`msg="device fault repeats"`, "topic=sensor/SN-1/data", `\"warm\" is not a number`) {
		t.Error("bad payloads were not logged with topic and reason")
	}

	// A shared subscription ($share/<group>/...) is subscribed as written and matched by its filter.
	dev.publish("shared/SH-1/data", map[string]any{"v": 5})
	e.waitFor("shared-subscription device", func() bool { return e.emu.Latest("SH-1")["v"].Value == int64(5) })

	// Bytes converter.
	dev.publish("raw/data", "AB1242")
	e.waitFor("bytes device", func() bool { return e.emu.Latest("AB12")["level"].Value == int64(42) })

	// Readings of one device without timestamps never collapse: every one is kept at its own ts.
	for i := 3; i <= 52; i++ {
		dev.publish("sensor/SN-1/data", map[string]any{"seq": i})
	}
	e.waitFor("50 readings of SN-1", func() bool { return len(e.emu.Telemetry("SN-1", "seq")) == 52 })

	// Connect and disconnect requests.
	dev.publish("sensor/SN-9/connect", "")
	e.waitFor("SN-9 connected", func() bool { d, ok := e.emu.Device("SN-9"); return ok && d.Type == "Thermometer" && d.Connected })
	dev.publish("sensor/SN-9/disconnect", "")
	e.waitFor("SN-9 disconnected", func() bool { d, ok := e.emu.Device("SN-9"); return ok && !d.Connected })

	// Attribute request: the reply from ThingsBoard is published to the configured topic.
	if err := e.emu.SetSharedAttributes("SN-1", map[string]any{"limit": 30}); err != nil {
		t.Fatal(err)
	}
	// Shared-attribute updates for keys no rule matches are not published; wait for the request's reply.
	dev.publish("attr/request", map[string]any{"serialNumber": "SN-1", "key": "limit"})
	m := dev.next(e.ctx)
	if m.Topic() != "devices/SN-1/attrs" || string(m.Payload()) != `{"limit": 30}` {
		t.Fatalf("attribute reply %q %s", m.Topic(), m.Payload())
	}

	// Attribute update → publish to the device topic.
	if err := e.emu.SetSharedAttributes("SN-1", map[string]any{"fw": "1.2"}); err != nil {
		t.Fatal(err)
	}
	m = dev.next(e.ctx)
	if m.Topic() != "sensor/SN-1/fw" || string(m.Payload()) != `{"fw":"1.2"}` {
		t.Fatalf("attribute update %q %s", m.Topic(), m.Payload())
	}

	// One-way RPC.
	reply, err := e.emu.RPC(e.ctx, "SN-1", "setRelay", json.RawMessage(`{"on":true}`), false, 30*time.Second)
	if err != nil || string(reply) != `{"success":true}` {
		t.Fatalf("one-way rpc: %s, %v", reply, err)
	}
	m = dev.next(e.ctx)
	if m.Topic() != "sensor/SN-1/relay" || string(m.Payload()) != "true" {
		t.Fatalf("one-way rpc publish %q %s", m.Topic(), m.Payload())
	}

	// Two-way RPC: the device answers on the response topic.
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case m := <-dev.got:
			var id string
			_, _ = fmt.Sscanf(m.Topic(), "sensor/SN-1/request/echo/%s", &id)
			dev.c.Publish("sensor/SN-1/response/echo/"+id, 1, false, append([]byte(`{"echo":`), append(m.Payload(), '}')...))
		case <-e.ctx.Done():
		}
	}()
	reply, err = e.emu.RPC(e.ctx, "SN-1", "echo", json.RawMessage(`{"x":1}`), false, 30*time.Second)
	<-done
	if err != nil || string(reply) != `{"echo":{"x":1}}` {
		t.Fatalf("two-way rpc: %s, %v", reply, err)
	}

	// Two-way RPC without an answer: an error reply after the rule's timeout.
	reply, err = e.emu.RPC(e.ctx, "SN-1", "silent", nil, false, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if json.Unmarshal(reply, &r) != nil || r["error"] == nil {
		t.Fatalf("two-way rpc timeout reply %s, want an error", reply)
	}
	m = dev.next(e.ctx) // the request was published
	if m.Topic() == "" {
		t.Fatal("no request published")
	}
}
