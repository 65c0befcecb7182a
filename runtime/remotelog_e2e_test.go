package runtime_test

// Remote logging through the emulator: the shared attribute RemoteLoggingLevel streams the gateway's logs as
// telemetry of the gateway device in the Python gateway's keys; logs_configuration changes the levels in place.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

// setRemoteLevel pushes RemoteLoggingLevel and waits for the gateway's echo.
func setRemoteLevel(e *e2e, level string) {
	e.t.Helper()
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"RemoteLoggingLevel": level}); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("RemoteLoggingLevel "+level+" echoed", func() bool {
		v, _ := e.emu.Attributes(gwName, tbemu.ScopeClient)["RemoteLoggingLevel"].(string)
		return v == level
	})
}

// logLines returns the gateway device's telemetry values of key that hold every part.
func logLines(e *e2e, key string, parts ...string) []string {
	var out []string
	for _, v := range e.emu.Telemetry(gwName, key) {
		s, _ := v.Value.(string)
		if holdsAll(s, parts) {
			out = append(out, s)
		}
	}
	return out
}

func holdsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// latestInt is the gateway device's latest numeric telemetry value of key.
func latestInt(e *e2e, key string) (int64, bool) {
	tv, ok := e.emu.Latest(gwName)[key]
	if !ok {
		return 0, false
	}
	switch n := tv.Value.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func TestRemoteLoggingStreamsLogsAsTelemetry(t *testing.T) {
	e := newE2E(t)
	broken := connSpec{Type: failType, Name: "Broken", Conf: map[string]any{"mode": "error", "enableRemoteLogging": true}}
	quiet := connSpec{Type: failType, Name: "Quiet", Conf: map[string]any{"mode": "error"}}
	// remoteConfiguration false: RemoteLoggingLevel is honoured all the same.
	gw := e.startLogged(setup{connectors: []connSpec{broken, quiet}, tb: map[string]any{"remoteConfiguration": false},
		opts: runtime.Options{ConnectorBackoff: backoff.Policy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}}})
	setRemoteLevel(e, "DEBUG")
	e.emu.DropConnections()
	e.waitFor("tb_connection lines after a reconnect", func() bool {
		return len(logLines(e, "CONNECTION_LOGS", "|INFO|<tb_connection>")) > 0
	})
	e.waitFor("the connector's errors", func() bool {
		return len(logLines(e, "Broken_LOGS", "|ERROR|<Broken>", "e2efail: deliberate failure")) > 0
	})
	e.waitFor("the service's line about the level", func() bool {
		return len(logLines(e, "SERVICE_LOGS", "|INFO|<service>", "RemoteLoggingLevel received")) > 0
	})
	svc := logLines(e, "SERVICE_LOGS")
	if all := logLines(e, "LOGS"); !slices.Contains(all, svc[0]) {
		t.Errorf("LOGS does not repeat the service line %q", svc[0])
	}
	e.waitFor("the error counters", func() bool {
		b, okB := latestInt(e, "Broken_ERRORS_COUNT")
		q, okQ := latestInt(e, "Quiet_ERRORS_COUNT")
		all, okA := latestInt(e, "ALL_ERRORS_COUNT")
		return okB && okQ && okA && b > 0 && q > 0 && all >= b+q
	})
	if keys := e.emu.Keys(gwName); slices.Contains(keys, "Quiet_LOGS") {
		t.Errorf("a connector without enableRemoteLogging streamed its lines: keys %v", keys)
	}
	if _, refused := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey]; refused {
		t.Error("RemoteLoggingLevel was refused with remoteConfiguration false")
	}

	// NONE stops every line: the failing connector goes on logging errors, the link reconnects, nothing is queued.
	setRemoteLevel(e, "NONE")
	before := gw.GW.RemoteLogStats().Lines
	fails := gw.Log.Count("e2efail: deliberate failure")
	e.emu.DropConnections()
	gw.WaitEvent(e.ctx, uplink.EventConnected)
	e.eventually("more connector failures", func() bool { return gw.Log.Count("e2efail: deliberate failure") > fails+2 })
	if after := gw.GW.RemoteLogStats().Lines; after != before {
		t.Errorf("%d lines queued for ThingsBoard after RemoteLoggingLevel NONE", after-before)
	}
}

