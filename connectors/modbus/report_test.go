package modbus_test

import (
	"fmt"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/tbemu"
)

// The corpus' report-strategy cases read input registers 0-25 of unit 2 with a device-level reportStrategy. The
// tests watch "16uint_read" (input registers 18-19) and add one key to the corpus config: "witness", the same
// register with a key-level ON_RECEIVED strategy. The witness and the watched key come from the same poll in the
// same record, so "the witness holds n more values" means "n more polls were filtered", which lets a test check
// that a value was not forwarded without waiting for a time.
const (
	rsKey     = "16uint_read"
	rsWitness = "witness"
	rsAddr    = 18
	// rsLongPeriod is a report period no test run reaches: only values forwarded on receipt or change arrive.
	rsLongPeriod = 3600_000
	// rsShortPeriod is the re-send period of the runs that watch timestamps move.
	rsShortPeriod = 100
	// rsBefore and rsAfter are the watched register's value before and after a change; both bytes are equal, so
	// they read the same under either byte order.
	rsBefore, rsAfter = 0x0101, 0x0202
)

// startReportCase serves the corpus register map with rsAddr set to v, and runs a gateway with the corpus config
// file polling every 20 ms; periodMs > 0 replaces the config's reportPeriod.
func startReportCase(t *testing.T, file string, periodMs int, v uint16) (*gateway, *modbus.Bank) {
	t.Helper()
	bank, srv := startCorpusServer(t)
	setWatched(bank, v)
	cfg := corpusConfig(t, file, srv.Addr(), 20, func(s map[string]any) {
		if periodMs > 0 {
			s["reportStrategy"].(map[string]any)["reportPeriod"] = periodMs
		}
		s["timeseries"] = append(s["timeseries"].([]any), map[string]any{
			"tag": rsWitness, "type": "16uint", "functionCode": 4, "objectsCount": 1, "address": rsAddr,
			"reportStrategy": map[string]any{"type": "ON_RECEIVED"},
		})
	})
	return startGateway(t, cfg), bank
}

func setWatched(bank *modbus.Bank, v uint16) {
	bank.SetRegisters(modbus.CorpusUnit, modbus.InputRegisters, rsAddr, []uint16{v, v})
}

// values waits until device's key holds at least n values and returns them.
func (g *gateway) values(key string, n int) []tbemu.TSValue {
	g.T.Helper()
	var got []tbemu.TSValue
	g.WaitFor(fmt.Sprintf("%d values of %s", n, key), func() bool {
		got = g.Emu.Telemetry(device, key)
		return len(got) >= n
	})
	return got
}

// witnessPolls waits until the witness holds n more values than now: n more polls went through the filter.
func (g *gateway) witnessPolls(n int) {
	g.T.Helper()
	g.values(rsWitness, len(g.Emu.Telemetry(device, rsWitness))+n)
}

// witnessSees waits until a poll has read the witness register as v.
func (g *gateway) witnessSees(v uint16) {
	g.T.Helper()
	g.WaitFor(fmt.Sprintf("the witness to read %d", v), func() bool {
		l, ok := g.Emu.Latest(device)[rsWitness]
		return ok && same(float64(v), l.Value)
	})
}

// checkMoving checks that the values are all the same while their timestamps strictly increase.
func checkMoving(t *testing.T, vals []tbemu.TSValue) {
	t.Helper()
	for i := 1; i < len(vals); i++ {
		if !same(vals[0].Value, vals[i].Value) {
			t.Errorf("value %d is %v, want %v (the register did not change)", i, vals[i].Value, vals[0].Value)
		}
		if vals[i].TS <= vals[i-1].TS {
			t.Errorf("timestamp %d is %d, not after %d: it must move while the register stays the same", i, vals[i].TS, vals[i-1].TS)
		}
	}
}

const rsFile = "initial_modbus_uplink_converter_report_strategy_"

// TestCorpusReportStrategyOnReceived: every poll is forwarded, so the timestamp moves while the register stays
// the same.
func TestCorpusReportStrategyOnReceived(t *testing.T) {
	g, _ := startReportCase(t, rsFile+"on_received.json", 0, rsBefore)
	checkMoving(t, g.values(rsKey, 4))
}

// TestCorpusReportStrategyOnChange: the first value is forwarded, then nothing while the register stays the same
// (the timestamp does not move), then the changed value with a later timestamp.
func TestCorpusReportStrategyOnChange(t *testing.T) {
	g, bank := startReportCase(t, rsFile+"on_change.json", 0, rsBefore)
	g.values(rsKey, 1)
	g.witnessPolls(5)
	first := g.Emu.Telemetry(device, rsKey)
	if len(first) != 1 {
		t.Fatalf("%d values after 5 polls of an unchanged register, want 1: %v", len(first), first)
	}
	setWatched(bank, rsAfter)
	vals := g.values(rsKey, 2)
	if same(vals[0].Value, vals[1].Value) || vals[1].TS <= vals[0].TS {
		t.Errorf("after the change: %v, want a new value with a later timestamp", vals)
	}
	g.witnessPolls(5)
	if vals := g.Emu.Telemetry(device, rsKey); len(vals) != 2 {
		t.Errorf("%d values after 5 more polls of an unchanged register, want 2: %v", len(vals), vals)
	}
}

// TestCorpusReportStrategyOnReportPeriod: the cached value is re-sent every period with a new timestamp while the
// register stays the same; a change waits for the next period (checked with a period no run reaches).
func TestCorpusReportStrategyOnReportPeriod(t *testing.T) {
	t.Run("period", func(t *testing.T) {
		g, _ := startReportCase(t, rsFile+"on_report_period.json", rsShortPeriod, rsBefore)
		checkMoving(t, g.values(rsKey, 4))
	})
	t.Run("change_waits_for_period", func(t *testing.T) {
		g, bank := startReportCase(t, rsFile+"on_report_period.json", rsLongPeriod, rsBefore)
		g.values(rsKey, 1)
		setWatched(bank, rsAfter)
		g.witnessSees(rsAfter)
		g.witnessPolls(3)
		if vals := g.Emu.Telemetry(device, rsKey); len(vals) != 1 {
			t.Errorf("ON_REPORT_PERIOD forwarded a change before its period: %v", vals)
		}
	})
}

// TestCorpusReportStrategyOnChangeOrReportPeriod: re-sent every period with a new timestamp while the register
// stays the same, and a change is forwarded at once (checked with a period no run reaches).
func TestCorpusReportStrategyOnChangeOrReportPeriod(t *testing.T) {
	const file = rsFile + "on_change_or_report_period_on_period_factor.json"
	t.Run("period", func(t *testing.T) {
		g, _ := startReportCase(t, file, rsShortPeriod, rsBefore)
		checkMoving(t, g.values(rsKey, 4))
	})
	t.Run("change", func(t *testing.T) {
		g, bank := startReportCase(t, file, rsLongPeriod, rsBefore)
		g.values(rsKey, 1)
		g.witnessPolls(5)
		if vals := g.Emu.Telemetry(device, rsKey); len(vals) != 1 {
			t.Fatalf("%d values of an unchanged register before the period, want 1: %v", len(vals), vals)
		}
		setWatched(bank, rsAfter)
		vals := g.values(rsKey, 2)
		if same(vals[0].Value, vals[1].Value) || vals[1].TS <= vals[0].TS {
			t.Errorf("after the change: %v, want a new value with a later timestamp", vals)
		}
	})
}
