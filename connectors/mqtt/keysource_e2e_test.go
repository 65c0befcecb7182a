package mqtt_test

import "testing"

// TestKeySourceTopicE2E: a time series key taken from the topic ("keySource": "topic") reaches the platform
// under that name.
func TestKeySourceTopicE2E(t *testing.T) {
	conf := map[string]any{
		"broker": map[string]any{"clientId": "gw-keysource"},
		"mapping": []any{map[string]any{"topicFilter": "ks/+/+", "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=ks/)[^/]+"},
			"timeseries": []any{map[string]any{"key": "(?<=ks/[^/]+/).+", "keySource": "topic", "type": "double", "value": "${v}"}},
		}}},
	}
	e := newEnv(t, probeType, conf)
	dev := newDevice(t, e.b, "device-keysource")
	dev.publish("ks/K1/pressure", map[string]any{"v": 2.5})
	e.waitFor("pressure of K1", func() bool { return e.emu.Latest("K1")["pressure"].Value == 2.5 })
}
