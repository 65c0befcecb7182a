package runtime

import (
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
)

func TestStamperStrictlyIncreasingPerDevice(t *testing.T) {
	s := NewStamper()
	now := time.UnixMilli(1_700_000_000_000)
	var got []int64
	for i := 0; i < 5; i++ {
		r := tbgateway.Record{Device: "A", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(i)}}, {Values: map[string]any{"h": int64(i)}}}}
		s.Stamp(&r, now) // the same millisecond every time
		if r.Telemetry[0].TS != r.Telemetry[1].TS {
			t.Fatalf("one message got two timestamps: %d and %d", r.Telemetry[0].TS, r.Telemetry[1].TS)
		}
		got = append(got, r.Telemetry[0].TS)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("timestamps not strictly increasing by one within one millisecond: %v", got)
		}
	}
	other := tbgateway.Record{Device: "B", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(1)}}}}
	s.Stamp(&other, now)
	if other.Telemetry[0].TS != now.UnixMilli() {
		t.Fatalf("device B was pushed by device A's stamps: %d", other.Telemetry[0].TS)
	}
}

func TestStamperKeepsDeviceTimestamps(t *testing.T) {
	s := NewStamper()
	r := tbgateway.Record{Device: "A", Telemetry: []tbgateway.Telemetry{{TS: 42, Values: map[string]any{"t": 1.5}}, {Values: map[string]any{"t": 2.5}}}}
	s.Stamp(&r, time.UnixMilli(1000))
	if r.Telemetry[0].TS != 42 || r.Telemetry[1].TS != 1000 {
		t.Fatalf("got %d, %d; want 42 (device's own) and 1000 (stamped)", r.Telemetry[0].TS, r.Telemetry[1].TS)
	}
}
