package mqtt

import (
	"reflect"
	"strings"
	"testing"
)

// TestKeySourceTopic: a key with "keySource": "topic" is a regular expression searched in the topic, in the json
// and the bytes converter alike: the key is its last capturing group, or the whole match without one (the Python
// gateway's Utils.get_value_from_topic); a topic it does not match skips the key and keeps the others; a key
// without keySource is read from the message. A device name from the topic is taken the same way.
func TestKeySourceTopic(t *testing.T) {
	for _, tc := range []struct {
		name, converter, topic, payload string
		want                            map[string]any
	}{
		{"json", `{"type": "json", "deviceInfo": {"deviceNameExpressionSource": "constant", "deviceNameExpression": "D"},
			"timeseries": [{"key": "(?<=metrics/)[a-z]+(?=/value)", "keySource": "topic", "type": "double", "value": "${v}"},
			               {"key": "${name}", "type": "int", "value": "${n}"}]}`,
			"plant/metrics/pressure/value", `{"v": 1.5, "name": "count", "n": 3}`,
			map[string]any{"pressure": 1.5, "count": int64(3)}},
		{"json no match skips the key", `{"type": "json", "deviceInfo": {"deviceNameExpressionSource": "constant", "deviceNameExpression": "D"},
			"timeseries": [{"key": "(?<=metrics/)[a-z]+(?=/value)", "keySource": "topic", "type": "double", "value": "${v}"},
			               {"key": "n", "type": "int", "value": "${n}"}]}`,
			"plant/other", `{"v": 1.5, "n": 3}`,
			map[string]any{"n": int64(3)}},
		{"bytes", `{"type": "bytes", "deviceInfo": {"deviceNameExpression": "[0:2]"},
			"timeseries": [{"key": "[a-z]+$", "keySource": "topic", "type": "int", "value": "[2:]"}]}`,
			"raw/level", `AB42`,
			map[string]any{"level": int64(42)}},
		{"bytes no match skips the key", `{"type": "bytes", "deviceInfo": {"deviceNameExpression": "[0:2]"},
			"timeseries": [{"key": "(?<=metrics/)[a-z]+", "keySource": "topic", "type": "int", "value": "[2:]"},
			               {"key": "n", "type": "int", "value": "[3:]"}]}`,
			"raw/level", `AB42`,
			map[string]any{"n": int64(2)}},
		{"json last group", `{"type": "json", "deviceInfo": {"deviceNameExpressionSource": "topic", "deviceNameExpression": "^dev/([^/]+)/"},
			"timeseries": [{"key": "^dev/[^/]+/(m)/([a-z]+)$", "keySource": "topic", "type": "int", "value": "${v}"},
			               {"key": "name", "type": "string", "value": "${name}"}]}`,
			"dev/D/m/flow", `{"v": 7, "name": "x"}`,
			map[string]any{"flow": int64(7), "name": "x"}},
		{"bytes nested groups", `{"type": "bytes", "deviceInfo": {"deviceNameExpressionSource": "topic", "deviceNameExpression": "dev/(\\w+)"},
			"timeseries": [{"key": "/((k)ey[0-9])$", "keySource": "topic", "type": "int", "value": "[0:]"}]}`,
			"dev/D/key1", `5`,
			map[string]any{"key1": int64(5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Decode([]byte(`{"broker": {"host": "h"}, "mapping": [{"topicFilter": "#", "converter": ` + tc.converter + `}]}`))
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := c.c.mappings[0].conv.Convert(tc.topic, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 1 && strings.HasPrefix(tc.topic, "dev/") && recs[0].Device != "D" {
				t.Errorf("device %q, want D (the expression's last group)", recs[0].Device)
			}
			if len(recs) != 1 || len(recs[0].Telemetry) != 1 || !reflect.DeepEqual(recs[0].Telemetry[0].Values, tc.want) {
				t.Fatalf("records %+v, want telemetry %v", recs, tc.want)
			}
		})
	}
}
