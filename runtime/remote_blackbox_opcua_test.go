package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tbgateway/tbgateway/internal/blackbox"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

// opcuaBlackbox is the OPC-UA connector's copy of the Python gateway's blackbox corpus (see its NOTICE).
const opcuaBlackbox = "../connectors/opcua/testdata/corpus"

// startOPCUAPeer starts the node-opcua peer holding the corpus nodes for the rest of the test. A missing peer
// fails the test under CI=true and skips it otherwise.
func startOPCUAPeer(t *testing.T, b *blackboxRun) *opcuapeer.Peer {
	t.Helper()
	if !opcuapeer.Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", opcuapeer.ErrMissing)
		}
		t.Skip("node-opcua test peer missing: install with make test-deps")
	}
	nodemap, err := filepath.Abs("../connectors/opcua/testdata/nodemap.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := opcuapeer.Start(b.ctx, opcuapeer.Options{NodeMap: nodemap, PKIDir: t.TempDir(), Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// pushOPCUA reads a corpus OPC-UA config (under configs/), points it at the peer and its mappings at device,
// and pushes it to the gateway. The corpus' Basic128Rsa15 policy is not offered by the peer: the cases run with
// policy None, as the connector's own corpus tests do.
func (b *blackboxRun) pushOPCUA(p *opcuapeer.Peer, file, device string) {
	b.t.Helper()
	name, attr := readConfig(b.t, corpusFile(opcuaBlackbox, "configs", file))
	conf := attr["configurationJson"].(map[string]any)
	server := conf["server"].(map[string]any)
	server["url"], server["security"] = p.URL, "None"
	for _, m := range conf["mapping"].([]any) {
		m.(map[string]any)["deviceInfo"].(map[string]any)["deviceNameExpression"] = device
	}
	b.push(name, attr)
}

// TestRemotePythonBlackboxOPCUAUplink runs the Python blackbox OPC-UA uplink cases by pushing their configs as
// shared attributes to a running gateway (type "OPCUA", as their suite sends it), against the node-opcua peer
// holding the corpus nodes: the suite's initial config first, then every uplink config.
func TestRemotePythonBlackboxOPCUAUplink(t *testing.T) {
	b := startBlackbox(t)
	p := startOPCUAPeer(t, b)
	cases := []struct{ config, values string }{
		{"default_opcua_config.json", "default_node_values.json"},
		{"uplink_configs/opcua_uplink_converter_absolute_path.json", "uplink/different_paths_finding_methods_values.json"},
		{"uplink_configs/opcua_uplink_converter_relative_path.json", "uplink/different_paths_finding_methods_values.json"},
		{"uplink_configs/opcua_uplink_converter_relative_path_with_identifier_device_node.json", "uplink/different_paths_finding_methods_values.json"},
		{"uplink_configs/opcua_uplink_converter_identifier.json", "uplink/different_identifier_finding_methods_values.json"},
		{"uplink_configs/opcua_uplink_converter_different_types.json", "uplink/different_types_finding_methods_values.json"},
	}
	for i, tc := range cases {
		device := caseDevice(fmt.Sprint(i))
		b.pushOPCUA(p, tc.config, device)
		want := readValues(t, corpusFile(opcuaBlackbox, "test_values", tc.values))
		b.waitValues(tc.config+": the corpus values at ThingsBoard", device, want)
	}
}

// TestRemotePythonBlackboxOPCUAAttributeUpdates runs the Python blackbox OPC-UA attribute-update cases: each
// config pushed to the gateway, then the corpus' default values and then its update values set as shared
// attributes of the case's device at ThingsBoard, as their suite does; the nodes' values, read back by the
// config's subscriptions, must reach ThingsBoard each time. Every update value differs from its default, so
// the update is what the case sees.
func TestRemotePythonBlackboxOPCUAAttributeUpdates(t *testing.T) {
	cases := []struct{ config, values, defaults string }{
		{"opcua_attribute_updates_full_path.json", "opcua_full_path_attributes_update_values.json", "opcua_paths_default_values.json"},
		{"opcua_attribute_updates_relative_path.json", "opcua_relative_path_attributes_update_values.json", "opcua_paths_default_values.json"},
		{"opcua_attribute_updates_identifier.json", "opcua_identifier_attributes_update_values.json", "opcua_identifier_default_values.json"},
		{"opcua_attribute_updates_different_types.json", "opcua_different_types_attributes_update_values.json", "opcua_different_types_attributes_update_default_values.json"},
		{"opcua_attribute_updates_foreign_device_node.json", "opcua_foreign_device_nodes.json", "opcua_foreign_device_nodes_default_values.json"},
	}
	b := startBlackbox(t)
	p := startOPCUAPeer(t, b)
	for i, tc := range cases {
		device := caseDevice(fmt.Sprint(i))
		b.pushOPCUA(p, "attrs_update_configs/"+tc.config, device)
		b.waitKeys(tc.config+": the nodes read", device, readValues(t, corpusFile(opcuaBlackbox, "test_values", "attrs_update", tc.values)))
		for _, values := range []string{tc.defaults, tc.values} {
			want := readValues(t, corpusFile(opcuaBlackbox, "test_values", "attrs_update", values))
			if err := b.emu.SetSharedAttributes(device, want); err != nil {
				t.Fatal(err)
			}
			b.waitValues(tc.config+": "+values+" at ThingsBoard", device, want)
		}
	}
}

// TestRemotePythonBlackboxOPCUARPC runs the Python blackbox OPC-UA RPC cases through ThingsBoard's RPC API, each
// config pushed to the gateway first: "get" of a node (absolute path, relative path, node id, a node of another
// device) returns the corpus default, "set" returns the corpus value, a "get" then returns it and ThingsBoard
// holds it; the node is set back to its default afterwards, as their suite restores it. Then the corpus'
// "multiply" method with its configured arguments and with arguments from the request.
func TestRemotePythonBlackboxOPCUARPC(t *testing.T) {
	cases := []struct{ config, values, defaults, node string }{
		{"opcua_rpc_absolute_path.json", "opcua_rpc_full_path_values.json", "opcua_rpc_full_path_default_values.json", `Root\.Objects\.TempSensor\.Pressure`},
		{"opcua_rpc_relative_path.json", "opcua_rpc_relative_path_values.json", "opcua_rpc_relative_path_default_values.json", `Pressure`},
		{"opcua_rpc_identifier.json", "opcua_rpc_identifier_values.json", "opcua_rpc_identifier_default_values.json", `ns=3;i=9`},
		{"opcua_rpc_foreign_node.json", "opcua_rpc_foreign_path_values.json", "opcua_rpc_foreign_path_default_values.json", `Root\.Objects\.TempSensor_G\.Humidity`},
	}
	b := startBlackbox(t)
	p := startOPCUAPeer(t, b)
	for i, tc := range cases {
		device := caseDevice(fmt.Sprint(i))
		b.pushOPCUA(p, "rpc_configs/"+tc.config, device)
		defaults := readValues(t, corpusFile(opcuaBlackbox, "test_values", "rpc", tc.defaults))
		want := readValues(t, corpusFile(opcuaBlackbox, "test_values", "rpc", tc.values))
		b.waitValues(tc.config+": the defaults at ThingsBoard", device, defaults)
		for key, def := range defaults {
			if got := b.rpcResult(device, "get", tc.node+";")["value"]; !blackbox.Same(def, got) {
				t.Errorf("%s: get %s before set = %v, want %v", tc.config, tc.node, got, def)
			}
			if got := b.rpcResult(device, "set", fmt.Sprintf("%s; %v", tc.node, want[key]))["value"]; !blackbox.Same(want[key], got) {
				t.Errorf("%s: set %s: result.value %v, want %v", tc.config, tc.node, got, want[key])
			}
			if got := b.rpcResult(device, "get", tc.node)["value"]; !blackbox.Same(want[key], got) {
				t.Errorf("%s: get %s after set = %v, want %v", tc.config, tc.node, got, want[key])
			}
			b.waitValues(tc.config+": the set value at ThingsBoard", device, want)
			b.rpcResult(device, "set", fmt.Sprintf("%s; %v", tc.node, def))
			b.waitValues(tc.config+": the default set back at ThingsBoard", device, defaults)
		}
	}

	device := caseDevice("multiply")
	b.pushOPCUA(p, "rpc_configs/opcua_rpc_multiply.json", device)
	b.waitKeys("multiply: the node read", device, map[string]any{"Pressure": nil})
	for _, c := range []struct {
		params any
		want   float64
	}{
		{nil, 20}, // the configured arguments 5 and 4
		{[]any{3, 7}, 21},
		{map[string]any{"arguments": []any{map[string]any{"type": "integer", "value": 6}, 2}}, 12},
	} {
		if got := b.rpcResult(device, "multiply", c.params)["result"]; !blackbox.Same(c.want, got) {
			t.Errorf("multiply %v: result.result %v, want %v", c.params, got, c.want)
		}
	}
}
