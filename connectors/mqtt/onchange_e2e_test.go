package mqtt_test

import (
	"fmt"
	"testing"
)

// TestSendDataOnlyOnChange: the Python gateway's "sendDataOnlyOnChange": true, on a converter (device named from
// the topic), at the root of the file or in its broker section (where older files carry it), is the ON_CHANGE
// report strategy: a value published again unchanged
// does not reach the platform, a changed one does.
func TestSendDataOnlyOnChange(t *testing.T) {
	converter := func(extra map[string]any) map[string]any {
		c := map[string]any{"type": "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=oc/)(.*?)(?=/data)"},
			"timeseries": []any{map[string]any{"key": "t", "type": "int", "value": "${t}"}}}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	for _, tc := range []struct {
		name               string
		root, conv, broker map[string]any
	}{
		{"converter", nil, map[string]any{"sendDataOnlyOnChange": true}, nil},
		{"root", map[string]any{"sendDataOnlyOnChange": true}, nil, nil},
		{"broker", nil, nil, map[string]any{"sendDataOnlyOnChange": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := map[string]any{
				"broker":  map[string]any{"clientId": "gw-onchange-" + tc.name},
				"mapping": []any{map[string]any{"topicFilter": "oc/+/data", "converter": converter(tc.conv)}},
			}
			for k, v := range tc.root {
				conf[k] = v
			}
			for k, v := range tc.broker {
				conf["broker"].(map[string]any)[k] = v
			}
			e := newEnv(t, probeType, conf)
			dev := newDevice(t, e.b, "device-onchange")
			// Messages are converted and stored in arrival order, so once 2 is there both 1s were handled.
			for _, v := range []int{1, 1, 2} {
				dev.publish("oc/D1/data", map[string]any{"t": v})
			}
			e.waitFor("the changed value", func() bool { return e.emu.Latest("D1")["t"].Value == int64(2) })
			var got []any
			for _, v := range e.emu.Telemetry("D1", "t") {
				got = append(got, v.Value)
			}
			if fmt.Sprint(got) != "[1 2]" {
				t.Fatalf("values %v, want [1 2]", got)
			}
		})
	}
}
