package runtime_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/runtime"
)

// TestE2EBadConnectorFileOthersRun: a config folder with a valid simulator and a Modbus file the gateway cannot
// run (an ASCII serial line). The gateway starts, the simulator's data reaches ThingsBoard, and the Modbus
// connector is logged once as failed and reported failed with its file and key, both in gateway_stats and in the
// statistics telemetry.
func TestE2EBadConnectorFileOthersRun(t *testing.T) {
	e := newE2E(t)
	logs, log := newLogBuffer()
	var sim, bad map[string]any
	if err := json.Unmarshal([]byte(goodSimulator), &sim); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(badModbus), &bad); err != nil {
		t.Fatal(err)
	}
	e.start(setup{
		connectors: []connSpec{{Type: "simulator", Name: "sim", Conf: sim}, {Type: "modbus", Name: "line", Conf: bad}},
		tb:         map[string]any{"statistics": map[string]any{"enable": true, "statsSendPeriodInSeconds": 60}},
		opts:       runtime.Options{Logger: log, StatisticsPeriod: 20 * time.Millisecond},
	})
	e.waitFor("the simulator's data", func() bool { return len(e.emu.Telemetry("sim-device", "t")) > 0 })

	st := gatewayRPC[runtime.Stats](e, "gateway_stats", nil).Resp.Connectors
	if s := st["line"]; s.State != runtime.StateFailed || !strings.Contains(s.Error, "line.json") || !strings.Contains(s.Error, badModbusError) {
		t.Errorf("gateway_stats for the bad connector: %+v; want failed, naming line.json and %q", s, badModbusError)
	}
	if s := st["sim"]; s.State != runtime.StateRunning || s.RecordsStored == 0 {
		t.Errorf("gateway_stats for the simulator: %+v", s)
	}

	var state, reason string
	e.waitFor("the bad connector in the statistics telemetry", func() bool {
		for _, pt := range e.emu.Telemetry(gwName, "connectorsStats") {
			raw, _ := pt.Value.(json.RawMessage)
			var m map[string]struct{ State, Error string }
			if json.Unmarshal(raw, &m) == nil && m["line"].State != "" {
				state, reason = m["line"].State, m["line"].Error
				return true
			}
		}
		return false
	})
	if state != runtime.StateFailed || !strings.Contains(reason, badModbusError) {
		t.Errorf("connectorsStats for the bad connector: state %q, error %q", state, reason)
	}

	failures := 0
	for _, l := range logs.lines(t) {
		if l["connector"] == "line" && l["level"] == "ERROR" {
			failures++
		}
	}
	if failures != 1 {
		t.Errorf("the bad connector was logged as failed %d times, want once", failures)
	}
}
