package mqtt_test

import (
	"fmt"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
)

// TestGarbageTopicLoggedOncePerStateChange: through mosquitto, a topic receives payloads that are not JSON while
// another topic of the same mapping receives good ones. The garbage is logged once when the topic starts
// receiving it and once when a good payload arrives there again, naming the connector, the topic and the
// mapping; every bad message is counted in gateway_stats; the good topic's values all arrive meanwhile. Garbage
// after the recovery starts a new episode, logged once more.
func TestGarbageTopicLoggedOncePerStateChange(t *testing.T) {
	conf := map[string]any{
		"broker": map[string]any{"version": 4, "clientId": "gw-faults"},
		"mapping": []any{map[string]any{"topicFilter": "plant/+/data", "subscriptionQos": 1, "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=plant/)(.*?)(?=/data)"},
			"timeseries": []any{map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
		}}},
	}
	e := newEnv(t, mqtt.Type, conf)
	dev := newDevice(t, e.b, "faulty-devices")
	const bad = 5
	for i := 1; i <= bad; i++ {
		dev.publish("plant/boiler/data", fmt.Sprintf("garbage %d", i))
		dev.publish("plant/pump/data", map[string]any{"seq": i})
	}
	faults := func() uint64 { return e.gw.GW.Stats().Connectors["MQTT"].Faults }
	e.waitFor("the garbage counted and the good topic's values", func() bool {
		return faults() == bad && len(e.emu.Telemetry("pump", "seq")) == bad
	})
	start := []string{`msg="device fault"`, `connector=MQTT`, "topic=plant/boiler/data", "filter=plant/+/data", "not JSON"}
	cleared := []string{`msg="device fault cleared"`, "topic=plant/boiler/data", "filter=plant/+/data", "faults=5"}
	if n := e.gw.Log.Count(start...); n != 1 {
		t.Errorf("the garbage topic was logged %d times while it kept failing, want once", n)
	}
	if n := e.gw.Log.Count(`msg="device fault`, "topic=plant/pump/data"); n != 0 {
		t.Errorf("the good topic was logged with %d faults", n)
	}
	if st := e.gw.GW.Stats().Connectors["MQTT"]; st.Active != 1 {
		t.Errorf("gateway_stats while the topic receives garbage: %+v, want 1 active fault", st)
	}

	dev.publish("plant/boiler/data", map[string]any{"seq": 100})
	e.gw.WaitLog(e.ctx, cleared...)
	e.waitFor("the boiler's good payload", func() bool { return len(e.emu.Telemetry("boiler", "seq")) == 1 })
	if a, c := e.gw.Log.Count(start...), e.gw.Log.Count(cleared...); a != 1 || c != 1 {
		t.Errorf("log lines: %d fault starts and %d recoveries, want one each", a, c)
	}
	if st := e.gw.GW.Stats().Connectors["MQTT"]; st.Faults != bad || st.Active != 0 {
		t.Errorf("gateway_stats after the recovery: %+v, want %d faults, none active", st, bad)
	}

	dev.publish("plant/boiler/data", "garbage again")
	e.waitFor("the new garbage counted and logged as a new episode", func() bool {
		return faults() == bad+1 && e.gw.Log.Count(start...) == 2
	})
}
