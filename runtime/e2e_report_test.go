package runtime_test

import (
	"testing"

	_ "github.com/tbgateway/tbgateway/connectors/simulator"
)

// TestE2EReportStrategyLevels runs the simulator with a connector-wide ON_CHANGE strategy, one device that
// overrides it with ON_RECEIVED, and one key of that device set back to ON_CHANGE: constant values are forwarded
// once under ON_CHANGE and every time under ON_RECEIVED, so the most specific level must win.
func TestE2EReportStrategyLevels(t *testing.T) {
	e := newE2E(t)
	sim := connSpec{Type: "simulator", Name: "sim", Conf: map[string]any{
		"reportStrategy": map[string]any{"type": "ON_CHANGE"},
		"devices": []any{
			map[string]any{
				"deviceName": "levels", "periodMs": 1,
				"reportStrategy": map[string]any{"type": "ON_RECEIVED"},
				"timeseries": []any{
					map[string]any{"key": "everyTime", "type": "constant", "value": 1},
					map[string]any{"key": "once", "type": "constant", "value": 2, "reportStrategy": map[string]any{"type": "ON_CHANGE"}},
				},
			},
			map[string]any{
				"deviceName": "connectorLevel", "periodMs": 1,
				"timeseries": []any{map[string]any{"key": "c", "type": "constant", "value": 3}},
			},
		},
	}}
	e.start(setup{connectors: []connSpec{sim}})
	e.waitFor("ten readings of the ON_RECEIVED key", func() bool { return len(e.emu.Telemetry("levels", "everyTime")) >= 10 })
	e.waitFor("the connector-level device", func() bool { return len(e.emu.Telemetry("connectorLevel", "c")) >= 1 })
	if n := len(e.emu.Telemetry("levels", "once")); n != 1 {
		t.Errorf("key-level ON_CHANGE: %d values stored, want 1", n)
	}
	if n := len(e.emu.Telemetry("connectorLevel", "c")); n != 1 {
		t.Errorf("connector-level ON_CHANGE: %d values stored, want 1", n)
	}
}
