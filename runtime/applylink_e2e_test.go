package runtime_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// flowDevice is the device whose records the general_configuration tests count.
const flowDevice = "Flow Dev"

// secondEmulator starts another ThingsBoard emulator with the same gateway device; it returns it with its host
// and port.
func secondEmulator(t *testing.T, e *e2e) (*tbemu.Server, string, int) {
	t.Helper()
	emu, err := tbemu.Start(e.ctx, tbemu.Options{Logger: testLogger("tbemu2")})
	if err != nil {
		t.Fatalf("start the second tbemu: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: gwName, Type: "gateway", Gateway: true, Token: gwtest.GatewayToken}); err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, emu.MQTTAddr())
	return emu, host, port
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// sendFlow sends the flow device's records from, from+1, ... to-1, one Send each; record i has ts i+1 and
// value n = i.
func sendFlow(t *testing.T, e *e2e, p *probe, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		p.send(t, e.ctx, tbgateway.Record{Device: flowDevice, Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1), Values: map[string]any{"n": int64(i)}}}})
	}
}

// flowTimes returns the ts of every flow record the emulator received, in arrival order, repeats included (from
// its raw message log: its time series keeps one value per ts).
func flowTimes(emu *tbemu.Server) []int64 {
	var out []int64
	for _, m := range emu.Messages() {
		if m.Topic != "v1/gateway/telemetry" {
			continue
		}
		var body map[string][]struct {
			TS int64 `json:"ts"`
		}
		if json.Unmarshal(m.Payload, &body) != nil {
			continue
		}
		for _, v := range body[flowDevice] {
			out = append(out, v.TS)
		}
	}
	return out
}

