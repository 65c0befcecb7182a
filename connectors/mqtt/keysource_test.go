package mqtt

import (
	"reflect"
	"testing"
)

// TestKeySourceTopic: a key with "keySource": "topic" is a regular expression searched in the topic (the whole
// match is the key), in the json and the bytes converter; a key without it is read from the message.
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
			if len(recs) != 1 || len(recs[0].Telemetry) != 1 || !reflect.DeepEqual(recs[0].Telemetry[0].Values, tc.want) {
				t.Fatalf("records %+v, want telemetry %v", recs, tc.want)
			}
		})
	}
}