func TestRemoteLoggingFloodIsBoundedAndDataFlows(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Flood")
	conn := p.conn()
	conn.Conf["enableRemoteLogging"] = true
	conn.Conf["logLevel"] = "TRACE"
	r := e.start(setup{connectors: []connSpec{conn}})
	setRemoteLevel(e, "TRACE")
	sink := p.Sink(t, e.ctx)
	const lines, records = 5000, 500
	for i := range lines {
		sink.Logger().Debug("flood", "i", i)
	}
	st := r.gw.RemoteLogStats()
	if st.Queued > 1000 || st.Dropped == 0 {
		t.Errorf("after %d lines at once: %+v, want at most 1000 queued and the rest dropped", lines, st)
	}
	var recs []tbgateway.Record
	for i := range records {
		recs = append(recs, dataRec("flood-dev", int64(i+1)))
	}
	p.send(t, e.ctx, recs...)
	e.WaitTelemetry("flood-dev", "v", records)
	// Every line ends up sent or dropped, counted once (a batch in flight is in neither yet).
	e.eventually("every line sent or dropped", func() bool {
		st = r.gw.RemoteLogStats()
		return st.Queued == 0 && st.Lines == st.Sent+st.Dropped
	})
	// Every line ThingsBoard acknowledged is stored (timestamps are distinct, so none overwrites another).
	e.waitFor("every sent line at ThingsBoard", func() bool {
		n := 0
		for _, k := range []string{"Flood_LOGS", "SERVICE_LOGS", "CONNECTION_LOGS", "STORAGE_LOGS", "EXTENSION_LOGS"} {
			n += len(e.emu.Telemetry(gwName, k))
		}
		return uint64(n) == r.gw.RemoteLogStats().Sent
	})
	if got := len(logLines(e, "Flood_LOGS", "|DEBUG|<Flood>", " - flood ", " i=")); got == 0 || uint64(got) > r.gw.RemoteLogStats().Sent {
		t.Errorf("%d flood lines at ThingsBoard; %d dropped of %d", got, st.Dropped, lines)
	}
}

func TestRemoteLogsConfigurationAppliesLevels(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	push := func(v map[string]any) {
		t.Helper()
		v["ts"] = time.Now().UnixMilli()
		if err := e.emu.SetSharedAttributes(gwName, map[string]any{"logs_configuration": v}); err != nil {
			t.Fatal(err)
		}
	}
	bad := map[string]any{"version": 1, "handlers": map[string]any{"f": map[string]any{"class": "logging.FileHandler", "filename": "/etc/evil.log"}},
		"loggers": map[string]any{"service": map[string]any{"level": "INFO", "handlers": []string{"f"}}}}
	push(bad)
	e.waitFor("the refusal of a file outside the folders", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), "/etc/evil.log") && strings.Contains(string(v), "logs_configuration")
	})
	push(map[string]any{"version": 1, "loggers": map[string]any{"connector": map[string]any{"level": "ERROR"}, "service": map[string]any{"level": "LOUD"}}})
	e.waitFor("the refusal of a bad level", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), "loggers.service.level")
	})
	sink := p.Sink(t, e.ctx)
	sink.Logger().Info("connector info before")
	if !gw.Log.Contains("connector info before") {
		t.Fatal("the connector's info line was not written before the change")
	}
	push(map[string]any{"version": 1, "loggers": map[string]any{"connector": map[string]any{"level": "ERROR"}}})
	e.waitFor("logs_configuration echoed", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)["logs_configuration"].(json.RawMessage)
		return ok && strings.Contains(string(v), `"ERROR"`)
	})
	sink.Logger().Info("connector info after")
	sink.Logger().Error("connector error after")
	if gw.Log.Contains("connector info after") || !gw.Log.Contains("connector error after") {
		t.Errorf("after connector level ERROR: info written %v, error written %v", gw.Log.Contains("connector info after"), gw.Log.Contains("connector error after"))
	}
}
