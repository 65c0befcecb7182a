package mqtt_test

import (
	"testing"
)

// TestBasicAuth connects with security type "basic": the right password lets data through; a wrong one is
// refused by the broker, logged once, and retried without data.
func TestBasicAuth(t *testing.T) {
	brokerUsers = map[string]string{"gw": "s3cret"}
	t.Cleanup(func() { brokerUsers = nil })
	conf := func(password string) map[string]any {
		return map[string]any{
			"broker": map[string]any{"version": 4, "security": map[string]any{"type": "basic", "username": "gw", "password": password}},
			"mapping": []any{map[string]any{"topicFilter": "auth/data", "converter": map[string]any{
				"type":       "json",
				"deviceInfo": map[string]any{"deviceNameExpressionSource": "constant", "deviceNameExpression": "AUTH"},
				"timeseries": []any{map[string]any{"key": "v", "type": "int", "value": "${v}"}},
			}}},
		}
	}
	e := newEnv(t, probeType, conf("s3cret"))
	dev := newDevice(t, e.b, "auth-device")
	dev.publish("auth/data", map[string]any{"v": 1})
	e.waitFor("data through an authenticated connection", func() bool { return e.emu.Latest("AUTH")["v"].Value == int64(1) })

	e.stopGateway()
	e.log.reset()
	wrong := conf("wrong")
	wrong["broker"].(map[string]any)["host"] = "127.0.0.1"
	wrong["broker"].(map[string]any)["port"] = e.b.port
	wrong["broker"].(map[string]any)["reconnectMaxDelaySeconds"] = 1
	e.stopGateway = e.startGatewayWait(probeType, wrong, false)
	e.eventually("the refused connection logged", func() bool { return e.log.contains("cannot connect to the broker") })
	if st := e.stats(); st.Connects != 0 {
		t.Errorf("connected %d times with a wrong password", st.Connects)
	}
}
