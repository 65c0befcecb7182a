package blackbox

import (
	"fmt"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

// The corpus' report-strategy cases read input registers 0-25 of unit 2 with a device-level reportStrategy. The
// scenarios watch "16uint_read" (input registers 18-19) and the config gets one more key (ReportEdit):
// "witness", the same register with a key-level ON_RECEIVED strategy. The witness and the watched key come from
// the same poll in the same record, so "the witness holds n more values" means "n more polls were filtered",
// which lets a scenario check that a value was not forwarded without waiting for a time.
const (
	ReportKey     = "16uint_read"
	ReportWitness = "witness"
	reportAddr    = 18
	// ReportPollMs is the poll period the scenarios' configs get.
	ReportPollMs = 20
	// reportLongPeriod is a report period no run reaches: only values forwarded on receipt or change arrive.
	reportLongPeriod = 3600_000
	// reportShortPeriod is the re-send period of the runs that watch timestamps move.
	reportShortPeriod = 100
	// ReportBefore and reportAfter are the watched register's value before and after a change; both bytes are
	// equal, so they read the same under either byte order.
	ReportBefore, reportAfter = 0x0101, 0x0202
)

// ReportCase is one report-strategy scenario: the corpus config file (under configs/), the report period it
// runs with (0: the file's) and what it checks once a gateway polls the watched register of Bank, which holds
// ReportBefore when the case starts.
type ReportCase struct {
	Name     string
	File     string
	PeriodMs int
	Check    func(r ReportRun)
}

// ReportCases are the corpus' report-strategy cases: ON_RECEIVED, ON_CHANGE, ON_REPORT_PERIOD and
// ON_CHANGE_OR_REPORT_PERIOD, the period strategies once re-sending every period and once with a change.
var ReportCases = []ReportCase{
	{"on_received", reportFile + "on_received.json", 0, ReportRun.moving},
	{"on_change", reportFile + "on_change.json", 0, ReportRun.onChange},
	{"on_report_period/period", reportFile + "on_report_period.json", reportShortPeriod, ReportRun.moving},
	{"on_report_period/change_waits_for_period", reportFile + "on_report_period.json", reportLongPeriod, ReportRun.changeWaitsForPeriod},
	{"on_change_or_report_period/period", reportFile + reportOrPeriod, reportShortPeriod, ReportRun.moving},
	{"on_change_or_report_period/change", reportFile + reportOrPeriod, reportLongPeriod, ReportRun.changeAtOnce},
}

const (
	reportFile     = "initial_modbus_uplink_converter_report_strategy_"
	reportOrPeriod = "on_change_or_report_period_on_period_factor.json"
)

// Edit returns the slave edit of the case for ModbusConfig: the report period and the witness key.
func (c ReportCase) Edit(slave map[string]any) {
	if c.PeriodMs > 0 {
		slave["reportStrategy"].(map[string]any)["reportPeriod"] = c.PeriodMs
	}
	ts, _ := slave["timeseries"].([]any)
	slave["timeseries"] = append(ts, map[string]any{
		"tag": ReportWitness, "type": "16uint", "functionCode": 4, "objectsCount": 1, "address": reportAddr,
		"reportStrategy": map[string]any{"type": "ON_RECEIVED"},
	})
}

// SetWatched sets the watched register of bank to v.
func SetWatched(bank *modbus.Bank, v uint16) {
	bank.SetRegisters(modbus.CorpusUnit, modbus.InputRegisters, reportAddr, []uint16{v, v})
}

// ReportRun is one gateway polling Bank for Device, seen at Env's emulator.
type ReportRun struct {
	T      *testing.T
	Env    *gwtest.Env
	Device string
	Bank   *modbus.Bank
}

// values waits until the device's key holds at least n values and returns them.
func (r ReportRun) values(key string, n int) []tbemu.TSValue {
	r.T.Helper()
	return r.Env.WaitTelemetry(r.Device, key, n)
}

func (r ReportRun) count(key string) int { return len(r.Env.Emu.Telemetry(r.Device, key)) }

// witnessPolls waits until the witness holds n more values than now: n more polls went through the filter.
func (r ReportRun) witnessPolls(n int) {
	r.T.Helper()
	r.values(ReportWitness, r.count(ReportWitness)+n)
}

// witnessSees waits until a poll has read the witness register as v.
func (r ReportRun) witnessSees(v uint16) {
	r.T.Helper()
	r.Env.WaitFor(fmt.Sprintf("the witness to read %d", v), func() bool {
		l, ok := r.Env.Emu.Latest(r.Device)[ReportWitness]
		return ok && Same(float64(v), l.Value)
	})
}

// moving: while the register stays the same, the values are all the same and their timestamps strictly
// increase (every poll forwarded, or the cached value re-sent every period).
func (r ReportRun) moving() {
	r.T.Helper()
	vals := r.values(ReportKey, 4)
	for i := 1; i < len(vals); i++ {
		if !Same(vals[0].Value, vals[i].Value) {
			r.T.Errorf("value %d is %v, want %v (the register did not change)", i, vals[i].Value, vals[0].Value)
		}
		if vals[i].TS <= vals[i-1].TS {
			r.T.Errorf("timestamp %d is %d, not after %d: it must move while the register stays the same", i, vals[i].TS, vals[i-1].TS)
		}
	}
}

// onChange: the first value is forwarded, then nothing while the register stays the same, then the changed
// value with a later timestamp, then nothing again.
func (r ReportRun) onChange() {
	r.T.Helper()
	r.changeAtOnce()
	r.witnessPolls(5)
	if vals := r.Env.Emu.Telemetry(r.Device, ReportKey); len(vals) != 2 {
		r.T.Errorf("%d values after 5 more polls of an unchanged register, want 2: %v", len(vals), vals)
	}
}

// changeAtOnce: the first value is forwarded, nothing while the register stays the same (no period reached),
// and a change at once with a later timestamp.
func (r ReportRun) changeAtOnce() {
	r.T.Helper()
	r.values(ReportKey, 1)
	r.witnessPolls(5)
	if vals := r.Env.Emu.Telemetry(r.Device, ReportKey); len(vals) != 1 {
		r.T.Fatalf("%d values after 5 polls of an unchanged register, want 1: %v", len(vals), vals)
	}
	SetWatched(r.Bank, reportAfter)
	vals := r.values(ReportKey, 2)
	if Same(vals[0].Value, vals[1].Value) || vals[1].TS <= vals[0].TS {
		r.T.Errorf("after the change: %v, want a new value with a later timestamp", vals)
	}
}

// changeWaitsForPeriod: with a period no run reaches, a change is not forwarded.
func (r ReportRun) changeWaitsForPeriod() {
	r.T.Helper()
	r.values(ReportKey, 1)
	SetWatched(r.Bank, reportAfter)
	r.witnessSees(reportAfter)
	r.witnessPolls(3)
	if vals := r.Env.Emu.Telemetry(r.Device, ReportKey); len(vals) != 1 {
		r.T.Errorf("ON_REPORT_PERIOD forwarded a change before its period: %v", vals)
	}
}
