package opcua

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// waitConnected waits until the connector has a live session with the device resolved.
func waitConnected(t *testing.T, ctx context.Context, sink *recSink, device string) {
	t.Helper()
	sink.waitFor(t, ctx, "device "+device+" connected", func(recs []tbgateway.Record) bool {
		_, data, connects, _ := latestOf(recs, device)
		return connects > 0 && data > 0
	})
}

// waitValues waits until the device's latest values, as ThingsBoard shows them, include want.
func waitValues(t *testing.T, ctx context.Context, sink *recSink, device string, want map[string]any) {
	t.Helper()
	sink.waitFor(t, ctx, "values "+mustJSON(want), func(recs []tbgateway.Record) bool {
		got, _, _, _ := latestOf(recs, device)
		for k, w := range want {
			if v, ok := got[k]; !ok || asTB(v) != asTB(w) {
				return false
			}
		}
		return true
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCorpusAttributeUpdates writes the corpus' shared attribute values through UpdateAttributes and checks that
// the nodes took them (seen back through the subscription), each converted to the node's data type.
func TestCorpusAttributeUpdates(t *testing.T) {
	cases := []struct{ config, values string }{
		{"opcua_attribute_updates_full_path.json", "opcua_full_path_attributes_update_values.json"},
		{"opcua_attribute_updates_relative_path.json", "opcua_relative_path_attributes_update_values.json"},
		{"opcua_attribute_updates_identifier.json", "opcua_identifier_attributes_update_values.json"},
		{"opcua_attribute_updates_different_types.json", "opcua_different_types_attributes_update_values.json"},
		{"opcua_attribute_updates_foreign_device_node.json", "opcua_foreign_device_nodes.json"},
	}
	for _, tc := range cases {
		t.Run(tc.config, func(t *testing.T) {
			p := startPeer(t, "nodemap.json")
			ctx := testContext(t)
			sink := newSink()
			c := runConnector(t, ctx, corpusConfig(t, "corpus/configs/attrs_update_configs/"+tc.config, p.URL), sink)
			waitConnected(t, ctx, sink, "Temp Sensor")
			values := readExpected(t, "corpus/test_values/attrs_update/"+tc.values)
			if err := c.UpdateAttributes(ctx, "Temp Sensor", values); err != nil {
				t.Fatalf("UpdateAttributes: %v", err)
			}
			waitValues(t, ctx, sink, "Temp Sensor", values)
		})
	}
}

func TestAttributeUpdateErrors(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	sink := newSink()
	c := runConnector(t, ctx, corpusConfig(t, "corpus/configs/attrs_update_configs/opcua_attribute_updates_different_types.json", p.URL), sink)
	waitConnected(t, ctx, sink, "Temp Sensor")
	if err := c.UpdateAttributes(ctx, "Temp Sensor", map[string]any{"Pressure_S": "not a number"}); err == nil ||
		!strings.Contains(err.Error(), "Pressure_S") {
		t.Errorf("writing text to a Double node: err = %v, want an error naming the key", err)
	}
	if err := c.UpdateAttributes(ctx, "Temp Sensor", map[string]any{"notConfigured": 1}); err != nil {
		t.Errorf("a key without attributes_updates entry must be ignored, got %v", err)
	}
	if err := c.UpdateAttributes(ctx, "Nobody", map[string]any{"Humidity": 1}); err == nil {
		t.Error("update for an unknown device: no error")
	}
}

func rpc(t *testing.T, ctx context.Context, c *Connector, device, method string, params any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(params)
	out, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Device: device, Method: method, Params: raw})
	if err != nil {
		t.Fatalf("RPC %s %s: %v", method, raw, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("RPC %s reply %s: %v", method, out, err)
	}
	return m
}

func resultField(t *testing.T, reply map[string]any, field string) any {
	t.Helper()
	r, ok := reply["result"].(map[string]any)
	if !ok {
		t.Fatalf("reply %v has no result object", reply)
	}
	return r[field]
}

// TestCorpusReservedRPC runs the corpus' set/get cases: absolute path, relative path, node id and a node of
// another device ("foreign"), each written with "set <node>; <value>" and read back with "get <node>".
func TestCorpusReservedRPC(t *testing.T) {
	cases := []struct {
		config, values, defaults, node string
	}{
		{"opcua_rpc_absolute_path.json", "opcua_rpc_full_path_values.json", "opcua_rpc_full_path_default_values.json", `Root\.Objects\.TempSensor\.Pressure`},
		{"opcua_rpc_relative_path.json", "opcua_rpc_relative_path_values.json", "opcua_rpc_relative_path_default_values.json", `Pressure`},
		{"opcua_rpc_identifier.json", "opcua_rpc_identifier_values.json", "opcua_rpc_identifier_default_values.json", `ns=3;i=9`},
		{"opcua_rpc_foreign_node.json", "opcua_rpc_foreign_path_values.json", "opcua_rpc_foreign_path_default_values.json", `Root\.Objects\.TempSensor_G\.Humidity`},
	}
	for _, tc := range cases {
		t.Run(tc.config, func(t *testing.T) {
			p := startPeer(t, "nodemap.json")
			ctx := testContext(t)
			sink := newSink()
			c := runConnector(t, ctx, corpusConfig(t, "corpus/configs/rpc_configs/"+tc.config, p.URL), sink)
			waitConnected(t, ctx, sink, "Temp Sensor")
			defaults := readExpected(t, "corpus/test_values/rpc/"+tc.defaults)
			want := readExpected(t, "corpus/test_values/rpc/"+tc.values)
			for key, def := range defaults {
				if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "get", tc.node+";"), "value"); got != def {
					t.Errorf("get %s before set = %#v, want %#v", tc.node, got, def)
				}
				if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "set", tc.node+"; "+want[key].(string)), "value"); got != want[key] {
					t.Errorf("set %s reply value = %#v, want %#v", tc.node, got, want[key])
				}
				if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "get", tc.node), "value"); asTB(got) != want[key] {
					t.Errorf("get %s after set = %#v, want %v", tc.node, got, want[key])
				}
				waitValues(t, ctx, sink, "Temp Sensor", want)
			}
		})
	}
}

// TestMethodRPC calls the corpus' "multiply" with configured arguments and with arguments from the request,
// and a method through the connector-wide RPC.
func TestMethodRPC(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	sink := newSink()
	c := runConnector(t, ctx, corpusConfig(t, "corpus/configs/rpc_configs/opcua_rpc_multiply.json", p.URL), sink)
	waitConnected(t, ctx, sink, "Temp Sensor")
	if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "multiply", nil), "result"); got != float64(20) {
		t.Errorf("multiply with configured arguments 5, 4 = %#v, want 20", got)
	}
	if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "multiply", []any{3, 7}), "result"); got != float64(21) {
		t.Errorf("multiply [3, 7] = %#v, want 21", got)
	}
	if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "multiply", map[string]any{"arguments": []any{map[string]any{"type": "integer", "value": 6}, 2}}), "result"); got != float64(12) {
		t.Errorf("multiply {arguments: [6, 2]} = %#v, want 12", got)
	}
	if _, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Device: "Temp Sensor", Method: "divide"}); err == nil {
		t.Error("a method not in rpc_methods must fail")
	}
	out, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Method: "multiply", Params: json.RawMessage(`{"arguments":[{"type":"integer","value":9},{"type":"integer","value":9}]}`)})
	if err != nil {
		t.Fatalf("connector RPC opcua_multiply: %v", err)
	}
	if string(out) != `{"result":{"Temp Sensor":81}}` {
		t.Errorf("connector RPC reply %s", out)
	}
}
