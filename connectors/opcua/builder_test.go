package opcua

import (
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestRecordBuilderSplitsRepeatedKeys: a key read twice in one batch goes to a second record (the runtime stamps
// each record once, so both readings keep their own timestamp); device-timed readings stay in one record.
func TestRecordBuilderSplitsRepeatedKeys(t *testing.T) {
	d := &device{name: "D", typ: "T"}
	a := &item{dev: d, spec: &keySpec{key: "a"}}
	b := &item{dev: d, spec: &keySpec{key: "b"}}
	attr := &item{dev: d, spec: &keySpec{key: "s", attr: true}}
	var rb recordBuilder
	rb.add(a, int64(1), 0)
	rb.add(a, int64(2), 0)
	rb.add(b, int64(10), 0)
	rb.add(b, int64(11), 0)
	rb.add(a, int64(3), 0)
	rb.add(attr, "x", 0)
	rb.add(a, int64(7), 1000)
	rb.add(a, int64(8), 2000)
	recs := rb.records("C", d)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	want := [][]tbgateway.Telemetry{
		{{TS: 0, Values: map[string]any{"a": int64(1), "b": int64(10)}}, {TS: 1000, Values: map[string]any{"a": int64(7)}}, {TS: 2000, Values: map[string]any{"a": int64(8)}}},
		{{TS: 0, Values: map[string]any{"a": int64(2), "b": int64(11)}}},
		{{TS: 0, Values: map[string]any{"a": int64(3)}}},
	}
	for i, r := range recs {
		if r.Device != "D" || r.DeviceType != "T" || r.Connector != "C" || r.Kind != tbgateway.KindData {
			t.Errorf("record %d header %+v", i, r)
		}
		if mustJSON(r.Telemetry) != mustJSON(want[i]) {
			t.Errorf("record %d telemetry %s, want %s", i, mustJSON(r.Telemetry), mustJSON(want[i]))
		}
	}
	if recs[0].Attributes["s"] != "x" {
		t.Errorf("attribute: %v", recs[0].Attributes)
	}
}
