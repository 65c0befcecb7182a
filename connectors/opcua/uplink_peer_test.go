package opcua

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// asTB renders a record value as ThingsBoard's REST API returns it (the corpus' test_values are strings).
func asTB(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return fmt.Sprint(x)
	case int64:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case tbgateway.RawJSON:
		return string(x)
	}
	return fmt.Sprint(v)
}

func readExpected(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// TestCorpusUplink runs every corpus uplink config against node-opcua, by subscription and by polling, and
// checks the values ThingsBoard would hold.
func TestCorpusUplink(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	cases := []struct{ config, expected string }{
		{"opcua_uplink_converter_absolute_path.json", "different_paths_finding_methods_values.json"},
		{"opcua_uplink_converter_relative_path.json", "different_paths_finding_methods_values.json"},
		{"opcua_uplink_converter_relative_path_with_identifier_device_node.json", "different_paths_finding_methods_values.json"},
		{"opcua_uplink_converter_identifier.json", "different_identifier_finding_methods_values.json"},
		{"opcua_uplink_converter_different_types.json", "different_types_finding_methods_values.json"},
	}
	for _, mode := range []string{"subscription", "polling"} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.config, func(t *testing.T) {
				ctx := testContext(t)
				cfg := corpusConfig(t, "corpus/configs/uplink_configs/"+tc.config, p.URL)
				if mode == "polling" {
					off := false
					cfg.Server.EnableSubscriptions = &off
					cfg.Server.PollPeriodInMillis = 100
				}
				sink := newSink()
				runConnector(t, ctx, cfg, sink)
				want := readExpected(t, "corpus/test_values/uplink/"+tc.expected)
				sink.waitFor(t, ctx, "corpus values", func(recs []tbgateway.Record) bool {
					got, _, _, _ := latestOf(recs, "Temp Sensor")
					for k, w := range want {
						if v, ok := got[k]; !ok || asTB(v) != w {
							return false
						}
					}
					return true
				})
				got, _, connects, _ := latestOf(sink.Records(), "Temp Sensor")
				if connects != 1 {
					t.Errorf("connect records: %d, want 1", connects)
				}
				if _, isBool := got["Alarm"].(bool); !isBool {
					t.Errorf("Alarm = %#v, want a bool", got["Alarm"])
				}
			})
		}
	}
}
