package runtime_test

import (
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/blackbox"
	"github.com/tbgateway/tbgateway/tbemu"
)

// modbusBlackbox is the Modbus connector's copy of the Python gateway's blackbox corpus (see its NOTICE).
const modbusBlackbox = "../connectors/modbus/testdata/blackbox"

// modbusCase starts a local server holding the corpus register map (a fresh one per case, so no case sees
// another's writes) and returns the corpus config file (under configs/) pointed at it, polling every pollMs, its
// slaves reading into device; edit, if not nil, changes each slave further.
func modbusCase(t *testing.T, file, device string, pollMs int, edit func(map[string]any)) (map[string]any, *modbus.Bank) {
	t.Helper()
	bank, srv := blackbox.StartCorpusServer(t)
	doc, err := blackbox.ModbusConfig(corpusFile(modbusBlackbox, "configs", file), srv.Addr(), pollMs, func(s map[string]any) {
		s["deviceName"] = device
		if edit != nil {
			edit(s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return doc["Modbus"], bank
}

// TestRemotePythonBlackboxModbusUplink runs the Python blackbox Modbus uplink cases the way their suite does:
// its initial config first (the device appears with its attribute), then each uplink config pushed as a shared
// attribute of the gateway device; the running gateway replaces its Modbus connector each time and ThingsBoard
// ends up with the corpus values.
func TestRemotePythonBlackboxModbusUplink(t *testing.T) {
	b := startBlackbox(t)
	initial := caseDevice("default_modbus_config")
	attr, _ := modbusCase(t, "default_modbus_config.json", initial, 50, nil)
	b.push("Modbus", attr)
	b.waitDevice(initial)
	want := readValues(t, corpusFile(modbusBlackbox, "test_values", "uplink", "holding_registers_values_little.json"))["string"]
	got := b.WaitAttribute(initial, tbemu.ScopeClient, "string_read")
	if !blackbox.Same(want, got) {
		t.Errorf("initial config: attribute string_read = %v, want %v", got, want)
	}
	cases := blackbox.ModbusUplinkCases
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			name := tc.Config + "_" + order
			device := caseDevice(name)
			attr, _ := modbusCase(t, "uplink_configs/modbus_uplink_converter_"+name+".json", device, 50, nil)
			b.push("Modbus", attr)
			want := readValues(t, corpusFile(modbusBlackbox, "test_values", "uplink", tc.Values+"_"+order+".json"))
			b.waitValues(name+": the corpus values at ThingsBoard", device, want)
		}
	}
}

// TestRemotePythonBlackboxModbusAttributeUpdates runs the Python blackbox Modbus attribute-update cases: each
// config pushed to the gateway, then the corpus values set as shared attributes of the case's device at
// ThingsBoard, as their suite does. Every value must be written to the server (read back from its table), and
// where the config's timeseries read the written table back (holding registers, coils), ThingsBoard must then
// hold it. The server starts from the corpus register map, which holds none of the values written.
func TestRemotePythonBlackboxModbusAttributeUpdates(t *testing.T) {
	cases := blackbox.ModbusAttributeUpdateCases
	b := startBlackbox(t)
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			name := "attrs_update_" + tc.Config + "_" + order
			device := caseDevice(name)
			attr, bank := modbusCase(t, "attrs_update_configs/"+name+".json", device, 50, nil)
			doc := map[string]map[string]any{"Modbus": attr}
			updates := blackbox.Items(t, doc, "attributeUpdates")
			want := readValues(t, corpusFile(modbusBlackbox, "test_values", "attrs_update", tc.Values+"_"+order+".json"))
			mustChange(t, name, bank, updates, want, order)
			b.push("Modbus", attr)
			b.waitDevice(device)
			if err := b.emu.SetSharedAttributes(device, want); err != nil {
				t.Fatal(err)
			}
			for k, w := range want {
				if it, ok := updates[k]; ok {
					b.eventually(name+": "+k+" written to the server", func() bool { return blackbox.SameWritten(w, blackbox.ReadBack(t, bank, it, order)) })
				}
			}
			b.waitValues(name+": the written values read back at ThingsBoard", device, readBackKeys(t, doc, updates, want))
		}
	}
}

