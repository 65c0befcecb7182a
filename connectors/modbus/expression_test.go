package modbus_test

import (
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// TestExpressionConverterConfig: a Python class name in a converter slot is reported and the built-in converter
// is used; an expression object is compiled at load time, and its errors name the key path and the position.
func TestExpressionConverterConfig(t *testing.T) {
	slave := func(conv string) []byte {
		return []byte(`{"master": {"slaves": [{"host": "h", "pollPeriod": 100, "deviceName": "D",
			"timeseries": [{"tag": "t", "type": "16int", "functionCode": 3, "address": 0}]` + conv + `}]}}`)
	}
	cfg, warns, err := modbus.Decode(slave(`, "uplink_converter": "CustomModbusUplinkConverter"`))
	if err != nil || cfg.Devices[0].Uplink != nil {
		t.Fatalf("class name: err %v", err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `master.slaves[0].uplink_converter: converter class "CustomModbusUplinkConverter" cannot be loaded`) {
		t.Fatalf("warnings %q", warns)
	}
	cfg, warns, err = modbus.Decode(slave(`, "uplink_converter": {"expression": "{telemetry: {t: readInt(data.t, 0, 2)}}", "budget": 500},
		"downlink_converter": {"type": "expression", "expression": "{registers: [value]}"}`))
	if err != nil || len(warns) != 0 || cfg.Devices[0].Uplink == nil || cfg.Devices[0].Downlink == nil {
		t.Fatalf("expression objects: err %v, warnings %q", err, warns)
	}
	if got := cfg.Devices[0].Uplink.Limits().Budget; got != 500 {
		t.Fatalf("budget %d, want 500", got)
	}
	for conv, want := range map[string]string{
		`, "uplink_converter": {"expression": "{telemetry:\n {t: data.t[}"}`: "master.slaves[0].uplink_converter.expression: line 2, column",
		`, "downlink_converter": {"expression": "registers("}`:               "master.slaves[0].downlink_converter.expression: line 1, column",
		`, "uplink_converter": {"expresion": "1"}`:                           "master.slaves[0].uplink_converter.expression: expected an expression",
		`, "uplink_converter": 5`:                                            "master.slaves[0].uplink_converter: expected a converter class name or an expression converter object",
	} {
		if _, _, err := modbus.Decode(slave(conv)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", conv, err, want)
		}
	}
}
