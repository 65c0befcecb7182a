package modbus_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/blackbox"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every end-to-end test; it is a failure bound, never a pacing.
const testTimeout = 90 * time.Second

// gateway is one end-to-end setup on internal/gwtest: the emulator and a gateway running one Modbus connector
// file.
type gateway struct {
	*gwtest.Env
	GW *gwtest.Gateway
}

// startGateway starts tbemu and a gateway whose only connector is the given Modbus connector file content.
func startGateway(t *testing.T, connectorFile []byte) *gateway {
	t.Helper()
	return startGatewayAs(t, connectorFile, modbus.Type, "Modbus")
}

// startGatewayAs is startGateway with the connector's type and name in the main config.
func startGatewayAs(t *testing.T, connectorFile []byte, connectorType, connectorName string) *gateway {
	t.Helper()
	e := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{
		{Type: connectorType, Name: connectorName, File: "modbus.json", Conf: connectorFile}}})
	return &gateway{Env: e, GW: e.Start(gwtest.StartOptions{})}
}

// rpc calls a device RPC through the emulator and returns result.value, failing on result.error.
func (g *gateway) rpc(device, method string, params any) any {
	g.T.Helper()
	g.WaitFor("device "+device+" at ThingsBoard", func() bool { _, ok := g.Emu.Device(device); return ok })
	reply := g.RPC(device, method, params)
	m, _ := reply.(map[string]any)
	res, _ := m["result"].(map[string]any)
	if res == nil || res["error"] != nil {
		g.T.Fatalf("rpc %s: reply %v", method, reply)
	}
	return res["value"]
}

// waitValues waits until the corpus device's latest values at the emulator are want (corpus values, see same).
func (g *gateway) waitValues(what string, want map[string]any) {
	g.T.Helper()
	g.WaitFor(what, func() bool { return g.hasValues(want) })
}

// hasValues says whether the corpus device's latest values at the emulator are want.
func (g *gateway) hasValues(want map[string]any) bool {
	latest := g.Emu.Latest(device)
	for k, w := range want {
		if v, ok := latest[k]; !ok || !same(w, v.Value) {
			return false
		}
	}
	return true
}

// corpusConfig reads a corpus config (remote-configuration shape) and points its slaves at addr, polling
// every pollMs.
func corpusConfig(t *testing.T, file, addr string, pollMs int, edit func(slave map[string]any)) []byte {
	t.Helper()
	doc, err := blackbox.ModbusConfig(filepath.Join("testdata", "blackbox", "configs", file), addr, pollMs, edit)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(doc)
	return out
}

func readValues(t *testing.T, parts ...string) map[string]any {
	t.Helper()
	m, err := blackbox.ReadValues(filepath.Join(append([]string{"testdata", "blackbox", "test_values"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// same compares a corpus value (a string as ThingsBoard's REST API shows it, or typed JSON) with a value the
// emulator holds or an RPC returned.
func same(want, got any) bool { return blackbox.Same(want, got) }

const device = "Temp Sensor"

// TestCorpusUplink runs the corpus' uplink cases: the values ThingsBoard ends up with for coils, discrete
// inputs, holding and input registers, read BIG and LITTLE.
func TestCorpusUplink(t *testing.T) {
	cases := blackbox.ModbusUplinkCases
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			t.Run(tc.Config+"_"+order, func(t *testing.T) {
				_, srv := blackbox.StartCorpusServer(t)
				g := startGateway(t, corpusConfig(t, "uplink_configs/modbus_uplink_converter_"+tc.Config+"_"+order+".json", srv.Addr(), 50, nil))
				want := readValues(t, "uplink", tc.Values+"_"+order+".json")
				g.waitValues("the corpus values", want)
			})
		}
	}
}

// TestCorpusRPC runs the corpus' RPC cases: reads compare the reply's result.value with the corpus; writes send
// the corpus value and check that the device then holds it (read back through the same item).
func TestCorpusRPC(t *testing.T) {
	cases := blackbox.ModbusRPCCases
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			t.Run(tc.Config+"_"+order, func(t *testing.T) {
				_, srv := blackbox.StartCorpusServer(t)
				read := corpusConfig(t, "rpc_configs/"+tc.Config+"_reading_rpc_"+order+".json", srv.Addr(), 1000, nil)
				g := startGateway(t, read)
				items := rpcItems(t, read, "rpc")
				for k, w := range readValues(t, "rpc", tc.Values+"_reading_"+order+".json") {
					if _, err := modbus.NewCodec(items[k].Type, items[k].ObjectsCount, 3, "BIG", "BIG"); err != nil {
						continue // the corpus' input_registers_reading_rpc_big.json has an item of type "4bits"
					}
					if got := g.rpc(device, k, nil); !same(w, got) {
						t.Errorf("read %s: got %v, want %v", k, got, w)
					}
				}
			})
			t.Run(tc.Config+"_writing_"+order, func(t *testing.T) {
				bank, srv := blackbox.StartCorpusServer(t)
				cfgFile := corpusConfig(t, "rpc_configs/"+tc.Config+"_writing_rpc_"+order+".json", srv.Addr(), 1000, nil)
				g := startGateway(t, cfgFile)
				items := rpcItems(t, cfgFile, "rpc")
				for k, w := range readValues(t, "rpc", tc.Values+"_writing_"+order+".json") {
					it, ok := items[k]
					if !ok {
						continue // the corpus lists keys its config has no method for
					}
					g.rpc(device, k, w)
					if got := blackbox.ReadBack(t, bank, it, order); !blackbox.SameWritten(w, got) {
						t.Errorf("write %s: device holds %v, want %v", k, got, w)
					}
				}
			})
		}
	}
}

// TestCorpusAttributeUpdates runs the corpus' attribute-update cases: shared attributes set at ThingsBoard end up
// in the device.
func TestCorpusAttributeUpdates(t *testing.T) {
	cases := blackbox.ModbusAttributeUpdateCases
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			t.Run(tc.Config+"_"+order, func(t *testing.T) {
				bank, srv := blackbox.StartCorpusServer(t)
				cfgFile := corpusConfig(t, "attrs_update_configs/attrs_update_"+tc.Config+"_"+order+".json", srv.Addr(), 1000, nil)
				g := startGateway(t, cfgFile)
				items := rpcItems(t, cfgFile, "attributeUpdates")
				want := readValues(t, "attrs_update", tc.Values+"_"+order+".json")
				shared := map[string]any{}
				for k, w := range want {
					if _, ok := items[k]; ok {
						shared[k] = blackbox.Typed(w)
					}
				}
				g.WaitFor("the device to be known", func() bool { _, ok := g.Emu.Device(device); return ok })
				if err := g.Emu.SetSharedAttributes(device, shared); err != nil {
					t.Fatal(err)
				}
				for k, w := range shared {
					it := items[k]
					deadline := time.NewTicker(5 * time.Millisecond)
					for !same(w, blackbox.ReadBack(t, bank, it, order)) {
						select {
						case <-deadline.C:
						case <-g.Ctx.Done():
							t.Fatalf("attribute %s: device holds %v, want %v", k, blackbox.ReadBack(t, bank, it, order), w)
						}
					}
					deadline.Stop()
				}
			})
		}
	}
}

// rpcItems returns the items of a config's first slave section, by tag.
func rpcItems(t *testing.T, file []byte, section string) map[string]blackbox.Item {
	t.Helper()
	var doc map[string]map[string]any
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	return blackbox.Items(t, doc, section)
}