// checkFlow fails unless the emulators together received records 0..n-1 of the flow exactly once each, each
// emulator in ascending order.
func checkFlow(t *testing.T, n int, emus ...*tbemu.Server) {
	t.Helper()
	seen := map[int64]int{}
	for i, emu := range emus {
		ts := flowTimes(emu)
		for j := 1; j < len(ts); j++ {
			if ts[j] <= ts[j-1] {
				t.Errorf("emulator %d: record ts %d arrived after ts %d (out of order or repeated)", i+1, ts[j], ts[j-1])
				break
			}
		}
		for _, x := range ts {
			seen[x]++
		}
	}
	bad := 0
	for i := 1; i <= n; i++ {
		if seen[int64(i)] != 1 {
			if bad++; bad <= 5 {
				t.Errorf("flow record ts %d arrived %d times, want once", i, seen[int64(i)])
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d flow records in all arrived other than once", bad)
	}
	if len(seen) != n {
		t.Errorf("%d distinct flow records arrived, want %d", len(seen), n)
	}
}

// pushGeneral sends general_configuration to the gateway through emu: the echoed attribute with change applied
// and a new ts.
func pushGeneral(t *testing.T, e *e2e, emu *tbemu.Server, change func(m map[string]any)) {
	t.Helper()
	general := clientObject(e, "general_configuration")
	change(general)
	general["ts"] = time.Now().UnixMilli()
	if err := emu.SetSharedAttributes(gwName, map[string]any{"general_configuration": general}); err != nil {
		t.Fatal(err)
	}
}

// remoteError returns the remoteConfigurationError client attribute's text at emu ("" when none).
func remoteError(emu *tbemu.Server) string {
	v, _ := emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
	return string(v)
}

// TestGeneralConfigurationMovesToNewHost: general_configuration naming another ThingsBoard (a second emulator)
// moves the gateway there while records flow: the old session ends before the new one starts, the records sent
// before, during and after the move arrive exactly once, in order, the planned stop repeats nothing, and the
// new ThingsBoard gets general_configuration with what runs (secrets redacted).
func TestGeneralConfigurationMovesToNewHost(t *testing.T) {
	e := newE2E(t)
	emu2, host2, port2 := secondEmulator(t, e)
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	// PUBACKs come late, so messages are in flight when the old link is stopped.
	e.emu.SetPubAckDelay(200 * time.Millisecond)

	sendFlow(t, e, p, 0, 300)
	e.waitFor("the first records at the first ThingsBoard", func() bool { return len(flowTimes(e.emu)) > 0 })
	pushGeneral(t, e, e.emu, func(m map[string]any) { m["host"], m["port"] = host2, port2 })
	sendFlow(t, e, p, 300, 600)
	e.eventually("the gateway running with the new host", func() bool { return gw.GW.Config().Thingsboard.Port == port2 })
	sendFlow(t, e, p, 600, 900)
	if err := emu2.WaitFor(e.ctx, func() bool { return len(flowTimes(e.emu))+len(flowTimes(emu2)) >= 900 }); err != nil {
		t.Fatalf("waiting for the flow: %v (first %d, second %d)", err, len(flowTimes(e.emu)), len(flowTimes(emu2)))
	}
	checkFlow(t, 900, e.emu, emu2)
	t.Logf("flow records: %d at the first ThingsBoard, %d at the second", len(flowTimes(e.emu)), len(flowTimes(emu2)))
	if len(flowTimes(emu2)) < 300 {
		t.Errorf("only %d records reached the second ThingsBoard", len(flowTimes(emu2)))
	}
	if st := gw.GW.Link().Stats(); st.Redelivered != 0 {
		t.Errorf("%d records were sent again: the planned stop must let the in-flight PUBACKs settle", st.Redelivered)
	}
	if d, _ := e.emu.Device(gwName); d.Connected {
		t.Error("the gateway is still connected to the first ThingsBoard")
	}
	if d2, _ := emu2.Device(gwName); !d2.Connected {
		t.Error("the gateway is not connected to the second ThingsBoard")
	}
	if err := emu2.WaitFor(e.ctx, func() bool {
		v, _ := emu2.Attributes(gwName, tbemu.ScopeClient)["general_configuration"].(json.RawMessage)
		return strings.Contains(string(v), `"port":`+strconv.Itoa(port2))
	}); err != nil {
		t.Fatalf("general_configuration with the new port never reached the second ThingsBoard: %v", err)
	}
	for _, m := range emu2.Messages() {
		if strings.Contains(string(m.Payload), gwtest.GatewayToken) {
			t.Errorf("the access token reached ThingsBoard on %s", m.Topic)
		}
	}
	if gw.GW.Config().Thingsboard.Security.AccessToken != gwtest.GatewayToken {
		t.Errorf("the pushed <redacted> token replaced the running one: %q", gw.GW.Config().Thingsboard.Security.AccessToken)
	}
}

// silentListener accepts TCP connections and never answers (no CONNACK); it closes with the test.
func silentListener(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return splitHostPort(t, ln.Addr().String())
}

// refusingPort returns a loopback port nothing listens on (connections are refused).
func refusingPort(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, ln.Addr().String())
	ln.Close()
	return host, port
}

// rollback pushes a host that cannot be reached and checks that the gateway comes back to the first
// ThingsBoard within the try timeout: the reason is written back, the configuration is unchanged, and records
// sent before, during and after the attempt all arrive there once and in order.
func rollback(t *testing.T, e *e2e, try time.Duration, host string, port int, wantReason string) {
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true},
		opts: runtime.Options{LinkTryTimeout: try}})
	oldPort := gw.GW.Config().Thingsboard.Port
	sendFlow(t, e, p, 0, 100)
	e.waitFor("the first records", func() bool { return len(flowTimes(e.emu)) > 0 })
	pushed := time.Now()
	pushGeneral(t, e, e.emu, func(m map[string]any) { m["host"], m["port"] = host, port })
	sendFlow(t, e, p, 100, 200)
	e.waitFor("the reason written back", func() bool {
		return strings.Contains(remoteError(e.emu), "general_configuration") && strings.Contains(remoteError(e.emu), wantReason)
	})
	t.Logf("rolled back %v after the push (try timeout %v): %s", time.Since(pushed).Round(time.Millisecond), try, remoteError(e.emu))
	if !gw.Log.Contains("previous one is restored") {
		t.Error("the log does not say the previous connection was restored")
	}
	if c := gw.GW.Config().Thingsboard; c.Port != oldPort {
		t.Errorf("the gateway runs with port %d after the rollback, want %d", c.Port, oldPort)
	}
	sendFlow(t, e, p, 200, 300)
	e.waitFor("every record at the first ThingsBoard", func() bool { return len(flowTimes(e.emu)) >= 300 })
	checkFlow(t, 300, e.emu)
}

