package mqtt

import (
	"log/slog"
	"testing"
)

// TestRPCFilterSearch: deviceNameFilter and methodFilter are searched anywhere in the name (Python's re.search),
// not anchored at its start.
func TestRPCFilterSearch(t *testing.T) {
	raw := `{"broker": {"host": "127.0.0.1"}, "requestsMapping": {"serverSideRpc": [
		{"deviceNameFilter": "SN", "methodFilter": "Relay", "requestTopicExpression": "a", "valueExpression": "v"},
		{"deviceNameFilter": "^pump-\\d+$", "methodFilter": "^start$", "requestTopicExpression": "b", "valueExpression": "v"},
		{"deviceNameFilter": ".*", "methodFilter": "(?<=get)State", "requestTopicExpression": "c", "valueExpression": "v"}]}}`
	cfg, _, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ device, method, want string }{
		{"SN-1", "setRelay", "a"},     // method matches in the middle
		{"Boiler-SN-7", "Relay", "a"}, // device name matches in the middle
		{"boiler", "setRelay", ""},    // the device filter is not in the name
		{"pump-12", "start", "b"},     // anchors still anchor
		{"pump-12a", "start", ""},     // ... and refuse
		{"my-pump-12", "start", ""},   // ^ is the start of the name
		{"x", "getStateNow", "c"},     // lookbehind inside the method
		{"x", "State", ""},            // lookbehind not satisfied
	} {
		r := c.c.rpcRule(tc.device, tc.method)
		got := ""
		if r != nil {
			got = r.cfg.RequestTopicExpression
		}
		if got != tc.want {
			t.Errorf("device %q method %q: rule %q, want %q", tc.device, tc.method, got, tc.want)
		}
	}
}
