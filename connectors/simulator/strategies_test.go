package simulator

import (
	"testing"
)

func TestReportStrategies(t *testing.T) {
	cfg, _, err := Decode("sim.json", []byte(`{"devices":[
		{"deviceName":"A","reportStrategy":{"type":"ON_CHANGE"},
		 "timeseries":[{"key":"t","type":"counter","reportStrategy":{"type":"ON_REPORT_PERIOD","reportPeriod":500}},{"key":"u","type":"bool"}]},
		{"deviceName":"B","timeseries":[{"key":"v","type":"bool"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rules := New(cfg, nil).ReportStrategies()
	if len(rules) != 2 {
		t.Fatalf("got %d rules, want 2: %+v", len(rules), rules)
	}
	if r := rules[0]; r.Device != "A" || r.Key != "" || string(r.Config) != `{"type":"ON_CHANGE"}` {
		t.Errorf("device rule: %+v", r)
	}
	if r := rules[1]; r.Device != "A" || r.Key != "t" || string(r.Config) != `{"reportPeriod":500,"type":"ON_REPORT_PERIOD"}` {
		t.Errorf("key rule: %+v (config %s)", r, r.Config)
	}
}
