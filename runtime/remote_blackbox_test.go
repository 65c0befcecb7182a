package runtime_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// modbusBlackbox is the Modbus connector's copy of the Python gateway's blackbox corpus (see its NOTICE).
const modbusBlackbox = "../connectors/modbus/testdata/blackbox"

// TestRemotePythonBlackboxModbusUplink runs the Python blackbox Modbus uplink cases the way their suite does:
// each connector config is pushed as a shared attribute of the gateway device (with a ts), the running gateway
// replaces its Modbus connector with it, and ThingsBoard ends up with the corpus values. The slaves point at a
// local server holding the corpus register map; each case reads into its own device, so no case can pass on
// the values of the one before.
func TestRemotePythonBlackboxModbusUplink(t *testing.T) {
	cases := []struct{ config, values string }{
		{"coils_reading", "discrete_and_coils_registers_values"},
		{"discrete_input_reading", "discrete_and_coils_registers_values"},
		{"holding_registers_reading", "holding_registers_values"},
		{"input_registers_reading", "input_registers_values"},
	}
	srv, err := modbus.ServeTCP("127.0.0.1:0", modbus.CorpusBank())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, portText, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portText)

	e := newE2E(t)
	gw := e.startLogged(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	ts := time.Now().UnixMilli()
	for _, tc := range cases {
		for _, order := range []string{"big", "little"} {
			name := tc.config + "_" + order
			var push map[string]map[string]any
			readJSON(t, filepath.Join(modbusBlackbox, "configs", "uplink_configs", "modbus_uplink_converter_"+name+".json"), &push)
			attr := push["Modbus"]
			device := "Temp Sensor " + name
			for _, s := range attr["configurationJson"].(map[string]any)["master"].(map[string]any)["slaves"].([]any) {
				sm := s.(map[string]any)
				sm["host"], sm["port"], sm["pollPeriod"], sm["timeout"], sm["deviceName"] = host, port, 50, 5, device
			}
			ts++
			attr["ts"] = ts
			if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Modbus": attr}); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			readJSON(t, filepath.Join(modbusBlackbox, "test_values", "uplink", tc.values+"_"+order+".json"), &want)
			e.waitFor(name+": the corpus values at ThingsBoard", func() bool {
				latest := e.emu.Latest(device)
				for k, w := range want {
					if v, ok := latest[k]; !ok || !corpusSame(w, v.Value) {
						return false
					}
				}
				return true
			})
		}
	}
	if gw.Log.Contains("change refused") {
		t.Errorf("a blackbox config was refused:\n%v", gw.Log.Lines())
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// corpusSame compares a corpus value (text as ThingsBoard's REST API shows it) with a value the emulator holds:
// numbers within 1e-9 relative, anything else by its JSON value.
func corpusSame(want, got any) bool {
	w, g := corpusValue(want), corpusValue(got)
	wf, wok := w.(float64)
	gf, gok := g.(float64)
	if wok && gok {
		return wf == gf || math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), math.Abs(gf))
	}
	return fmt.Sprint(w) == fmt.Sprint(g)
}

func corpusValue(v any) any {
	var text []byte
	switch x := v.(type) {
	case string:
		text = []byte(x)
	case json.RawMessage:
		text = x
	case int64:
		return float64(x)
	default:
		return v
	}
	var out any
	if json.Unmarshal(text, &out) != nil {
		return v
	}
	return out
}
