package mqtt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

type converterCase struct {
	Name        string          `json:"name"`
	Config      string          `json:"config"`
	Mapping     int             `json:"mapping"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PayloadText *string         `json:"payloadText"`
	Want        json.RawMessage `json:"want"`
	Error       string          `json:"error"`
}

func mappingConverter(t testing.TB, file string, i int) tbgateway.Converter {
	t.Helper()
	cfg, _, err := Decode(readTestdata(t.(*testing.T), file))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	comp, err := compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range comp.mappings {
		if m.filter.subscribe == cfg.Mapping[i].TopicFilter {
			return m.conv
		}
	}
	t.Fatalf("%s: mapping %d not compiled", file, i)
	return nil
}

// TestConverters runs the cases of testdata/expected/converters.json: corpus mappings, a payload, and the
// records (or the error) expected.
func TestConverters(t *testing.T) {
	var cases []converterCase
	if err := json.Unmarshal(readTestdata(t, "expected/converters.json"), &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			conv := mappingConverter(t, tc.Config, tc.Mapping)
			payload := []byte(tc.Payload)
			if tc.PayloadText != nil {
				payload = []byte(*tc.PayloadText)
			}
			recs, err := conv.Convert(tc.Topic, payload)
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("got %v, %+v; want an error containing %q", err, recs, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				stamped := r
				stamped.Telemetry = append([]tbgateway.Telemetry(nil), r.Telemetry...)
				for i := range stamped.Telemetry {
					if stamped.Telemetry[i].TS == 0 {
						stamped.Telemetry[i].TS = 1
					}
				}
				if err := stamped.Validate(); err != nil {
					t.Errorf("converted record is invalid: %v", err)
				}
			}
			gotJSON, _ := json.Marshal(recs)
			var got, want any
			_ = json.Unmarshal(gotJSON, &got)
			if err := json.Unmarshal(tc.Want, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("records\n got %s\nwant %s", gotJSON, tc.Want)
			}
		})
	}
}

func TestConverterValueTypes(t *testing.T) {
	conv := mappingConverter(t, "corpus/sample_mqtt.json", 0)
	recs, err := conv.Convert("data/", []byte(`{"power": 3, "frequency": "50", "temperature": 21, "humidity": 1.5, "relay": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	want := map[string]any{"power": 3.0, "frequency": int64(50)}
	if !reflect.DeepEqual(r.Attributes, want) {
		t.Errorf("attributes %#v, want %#v", r.Attributes, want)
	}
	wantTS := map[string]any{"temperature": 21.0, "humidity": 1.5, "relay": false}
	if !reflect.DeepEqual(r.Telemetry[0].Values, wantTS) {
		t.Errorf("telemetry %#v, want %#v", r.Telemetry[0].Values, wantTS)
	}
}

func TestConverterPathsAndAll(t *testing.T) {
	cfg := ConverterConfig{
		Type:       ConverterJSON,
		DeviceInfo: DeviceInfoConfig{NameSource: SourceMessage, NameExpression: "${meta.id}-${meta.tags[1]}", ProfileSource: SourceConstant},
		Timeseries: []DatapointConfig{
			{Key: "first", Type: "double", Value: "${sensor.values[0]}"},
			{Key: "last", Type: "int", Value: "${sensor.values[-1]}"},
			{Key: "spaced", Type: "string", Value: "${key with spaces}"},
			{Key: "at", Type: "double", Value: "${v}", TSField: "${when}"},
		},
		AllAttributes: true,
	}
	jc, err := NewJSONConverter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := jc.Convert("t", []byte(`{"meta": {"id": "D", "tags": ["a", "b"]}, "sensor": {"values": [1.5, 2, 3]},
		"key with spaces": "yes", "v": 7, "when": 1700000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	if r.Device != "D-b" || r.DeviceType != "" {
		t.Errorf("device %q type %q", r.Device, r.DeviceType)
	}
	if len(r.Telemetry) != 2 || r.Telemetry[0].TS != 0 || r.Telemetry[1].TS != 1700000000000 {
		t.Fatalf("telemetry %+v", r.Telemetry)
	}
	if v := r.Telemetry[0].Values; v["first"] != 1.5 || v["last"] != int64(3) || v["spaced"] != "yes" {
		t.Errorf("values %#v", v)
	}
	if _, ok := r.Attributes["meta"].(tbgateway.RawJSON); !ok || r.Attributes["v"] != int64(7) {
		t.Errorf(`"*" attributes %#v`, r.Attributes)
	}
}

func FuzzJSONConverter(f *testing.F) {
	f.Add("sensor/a/data", []byte(`{"serialNumber":"A","sensorType":"T","sensorModel":"M","temp":1,"hum":2}`))
	f.Add("sensor/data", []byte(`[{"serialNumber":"A","temp":"1e400"},{"ts":"x"}]`))
	f.Add("sensor/data", []byte(`{"serialNumber":{"a":[1,{"b":null}]},"temp":true,"timestamp":-1}`))
	f.Add("x", []byte(`"\u0000"`))
	cfg, _, err := Decode([]byte(`{"broker": {"host": "h"}, "mapping": [
		{"topicFilter": "sensor/data", "converter": {"type": "json",
		 "deviceInfo": {"deviceNameExpression": "${serialNumber}", "deviceProfileExpressionSource": "message", "deviceProfileExpression": "${sensorType}"},
		 "attributes": [{"key": "${sensorModel}", "type": "string", "value": "on ${sensorModel}"}, "*"],
		 "timeseries": [{"key": "t", "type": "double", "value": "${temp}"}, {"key": "h", "type": "int", "value": "${hum}", "tsField": "${at}"},
		                {"key": "b", "type": "bool", "value": "${b}"}, {"key": "n", "type": "json", "value": "${n.x[0]}"}]}},
		{"topicFilter": "sensor/+/data", "converter": {"type": "json",
		 "deviceInfo": {"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=sensor/)(.*?)(?=/data)"},
		 "timeseries": "*"}}]}`))
	if err != nil {
		f.Fatal(err)
	}
	comp, err := compile(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		for _, m := range comp.mappings {
			recs, err := m.conv.Convert(topic, payload)
			if err != nil {
				continue
			}
			for _, r := range recs {
				if r.Device == "" || r.Datapoints() == 0 {
					t.Fatalf("converter returned an empty record without an error: %+v", r)
				}
				_ = r.Validate() // must not panic; the runtime refuses what is invalid
			}
		}
	})
}