// TestGeneralConfigurationRefusedHostRolledBack: a new host that refuses connections is tried for the try
// timeout, then the previous ThingsBoard is restored (see rollback).
func TestGeneralConfigurationRefusedHostRolledBack(t *testing.T) {
	e := newE2E(t)
	host, port := refusingPort(t)
	rollback(t, e, 2*time.Second, host, port, "did not accept the connection within 2s")
}

// TestGeneralConfigurationSilentHostRolledBack: a new host that accepts TCP and never sends CONNACK is rolled
// back within the default 30 s (see rollback). It runs beside the package's other tests.
func TestGeneralConfigurationSilentHostRolledBack(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	host, port := silentListener(t)
	rollback(t, e, 0, host, port, "did not accept the connection within 30s")
}

// TestGeneralConfigurationInvalidRefused: an invalid section (a port out of range, a certificate outside the
// config and data folders) is refused with its reason written back; the gateway keeps its connection and
// configuration.
func TestGeneralConfigurationInvalidRefused(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	before := gw.GW.Config()
	d0, _ := e.emu.Device(gwName)
	pushGeneral(t, e, e.emu, func(m map[string]any) { m["port"] = 70000 })
	e.waitFor("the port refusal written back", func() bool { return strings.Contains(remoteError(e.emu), "thingsboard.port") })
	pushGeneral(t, e, e.emu, func(m map[string]any) {
		m["security"] = map[string]any{"type": "tlsAccessToken", "accessToken": runtime.RedactedValue, "caCert": "/etc/ssl/private/ca.pem"}
	})
	e.waitFor("the path refusal written back", func() bool {
		return strings.Contains(remoteError(e.emu), "thingsboard.security.caCert") && strings.Contains(remoteError(e.emu), "inside the config folder")
	})
	if gw.GW.Config() != before {
		t.Error("the running configuration changed")
	}
	if d, _ := e.emu.Device(gwName); !d.Connected || !d.LastConnect.Equal(d0.LastConnect) {
		t.Errorf("the gateway reconnected (connected %v, last connect %v, was %v)", d.Connected, d.LastConnect, d0.LastConnect)
	}
	sendFlow(t, e, p, 0, 10)
	e.waitFor("records after the refusals", func() bool { return len(flowTimes(e.emu)) >= 10 })
	checkFlow(t, 10, e.emu)
}

// TestGeneralConfigurationInPlace: rate limits, statistics and the default report strategy change without a new
// session: a record held back by a device rate limit of one message an hour goes as soon as the pushed limits lift
// it, statistics switched on start sending, and ON_CHANGE drops a repeated value.
func TestGeneralConfigurationInPlace(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()},
		tb:   map[string]any{"remoteConfiguration": true, "deviceRateLimits": "1:3600"},
		opts: runtime.Options{StatisticsPeriod: 50 * time.Millisecond}})
	d0, _ := e.emu.Device(gwName)
	sendFlow(t, e, p, 0, 1)
	e.waitFor("the first record", func() bool { return len(flowTimes(e.emu)) == 1 })
	sendFlow(t, e, p, 1, 3) // held back by the limit
	pushGeneral(t, e, e.emu, func(m map[string]any) {
		m["deviceRateLimits"] = "0:0"
		m["statistics"].(map[string]any)["enable"] = true
		m["reportStrategy"] = map[string]any{"type": "ON_CHANGE"}
	})
	e.waitFor("the held records after the limits were lifted", func() bool { return len(flowTimes(e.emu)) == 3 })
	// The new default report strategy: an unchanged value is not sent again.
	for i, v := range []int64{5, 5, 6} {
		p.send(t, e.ctx, tbgateway.Record{Device: "Strategy Dev", Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1), Values: map[string]any{"v": v}}}})
	}
	e.WaitTelemetry("Strategy Dev", "v", 2)
	if got := e.values("Strategy Dev", "v"); len(got) != 2 || fmt.Sprint(got) != "[5 6]" {
		t.Errorf("Strategy Dev values %v, want [5 6] (ON_CHANGE drops the repeated 5)", got)
	}
	e.waitFor("statistics telemetry", func() bool { return len(e.emu.Keys(gwName)) > 0 })
	checkFlow(t, 3, e.emu)
	if d, _ := e.emu.Device(gwName); !d.Connected || !d.LastConnect.Equal(d0.LastConnect) {
		t.Errorf("the gateway reconnected (last connect %v, was %v)", d.LastConnect, d0.LastConnect)
	}
	if st := gw.GW.Link().Stats(); st.Reconnects != 0 {
		t.Errorf("%d reconnects, want none", st.Reconnects)
	}
	if c := gw.GW.Config().Thingsboard; c.DeviceRateLimits != "0:0" || !c.Statistics.Enable || c.ReportStrategy.Type != "ON_CHANGE" {
		t.Errorf("running thingsboard section = %+v", c)
	}
	if remoteError(e.emu) != "" {
		t.Errorf("remoteConfigurationError = %s", remoteError(e.emu))
	}
}

