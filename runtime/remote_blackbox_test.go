package runtime_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
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
				if gw.Log.Contains("change refused") { // written back to the emulator, so this is re-checked
					return true
				}
				latest := e.emu.Latest(device)
				for k, w := range want {
					if v, ok := latest[k]; !ok || !corpusSame(w, v.Value) {
						return false
					}
				}
				return true
			})
			failIfRefused(t, gw)
		}
	}
}

// failIfRefused fails the test when the gateway refused a pushed configuration.
func failIfRefused(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	if gw.Log.Contains("change refused") {
		t.Fatalf("a blackbox config was refused:\n%s", strings.Join(gw.Log.Lines(), "\n"))
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

// opcuaBlackbox is the OPC-UA connector's copy of the Python gateway's blackbox corpus (see its NOTICE).
const opcuaBlackbox = "../connectors/opcua/testdata/corpus"

// TestRemotePythonBlackboxOPCUAUplink runs the Python blackbox OPC-UA uplink cases by pushing their configs as
// shared attributes to a running gateway (type "OPCUA", as their suite sends it), against the node-opcua peer
// holding the corpus nodes. The corpus' Basic128Rsa15 policy is not offered by the peer: the cases run with
// policy None, as the connector's own corpus tests do. Each case reads into its own device.
func TestRemotePythonBlackboxOPCUAUplink(t *testing.T) {
	if !opcuapeer.Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", opcuapeer.ErrMissing)
		}
		t.Skip("node-opcua test peer missing: install with make test-deps")
	}
	e := newE2E(t)
	nodemap, err := filepath.Abs("../connectors/opcua/testdata/nodemap.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := opcuapeer.Start(e.ctx, opcuapeer.Options{NodeMap: nodemap, PKIDir: t.TempDir(), Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	cases := []struct{ config, values string }{
		{"opcua_uplink_converter_absolute_path.json", "different_paths_finding_methods_values.json"},
		{"opcua_uplink_converter_relative_path.json", "different_paths_finding_methods_values.json"},
		{"opcua_uplink_converter_identifier.json", "different_identifier_finding_methods_values.json"},
		{"opcua_uplink_converter_different_types.json", "different_types_finding_methods_values.json"},
	}
	gw := e.startLogged(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	ts := time.Now().UnixMilli()
	for i, tc := range cases {
		var push map[string]map[string]any
		readJSON(t, filepath.Join(opcuaBlackbox, "configs", "uplink_configs", tc.config), &push)
		for name, attr := range push {
			conf := attr["configurationJson"].(map[string]any)
			server := conf["server"].(map[string]any)
			server["url"], server["security"] = p.URL, "None"
			device := fmt.Sprintf("Temp Sensor %d", i)
			for _, m := range conf["mapping"].([]any) {
				m.(map[string]any)["deviceInfo"].(map[string]any)["deviceNameExpression"] = device
			}
			ts++
			attr["ts"] = ts
			if err := e.emu.SetSharedAttributes(gwName, map[string]any{name: attr}); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			readJSON(t, filepath.Join(opcuaBlackbox, "test_values", "uplink", tc.values), &want)
			e.waitFor(tc.config+": the corpus values at ThingsBoard", func() bool {
				if gw.Log.Contains("change refused") { // written back to the emulator, so this is re-checked
					return true
				}
				latest := e.emu.Latest(device)
				for k, w := range want {
					if v, ok := latest[k]; !ok || !corpusSame(w, v.Value) {
						return false
					}
				}
				return true
			})
			failIfRefused(t, gw)
		}
	}
}
