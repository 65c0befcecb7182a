package runtime_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/tbemu"
)

// durableStorages are the "storage" sections of the durable storage types, run by the tests below.
func durableStorages() map[string]map[string]any {
	return map[string]map[string]any{
		"sqlite": {"type": "sqlite", "data_file_path": "./data/"},
		"file":   {"type": "file", "data_folder_path": "./data/"},
	}
}

// TestE2EDurableStorageSurvivesRestart: while ThingsBoard is unreachable, records accepted by Send are kept in
// durable storage; a new gateway process on the same folder delivers every one of them, in order per device.
func TestE2EDurableStorageSurvivesRestart(t *testing.T) {
	for name, storage := range durableStorages() {
		t.Run(name, func(t *testing.T) {
			e := newE2E(t)
			p := newProbe(t, "probe")
			first := e.start(setup{connectors: []connSpec{p.conn()}, storage: storage})
			e.emu.RefuseConnections(time.Hour)
			e.emu.DropConnections()
			const n = 300
			for i := int64(1); i <= n; i++ {
				dev := "dev-a"
				if i%2 == 0 {
					dev = "dev-b"
				}
				p.send(t, e.ctx, tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: 1000 + i, Values: map[string]any{"seq": i}}}})
			}
			first.stop()
			e.emu.RefuseConnections(0)
			e.start(setup{connectors: []connSpec{p.conn()}, storage: storage})
			e.waitFor("every record accepted while offline", func() bool {
				return len(e.emu.Telemetry("dev-a", "seq"))+len(e.emu.Telemetry("dev-b", "seq")) == n
			})
			checkArrivalOrder(t, e.emu.Messages())
		})
	}
}

// checkArrivalOrder checks, in the emulator's raw log, that each device's "seq" values arrived in increasing
// order (repeats of the last value allowed: they are in-flight redeliveries) and that every value is an integer.
func checkArrivalOrder(t *testing.T, msgs []tbemu.Message) {
	t.Helper()
	last := map[string]int64{}
	for _, m := range msgs {
		if m.Topic != "v1/gateway/telemetry" || m.Reason >= 0x80 {
			continue
		}
		var body map[string][]struct {
			TS     int64
			Values map[string]json.Number
		}
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("raw log message %d: %v", m.Seq, err)
		}
		for dev, entries := range body {
			for _, en := range entries {
				num, ok := en.Values["seq"]
				if !ok {
					continue
				}
				seq, err := num.Int64()
				if err != nil {
					t.Fatalf("%s: seq %q is not an integer", dev, num)
				}
				if seq < last[dev] {
					t.Fatalf("%s: seq %d arrived after %d", dev, seq, last[dev])
				}
				last[dev] = seq
			}
		}
	}
}
