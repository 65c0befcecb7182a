package mqtt_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRPCFilterSearchE2E: an RPC through the gateway reaches the device by a rule whose deviceNameFilter and
// methodFilter are found only in the middle of the device name and the method (Python's re.search).
func TestRPCFilterSearchE2E(t *testing.T) {
	conf := map[string]any{
		"broker": map[string]any{"clientId": "gw-rpcfilter"},
		"mapping": []any{map[string]any{"topicFilter": "plant/data", "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "message", "deviceNameExpression": "${name}"},
			"timeseries": []any{map[string]any{"key": "t", "type": "int", "value": "${t}"}},
		}}},
		"requestsMapping": map[string]any{"serverSideRpc": []any{map[string]any{
			"deviceNameFilter": "SN", "methodFilter": "Relay", "qos": 1,
			"requestTopicExpression": "plant/${deviceName}/${methodName}", "valueExpression": "${params.on}"}}},
	}
	e := newEnv(t, probeType, conf)
	dev := newDevice(t, e.b, "device-rpcfilter", "plant/+/+")
	dev.publish("plant/data", map[string]any{"name": "Boiler-SN-7", "t": 1})
	e.waitFor("Boiler-SN-7 telemetry", func() bool { return e.emu.Latest("Boiler-SN-7")["t"].Value == int64(1) })
	e.waitKnown("Boiler-SN-7")

	reply, err := e.emu.RPC(e.ctx, "Boiler-SN-7", "setRelayState", json.RawMessage(`{"on":true}`), false, 30*time.Second)
	if err != nil || string(reply) != `{"success":true}` {
		t.Fatalf("rpc: %s, %v", reply, err)
	}
	if m := dev.next(e.ctx); m.Topic() != "plant/Boiler-SN-7/setRelayState" || string(m.Payload()) != "true" {
		t.Fatalf("rpc publish %q %s", m.Topic(), m.Payload())
	}
}