// TestGeneralConfigurationDeviceServicesInPlace: deviceFiltering and checkingDeviceActivity pushed in
// general_configuration take effect without a restart or a reconnect: a denied device's records are dropped and
// counted, a silent device is disconnected at ThingsBoard. A filter file outside the allowed folders is refused,
// naming the key, and the filter in force stays.
func TestGeneralConfigurationDeviceServicesInPlace(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	e.WriteFile("list.json", map[string]any{"deny": map[string]any{"Probe": []string{"Denied.*"}}})
	p.send(t, e.ctx, tbgateway.Record{Device: "Denied Dev", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry("Denied Dev", "v", 1) // not filtered yet

	pushGeneral(t, e, e.emu, func(m map[string]any) {
		m["deviceFiltering"] = map[string]any{"enable": true, "filterFile": "list.json"}
		m["checkingDeviceActivity"] = map[string]any{"checkDeviceInactivity": true, "inactivityTimeoutSeconds": 1, "inactivityCheckPeriodSeconds": 1}
	})
	e.waitFor("the new thingsboard section in force", func() bool {
		c := gw.GW.Config().Thingsboard
		return c.DeviceFiltering.Enable && c.CheckingDeviceActivity.CheckDeviceInactivity
	})
	p.send(t, e.ctx, tbgateway.Record{Device: "Denied Dev", Telemetry: []tbgateway.Telemetry{{TS: 2, Values: map[string]any{"v": int64(2)}}}})
	p.send(t, e.ctx, tbgateway.Record{Device: "Kept Dev", Telemetry: []tbgateway.Telemetry{{TS: 2, Values: map[string]any{"v": int64(2)}}}})
	e.WaitTelemetry("Kept Dev", "v", 1)
	if n := gw.GW.FilteredRecords(); n != 1 {
		t.Errorf("%d records filtered, want the denied device's one", n)
	}
	if got := e.values("Denied Dev", "v"); len(got) != 1 {
		t.Errorf("Denied Dev values %v at ThingsBoard, want only the one sent before filtering was on", got)
	}
	e.waitFor("the silent Kept Dev disconnected at ThingsBoard", func() bool {
		d, ok := e.emu.Device("Kept Dev")
		return ok && !d.Connected
	})

	pushGeneral(t, e, e.emu, func(m map[string]any) {
		m["deviceFiltering"] = map[string]any{"enable": true, "filterFile": "/etc/hostname"}
	})
	e.waitFor("the refusal written back", func() bool {
		return strings.Contains(remoteError(e.emu), "thingsboard.deviceFiltering.filterFile")
	})
	if c := gw.GW.Config().Thingsboard.DeviceFiltering; c.FilterFile != "list.json" {
		t.Errorf("filter file in force %q after a refused change, want list.json", c.FilterFile)
	}
	if st := gw.GW.Link().Stats(); st.Reconnects != 0 {
		t.Errorf("%d reconnects, want none", st.Reconnects)
	}
}
