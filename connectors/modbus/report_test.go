package modbus_test

import (
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/internal/blackbox"
)

// runReportCases runs the corpus' report-strategy cases named prefix or prefix/<subtest> (see
// internal/blackbox.ReportCases), each on its own server and gateway started with the config as a file.
func runReportCases(t *testing.T, prefix string) {
	for _, c := range blackbox.ReportCases {
		sub, found := strings.CutPrefix(c.Name, prefix+"/")
		if !found && c.Name != prefix {
			continue
		}
		t.Run(sub, func(t *testing.T) {
			bank, srv := blackbox.StartCorpusServer(t)
			blackbox.SetWatched(bank, blackbox.ReportBefore)
			g := startGateway(t, corpusConfig(t, c.File, srv.Addr(), blackbox.ReportPollMs, c.Edit))
			c.Check(blackbox.ReportRun{T: t, Env: g.Env, Device: device, Bank: bank})
		})
	}
}

// TestCorpusReportStrategyOnReceived: every poll is forwarded, so the timestamp moves while the register stays
// the same.
func TestCorpusReportStrategyOnReceived(t *testing.T) { runReportCases(t, "on_received") }

// TestCorpusReportStrategyOnChange: the first value is forwarded, then nothing while the register stays the same
// (the timestamp does not move), then the changed value with a later timestamp.
func TestCorpusReportStrategyOnChange(t *testing.T) { runReportCases(t, "on_change") }

// TestCorpusReportStrategyOnReportPeriod: the cached value is re-sent every period with a new timestamp while the
// register stays the same (subtest period); a change waits for the next period (change_waits_for_period,
// checked with a period no run reaches).
func TestCorpusReportStrategyOnReportPeriod(t *testing.T) { runReportCases(t, "on_report_period") }

// TestCorpusReportStrategyOnChangeOrReportPeriod: re-sent every period with a new timestamp while the register
// stays the same (period), and a change is forwarded at once (change, checked with a period no run reaches).
func TestCorpusReportStrategyOnChangeOrReportPeriod(t *testing.T) {
	runReportCases(t, "on_change_or_report_period")
}
