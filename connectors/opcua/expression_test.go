package opcua

import (
	"strings"
	"testing"
)

// TestExpressionConverterConfig: a Python class name in a mapping's "converter" is reported and the built-in
// conversion is used; an expression object is compiled at load time, and its errors name the file, key path and
// position.
func TestExpressionConverterConfig(t *testing.T) {
	conf := func(conv string) []byte {
		return []byte(`{"server": {"url": "opc.tcp://h:4840"}, "mapping": [{"deviceNodePattern": "Root\\.Objects\\.D",
			"deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "t", "value": "${T}"}]` + conv + `}]}`)
	}
	cfg, warns, err := Decode("opcua.json", conf(`, "converter": "CustomOpcUaConverter"`))
	if err != nil || cfg.Mapping[0].Converter != nil {
		t.Fatalf("class name: err %v", err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `mapping[0].converter: converter class "CustomOpcUaConverter" cannot be loaded`) {
		t.Fatalf("warnings %q", warns)
	}
	cfg, warns, err = Decode("opcua.json", conf(`, "converter": {"type": "expression", "expression": "{telemetry: {t: data.t * 2}}"}`))
	if err != nil || len(warns) != 0 || cfg.Mapping[0].Converter == nil {
		t.Fatalf("expression: err %v, warnings %q", err, warns)
	}
	_, _, err = Decode("opcua.json", conf(`, "converter": {"expression": "{telemetry: {t: data.t *}}"}`))
	if err == nil || !strings.Contains(err.Error(), "opcua.json: mapping[0].converter.expression: line 1, column") {
		t.Fatalf("compile error: %v", err)
	}
}
