package mqtt_test

import (
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/mqtt"
)

// benchMessage is one sensor message, converted by the json converter and by the same mapping as an expression.
var benchMessage = []byte(`{"serialNumber": "SN-001", "sensorType": "Thermometer", "fw": "1.0.3", "temp": 42.5, "hum": 58}`)

// BenchmarkConverter compares the cost per message of an expression converter with the json converter's on
// the same mapping (device name and type from the payload, one attribute, two time series).
func BenchmarkConverter(b *testing.B) {
	cfg, _, err := mqtt.Decode([]byte(`{"broker": {"host": "h"}, "mapping": [{"topicFilter": "s/+", "converter": {"type": "json",
		"deviceInfo": {"deviceNameExpression": "${serialNumber}", "deviceProfileExpression": "${sensorType}"},
		"attributes": [{"type": "string", "key": "fw", "value": "${fw}"}],
		"timeseries": [{"type": "double", "key": "temp", "value": "${temp}"}, {"type": "integer", "key": "hum", "value": "${hum}"}]}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	jc, err := mqtt.NewJSONConverter(cfg.Mapping[0].Converter)
	if err != nil {
		b.Fatal(err)
	}
	factory, _ := tbgateway.LookupConverter("expression")
	ec, err := factory([]byte(`{"expression": "{deviceName: json.serialNumber, deviceType: json.sensorType, attributes: {fw: json.fw}, telemetry: {temp: json.temp, hum: json.hum}}"}`))
	if err != nil {
		b.Fatal(err)
	}
	hex, err := factory([]byte(`{"expression": "let b = fromHex(replace(text, \"0x\", \"\"));\n{deviceName: split(topic, \"/\")[-1], deviceType: \"Thermostat\",\n telemetry: {temperature: b[1], humidity: b[3], batteryLevel: b[4]}}"}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name    string
		conv    tbgateway.Converter
		topic   string
		payload []byte
	}{{"json", jc, "s/1", benchMessage}, {"expression-json", ec, "s/1", benchMessage},
		{"expression-hex", hex, "custom/sensors/sensor1", []byte("0x0114002a64")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				recs, err := bc.conv.Convert(bc.topic, bc.payload)
				if err != nil || len(recs) != 1 {
					b.Fatalf("records %v, err %v", recs, err)
				}
			}
		})
	}
}