// TestRemotePythonBlackboxModbusRPC runs the Python blackbox Modbus RPC cases through ThingsBoard's RPC API, each
// config pushed to the gateway first. Reading: every rpc item of the config is called with its tag as the
// method and the item as the params, as their suite does, and the reply's result.value must be the corpus
// value. Writing: every rpc item is called with the corpus value as the params; the server must then hold it,
// and where the config's timeseries read the written table back (holding registers, coils), ThingsBoard too.
func TestRemotePythonBlackboxModbusRPC(t *testing.T) {
	cases := blackbox.ModbusRPCCases
	b := startBlackbox(t)
	for _, tc := range cases {
		for _, order := range blackbox.Orders {
			name := tc.Config + "_reading_rpc_" + order
			device := caseDevice(name)
			attr, _ := modbusCase(t, "rpc_configs/"+name+".json", device, 1000, nil)
			want := readValues(t, corpusFile(modbusBlackbox, "test_values", "rpc", tc.Values+"_reading_"+order+".json"))
			b.push("Modbus", attr)
			b.waitDevice(device)
			for _, it := range rpcList(t, attr) {
				tag, _ := it["tag"].(string)
				typ, _ := it["type"].(string)
				if _, err := modbus.NewCodec(typ, 1, 3, "BIG", "BIG"); err != nil {
					continue // the corpus' input_registers_reading_rpc_big.json has an item of type "4bits"
				}
				params := map[string]any{}
				for k, v := range it {
					if k != "tag" {
						params[k] = v
					}
				}
				if got := b.rpcResult(device, tag, params)["value"]; !blackbox.Same(want[tag], got) {
					t.Errorf("%s: rpc %s: result.value %s, want %s", name, tag, blackbox.Show(got), blackbox.Show(want[tag]))
				}
			}

			name = tc.Config + "_writing_rpc_" + order
			device = caseDevice(name)
			attr, bank := modbusCase(t, "rpc_configs/"+name+".json", device, 50, nil)
			doc := map[string]map[string]any{"Modbus": attr}
			writes := blackbox.Items(t, doc, "rpc")
			want = readValues(t, corpusFile(modbusBlackbox, "test_values", "rpc", tc.Values+"_writing_"+order+".json"))
			written := map[string]any{}
			for k, w := range want {
				if _, ok := writes[k]; ok { // the corpus lists keys its config has no method for
					written[k] = w
				}
			}
			mustChange(t, name, bank, writes, written, order)
			b.push("Modbus", attr)
			b.waitDevice(device)
			for k, w := range written {
				b.rpcResult(device, k, w)
				if got := blackbox.ReadBack(t, bank, writes[k], order); !blackbox.SameWritten(w, got) {
					t.Errorf("%s: rpc %s: the server holds %s, want %s", name, k, blackbox.Show(got), blackbox.Show(w))
				}
			}
			b.waitValues(name+": the written values read back at ThingsBoard", device, readBackKeys(t, doc, writes, written))
		}
	}
}

// TestRemotePythonBlackboxModbusReportStrategy runs the corpus' report-strategy cases (internal/blackbox
// ReportCases: ON_RECEIVED, ON_CHANGE, ON_REPORT_PERIOD, ON_CHANGE_OR_REPORT_PERIOD) with each config pushed to
// the gateway as a shared attribute: which values reach ThingsBoard, and whether their timestamps move.
func TestRemotePythonBlackboxModbusReportStrategy(t *testing.T) {
	b := startBlackbox(t)
	for _, c := range blackbox.ReportCases {
		device := caseDevice(c.Name)
		attr, bank := modbusCase(t, c.File, device, blackbox.ReportPollMs, c.Edit)
		blackbox.SetWatched(bank, blackbox.ReportBefore)
		b.push("Modbus", attr)
		c.Check(blackbox.ReportRun{T: t, Env: b.Env, Device: device, Bank: bank})
		if t.Failed() {
			t.Fatalf("report strategy case %s failed", c.Name)
		}
	}
}

// rpcList returns the rpc items of a config's first slave, in their order.
func rpcList(t *testing.T, attr map[string]any) []map[string]any {
	t.Helper()
	slaves := blackbox.ModbusSlaves(map[string]map[string]any{"Modbus": attr})
	list, _ := slaves[0]["rpc"].([]any)
	var out []map[string]any
	for _, it := range list {
		out = append(out, it.(map[string]any))
	}
	return out
}

// mustChange fails the test unless the server holds a value other than the one a case writes for at least one
// key of want that has a write item (the corpus writes some values the map already holds, such as the BIG
// 16float; those are logged).
func mustChange(t *testing.T, name string, bank *modbus.Bank, writes map[string]blackbox.Item, want map[string]any, order string) {
	t.Helper()
	changes := 0
	for k, w := range want {
		it, ok := writes[k]
		if !ok {
			continue
		}
		if blackbox.SameWritten(w, blackbox.ReadBack(t, bank, it, order)) {
			t.Logf("%s: the server already holds %s = %v", name, k, w)
			continue
		}
		changes++
	}
	if changes == 0 {
		t.Fatalf("%s: the server holds every value before the case: it could not fail", name)
	}
}

// readBackKeys returns the values of written whose key a timeseries item of the config reads back from the
// table and address its write item wrote (function codes 1 for 5 and 15, 3 for 6 and 16).
func readBackKeys(t *testing.T, doc map[string]map[string]any, writes map[string]blackbox.Item, written map[string]any) map[string]any {
	t.Helper()
	reads := blackbox.Items(t, doc, "timeseries")
	readFC := map[int]int{5: 1, 15: 1, 6: 3, 16: 3}
	out := map[string]any{}
	for k, v := range written {
		w, r := writes[k], reads[k]
		if r.Tag != "" && r.FunctionCode == readFC[w.FunctionCode] && r.Address == w.Address {
			out[k] = v
		}
	}
	return out
}
