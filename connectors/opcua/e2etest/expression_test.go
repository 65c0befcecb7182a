package e2etest

import (
	"fmt"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestExpressionConverterE2E runs the corpus mapping with an expression converter (docs/converters.md) in a real
// gateway against node-opcua and the emulator: the expression's records replace the built-in ones (new keys, a
// scaled value, the device renamed, the server URL as an attribute).
func TestExpressionConverterE2E(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	p := startPeer(t, e.Ctx)
	conf := corpusConfig(t, "corpus/configs/attrs_update_configs/opcua_attribute_updates_full_path.json", p.URL)
	mapping := conf["mapping"].([]any)[0].(map[string]any)
	mapping["converter"] = map[string]any{"type": "expression", "expression": `{
  deviceName: device + " (expr)", deviceType: "sensor",
  telemetry: {pressureKPa: data.Pressure / 10, alarm: data.Alarm, text: upper(data.SomeText)},
  attributes: {server: address}}`}
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: opcua.Type, Name: "OPC-UA", File: "opcua.json", Conf: conf}}})
	e.Start(gwtest.StartOptions{})

	waitLatest(e, "Temp Sensor (expr)", map[string]any{"pressureKPa": 101.325, "alarm": true, "text": "SOMETEXT"})
	if got := e.WaitAttribute("Temp Sensor (expr)", tbemu.ScopeClient, "server"); got != p.URL {
		t.Errorf("server attribute %v, want %s", got, p.URL)
	}
	if st := e.WaitDevice("Temp Sensor (expr)"); st.Type != "sensor" {
		t.Errorf("device type %q", st.Type)
	}
	if got := e.Emu.Latest("Temp Sensor"); len(got) != 0 {
		t.Errorf("the built-in conversion ran too: %v", fmt.Sprint(got))
	}
}
