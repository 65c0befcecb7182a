package mqtt_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestExpressionConverterE2E runs expression converters (docs/converters.md) through mosquitto, the gateway and
// tbemu: the Python sample CustomMqttUplinkConverter written as an expression on hex payloads, and a JSON
// payload whose records the expression shapes (a device per item, attributes and telemetry). A payload the
// expression cannot convert is counted as a fault of its topic and the next message still converts.
func TestExpressionConverterE2E(t *testing.T) {
	conf := map[string]any{
		"mapping": []any{
			map[string]any{"topicFilter": "custom/sensors/+", "subscriptionQos": 1, "converter": map[string]any{
				"type": "custom", "extension": "expression",
				"extensionConfig": map[string]any{"temperatureBytes": 2, "humidityBytes": 2, "batteryLevelBytes": 1},
				"expression": `let b = fromHex(replace(text, "0x", ""));
{deviceName: split(topic, "/")[-1], deviceType: "Thermostat",
 telemetry: {temperature: b[1], humidity: b[3], batteryLevel: b[4]}}`,
			}},
			map[string]any{"topicFilter": "json/batch", "subscriptionQos": 1, "converter": map[string]any{
				"type": "custom", "extension": "expression",
				"expression": `map(json.items, let it = #;
  {deviceName: it.id, deviceType: "Meter", attributes: {site: json.site},
   telemetry: {ts: it.time, values: {kwh: it.wh / 1000.0}}})`,
			}},
		},
	}
	e := newEnv(t, "mqtt", conf)
	d := newDevice(t, e.b, "dev")
	d.publish("custom/sensors/sensor1", "0x0114002a64")
	d.publish("json/batch", `{"site": "north", "items": [{"id": "m1", "time": 1700000000000, "wh": 1500}, {"id": "m2", "time": 1700000000500, "wh": 250}]}`)

	if got := e.WaitTelemetry("sensor1", "batteryLevel", 1); fmt.Sprint(got[0].Value) != "100" {
		t.Fatalf("sensor1 batteryLevel %v, want 100", got)
	}
	for key, want := range map[string]float64{"temperature": 0x14, "humidity": 0x2a} {
		if got := e.WaitTelemetry("sensor1", key, 1); fmt.Sprint(got[0].Value) != fmt.Sprint(want) {
			t.Errorf("sensor1 %s = %v, want %v", key, got[0].Value, want)
		}
	}
	if st := e.WaitDevice("sensor1"); st.Type != "Thermostat" {
		t.Errorf("sensor1 type %q, want Thermostat", st.Type)
	}
	for dev, want := range map[string]tbemu.TSValue{"m1": {TS: 1700000000000, Value: 1.5}, "m2": {TS: 1700000000500, Value: 0.25}} {
		if got := e.WaitTelemetry(dev, "kwh", 1); got[0].TS != want.TS || fmt.Sprint(got[0].Value) != fmt.Sprint(want.Value) {
			t.Errorf("%s kwh %+v, want %+v", dev, got[0], want)
		}
		if site := e.WaitAttribute(dev, tbemu.ScopeClient, "site"); site != "north" {
			t.Errorf("%s site %v", dev, site)
		}
	}

	d.publish("custom/sensors/sensor1", "not hex")
	e.waitFor("the bad payload counted", func() bool { return e.log.contains("custom/sensors/sensor1", "fromHex") })
	d.publish("custom/sensors/sensor1", "0x0115002b63")
	if got := e.WaitTelemetry("sensor1", "batteryLevel", 2); fmt.Sprint(got[1].Value) != "99" {
		t.Fatalf("after a bad payload: batteryLevel %v", got)
	}
}

// TestExpressionConverterConfig: an expression converter's keys are known (no warnings), and its compile error
// names the file, the key path and the position.
func TestExpressionConverterConfig(t *testing.T) {
	conf := func(expr string) []byte {
		return []byte(`{"broker": {"host": "h"}, "mapping": [{"topicFilter": "a/+", "converter": {"type": "custom",
			"extension": "expression", "extensionConfig": {"k": 1}, "budget": 1000, "maxRecords": 5, "expression": ` + expr + `}}]}`)
	}
	_, warns, err := mqtt.DecodeFile("mqtt.json", conf(`"{deviceName: topic, telemetry: {n: config.k}}"`))
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v, warnings %q", err, warns)
	}
	_, _, err = mqtt.DecodeFile("mqtt.json", conf(`"{deviceName: topic,\n telemetry: {n: payload[0] +}}"`))
	if err == nil || !strings.HasPrefix(err.Error(), "mqtt.json: mapping[0].converter.expression: line 2, column") {
		t.Fatalf("err = %v", err)
	}
}

// TestExpressionDownlinkE2E: an attributeUpdates rule and a serverSideRpc rule with an "expression" publish what
// the expression returns (topic and payload: JSON from a map, raw bytes from bytes) when ThingsBoard sends a
// shared attribute and an RPC; an expression returning nil publishes nothing.
func TestExpressionDownlinkE2E(t *testing.T) {
	conf := map[string]any{
		"mapping": []any{map[string]any{"topicFilter": "up/+", "converter": map[string]any{"type": "custom",
			"extension": "expression", "expression": `{deviceName: split(topic, "/")[1], telemetry: {v: json.v}}`}}},
		"requestsMapping": map[string]any{
			"attributeUpdates": []any{map[string]any{"deviceNameFilter": ".*", "attributeFilter": ".*",
				"expression": `key == "ignored" ? nil : {topic: "down/" + device + "/set", payload: {key: key, tenths: int(value * 10)}}`}},
			"serverSideRpc": []any{map[string]any{"type": "oneWay", "deviceNameFilter": ".*", "methodFilter": "setSpeed",
				"requestTopicExpression": "down/${deviceName}/rpc",
				"expression":             `{payload: bytes([0x01, params.speed])}`}},
		},
	}
	e := newEnv(t, "mqtt", conf)
	d := newDevice(t, e.b, "dev", "down/#")
	d.publish("up/fan1", `{"v": 1}`)
	e.WaitTelemetry("fan1", "v", 1)

	if err := e.emu.SetSharedAttributes("fan1", map[string]any{"ignored": 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.SetSharedAttributes("fan1", map[string]any{"target": 21.5}); err != nil {
		t.Fatal(err)
	}
	m := d.next(e.ctx)
	if m.Topic() != "down/fan1/set" || string(m.Payload()) != `{"key":"target","tenths":215}` {
		t.Fatalf("attribute update published %q %s", m.Topic(), m.Payload())
	}
	reply, err := e.emu.RPC(e.ctx, "fan1", "setSpeed", json.RawMessage(`{"speed": 3}`), false, 30*time.Second)
	if err != nil || string(reply) != `{"success":true}` {
		t.Fatalf("rpc reply %s, %v", reply, err)
	}
	m = d.next(e.ctx)
	if m.Topic() != "down/fan1/rpc" || string(m.Payload()) != "\x01\x03" {
		t.Fatalf("rpc published %q %x", m.Topic(), m.Payload())
	}
}
