package runtime_test

// End-to-end tests of the gateway's device services: connector details as client attributes, device
// filtering, device activity checks, RPC to a device not yet known, and latency metadata.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

// detailsMessages returns the gateway attribute messages that carry connector details for device, in order.
func detailsMessages(t *testing.T, emu *tbemu.Server, device string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range emu.Messages() {
		if m.Topic != "v1/gateway/attributes" {
			continue
		}
		var body map[string]map[string]any
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("attributes message %s: %v", m.Payload, err)
		}
		if a, ok := body[device]; ok {
			if _, ok := a["connectorType"]; ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// TestE2EDeviceDetailsOnConnect: when a device connects, ThingsBoard receives the client attributes
// connectorType and connectorName right after the connect message, once, as the Python gateway sends them.
func TestE2EDeviceDetailsOnConnect(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe Connector")
	e.start(setup{connectors: []connSpec{p.conn()}})

	p.send(t, e.ctx, tbgateway.Record{Device: "dev-a", Attributes: map[string]any{"fw": "first"}})
	e.WaitAttribute("dev-a", tbemu.ScopeClient, "connectorName")
	got := e.emu.Attributes("dev-a", tbemu.ScopeClient)
	if got["connectorType"] != probeType || got["connectorName"] != "Probe Connector" {
		t.Fatalf("client attributes of dev-a = %v, want connectorType %q and connectorName %q", got, probeType, "Probe Connector")
	}
	// The details follow the connect: the first message naming dev-a after its connect carries them.
	connectAt, detailsAt := -1, -1
	for i, m := range e.emu.Messages() {
		if !strings.Contains(string(m.Payload), `"dev-a"`) {
			continue
		}
		if m.Topic == "v1/gateway/connect" && connectAt < 0 {
			connectAt = i
		}
		if m.Topic == "v1/gateway/attributes" && strings.Contains(string(m.Payload), "connectorType") && detailsAt < 0 {
			detailsAt = i
		}
	}
	if connectAt < 0 || detailsAt < connectAt {
		t.Fatalf("connect at message %d, details at %d: want the details after the connect", connectAt, detailsAt)
	}

	// More data of a known device sends no details again.
	p.send(t, e.ctx, tbgateway.Record{Device: "dev-a", Attributes: map[string]any{"fw": "second"}})
	e.waitFor("fw second", func() bool { return e.emu.Attributes("dev-a", tbemu.ScopeClient)["fw"] == "second" })
	if n := len(detailsMessages(t, e.emu, "dev-a")); n != 1 {
		t.Fatalf("connector details sent %d times, want once", n)
	}
}

// TestE2EDeviceFiltering: with deviceFiltering on, ThingsBoard never hears of a denied device, nor of a device
// outside its connector's allow list; the others' data arrives. Dropped records are counted, and each filtered
// device is logged once.
func TestE2EDeviceFiltering(t *testing.T) {
	e := newE2E(t)
	mq, mb := newProbe(t, "MQTT Broker Connector"), newProbe(t, "Modbus Connector")
	e.WriteFile("filters/list.json", map[string]any{
		"deny":  map[string]any{"MQTT Broker Connector": []string{"Temperature Device", "shared-.*"}, "Modbus Connector": []string{"My Modbus Device"}},
		"allow": map[string]any{"MQTT Broker Connector": []string{"My Temperature Sensor", "shared-.*"}},
	})
	e.writeConfig(setup{connectors: []connSpec{mq.conn(), mb.conn()},
		tb: map[string]any{"deviceFiltering": map[string]any{"enable": true, "filterFile": "filters/list.json"}}})
	g := e.Start(gwtest.StartOptions{})

	data := func(device string, v int64) tbgateway.Record {
		return tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{TS: 1_700_000_000_000 + v, Values: map[string]any{"v": v}}}}
	}
	for i := range int64(2) {
		mq.send(t, e.ctx, data("Temperature Device", i), data("shared-1", i), data("Unlisted Sensor", i))
		mb.send(t, e.ctx, data("My Modbus Device", i))
	}
	mq.send(t, e.ctx, data("My Temperature Sensor", 7))
	mb.send(t, e.ctx, data("Other Modbus Device", 8))
	e.WaitTelemetry("My Temperature Sensor", "v", 1)
	e.WaitTelemetry("Other Modbus Device", "v", 1)
	for _, d := range []string{"Temperature Device", "shared-1", "Unlisted Sensor", "My Modbus Device"} {
		if _, ok := e.emu.Device(d); ok {
			t.Errorf("filtered device %q reached ThingsBoard", d)
		}
		if n := g.Log.Count("device filtered", d); n != 1 {
			t.Errorf("device %q logged as filtered %d times, want once", d, n)
		}
	}
	if n := g.GW.FilteredRecords(); n != 8 {
		t.Errorf("FilteredRecords = %d, want 8", n)
	}
}

// countTopic counts the emulator's messages on topic whose payload names device.
func countTopic(emu *tbemu.Server, topic, device string) int {
	n := 0
	for _, m := range emu.Messages() {
		if m.Topic == topic && strings.Contains(string(m.Payload), `"`+device+`"`) {
			n++
		}
	}
	return n
}

// TestE2EDeviceInactivityDisconnects: with checkingDeviceActivity on, a device silent longer than its timeout is
// disconnected at ThingsBoard; its next data connects it again (with its connector details) and arrives.
func TestE2EDeviceInactivityDisconnects(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"checkingDeviceActivity": map[string]any{
		"checkDeviceInactivity": true, "inactivityTimeoutSeconds": 1, "inactivityCheckPeriodSeconds": 1}}})

	p.send(t, e.ctx, tbgateway.Record{Device: "quiet", Telemetry: []tbgateway.Telemetry{{TS: 1_700_000_000_000, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry("quiet", "v", 1)
	e.waitFor("quiet disconnected at ThingsBoard", func() bool {
		st, ok := e.emu.Device("quiet")
		return ok && !st.Connected && countTopic(e.emu, "v1/gateway/disconnect", "quiet") == 1
	})

	p.send(t, e.ctx, tbgateway.Record{Device: "quiet", Telemetry: []tbgateway.Telemetry{{TS: 1_700_000_000_001, Values: map[string]any{"v": int64(2)}}}})
	e.WaitTelemetry("quiet", "v", 2)
	if n := countTopic(e.emu, "v1/gateway/connect", "quiet"); n != 2 {
		t.Fatalf("quiet connected %d times, want 2 (first data, data after the inactivity disconnect)", n)
	}
	// Attributes and telemetry are separate streams: the details may arrive after the data.
	e.waitFor("connector details sent with each connect", func() bool { return len(detailsMessages(t, e.emu, "quiet")) == 2 })
}

// TestE2ERPCWaitsForUnknownDevice: an RPC to a device the gateway does not know (yet) waits up to its "timeout"
// parameter: delivered when the device appears meanwhile, else answered {"error":"Request timeout","code":408}.
func TestE2ERPCWaitsForUnknownDevice(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.writeConfig(setup{connectors: []connSpec{p.conn()}})
	g := e.Start(gwtest.StartOptions{})

	data := func(device string, v int64) tbgateway.Record {
		return tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{TS: 1_700_000_000_000 + v, Values: map[string]any{"v": v}}}}
	}
	// ThingsBoard routes both devices' RPCs through the gateway, which then forgets them (as after a lost table).
	p.send(t, e.ctx, data("late", 1), data("absent", 1))
	e.WaitTelemetry("late", "v", 1)
	e.WaitTelemetry("absent", "v", 1)
	for _, d := range []string{"late", "absent"} {
		if known, err := g.GW.Devices().Delete(d); !known || err != nil {
			t.Fatalf("deleting %s from the device table: %v %v", d, known, err)
		}
	}

	reply := e.rpc("absent", "setValue", map[string]any{"timeout": 1})
	if len(reply) != 2 || reply["error"] != "Request timeout" || reply["code"] != 408.0 {
		t.Fatalf("rpc to a device that never appears replied %v, want {\"error\":\"Request timeout\",\"code\":408}", reply)
	}

	type result struct {
		reply json.RawMessage
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.emu.RPC(e.ctx, "late", "setValue", json.RawMessage(`{"v":5,"timeout":60}`), false, rpcTimeout)
		done <- result{r, err}
	}()
	g.WaitLog(e.ctx, "RPC to a device not known yet", "late")
	p.send(t, e.ctx, data("late", 2))
	var res result
	select {
	case res = <-done:
	case <-e.ctx.Done():
		t.Fatal("the RPC to the device that appeared never returned")
	}
	var got probeReply
	if res.err != nil || json.Unmarshal(res.reply, &got) != nil || got.Device != "late" || got.Method != "setValue" {
		t.Fatalf("rpc to a device that appeared while it waited: %s, %v; want the probe's echo", res.reply, res.err)
	}
}

// TestE2ELatencyDebugMode: with latencyDebugMode, the gateway's telemetry entries carry the metadata ThingsBoard
// aggregates per connector into the gateway's gatewayMetrics; the device's own values are stored without it.
func TestE2ELatencyDebugMode(t *testing.T) {
	env := gwtest.New(t, gwtest.Options{Timeout: testTimeout, Emulator: tbemu.Options{GatewayMetricsInterval: 100 * time.Millisecond}})
	e := &e2e{Env: env, t: t, ctx: env.Ctx, emu: env.Emu, dir: env.Dir}
	p := newProbe(t, "Latency Probe")
	e.start(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"latencyDebugMode": true}})

	before := time.Now().UnixMilli()
	p.send(t, e.ctx, tbgateway.Record{Device: "timed", Telemetry: []tbgateway.Telemetry{{TS: 1_700_000_000_000, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry("timed", "v", 1)
	var meta struct {
		Connector   string `json:"connector"`
		ReceivedTs  int64  `json:"receivedTs"`
		PublishedTs int64  `json:"publishedTs"`
	}
	for _, m := range e.emu.Messages() {
		if m.Topic != "v1/gateway/telemetry" {
			continue
		}
		var body map[string][]struct {
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("telemetry %s: %v", m.Payload, err)
		}
		if entries := body["timed"]; len(entries) == 1 {
			if err := json.Unmarshal(entries[0].Metadata, &meta); err != nil {
				t.Fatalf("telemetry entry of timed without metadata: %s", m.Payload)
			}
		}
	}
	if meta.Connector != "Latency Probe" || meta.ReceivedTs < before || meta.PublishedTs < meta.ReceivedTs {
		t.Fatalf("metadata %+v: want connector %q, receivedTs >= %d, publishedTs >= receivedTs", meta, "Latency Probe", before)
	}
	if keys := e.emu.Keys("timed"); len(keys) != 1 || keys[0] != "v" {
		t.Fatalf("timed's telemetry keys %v, want [v] (metadata stripped)", keys)
	}
	got := e.WaitTelemetry(gwName, "gatewayMetrics", 1)
	var metrics map[string]map[string]int64
	if err := json.Unmarshal(got[0].Value.(json.RawMessage), &metrics); err != nil {
		t.Fatalf("gatewayMetrics %v: %v", got[0].Value, err)
	}
	if m, ok := metrics["Latency Probe"]; !ok || m["maxGwLatency"] < 0 {
		t.Fatalf("gatewayMetrics %v: want an entry for the connector", metrics)
	}
}
