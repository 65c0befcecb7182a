package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

// feedType is a test-only connector type: it sends the records of its file's "count" once it runs (device
// "device" of type "deviceType", telemetry v=1..count, the first record with the attribute model="X1"), then
// two invalid records (no device name), and then one record per value sent on feedMore until the end.
const feedType = "webuitestfeed"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: feedType, New: func(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
		c := &feed{}
		if err := json.Unmarshal(cfg.Raw, c); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		return c, nil
	}})
}

type feed struct {
	Device     string `json:"device"`
	DeviceType string `json:"deviceType"`
	Count      int    `json:"count"`
	sent       bool
}

func (f *feed) Run(ctx context.Context, sink tbgateway.Sink) error {
	if !f.sent {
		f.sent = true
		for i := 1; i <= f.Count; i++ {
			r := tbgateway.Record{Device: f.Device, DeviceType: f.DeviceType,
				Telemetry: []tbgateway.Telemetry{{TS: int64(1000 + i), Values: map[string]any{"v": float64(i)}}}}
			if i == 1 {
				r.Attributes = map[string]any{"model": "X1"}
			}
			if err := sink.Send(ctx, r); err != nil {
				return err
			}
		}
		// Refused as invalid; counted, never stored.
		for range 2 {
			_ = sink.Send(ctx, tbgateway.Record{Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"v": 0.0}}}})
		}
	}
	for {
		select {
		case v := <-feedMore:
			r := tbgateway.Record{Device: f.Device, DeviceType: f.DeviceType,
				Telemetry: []tbgateway.Telemetry{{TS: int64(v), Values: map[string]any{"v": v}}}}
			if err := sink.Send(ctx, r); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// feedMore makes the running feed connector send one more record with v (and its TS) set to the value.
var feedMore = make(chan float64)

// startGateway starts tbemu and a gateway with the web UI on a free loopback port and one feed connector
// ("Feed") sending count records of device "pump-1" of type "pump"; it returns the env, the gateway and the
// UI's base URL.
func startGateway(t *testing.T, count int) (*gwtest.Env, *gwtest.Gateway, string) {
	t.Helper()
	return startGatewayStorage(t, count, nil)
}

// startGatewayStorage is startGateway with the main file's "storage" section (nil: gwtest's default).
func startGatewayStorage(t *testing.T, count int, storage map[string]any) (*gwtest.Env, *gwtest.Gateway, string) {
	t.Helper()
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{
		Storage:    storage,
		Connectors: []gwtest.Connector{{Type: feedType, Name: "Feed", Conf: map[string]any{"device": "pump-1", "deviceType": "pump", "count": count}}},
		Sections:   map[string]any{"webUI": map[string]any{"enabled": true, "listen": "127.0.0.1:0"}},
	})
	g := e.Start(gwtest.StartOptions{})
	ui := g.GW.WebUI()
	if ui == nil {
		t.Fatal("webUI.enabled is true but the gateway has no web UI")
	}
	addr, err := ui.Addr(e.Ctx)
	if err != nil {
		t.Fatalf("the web UI never listened: %v", err)
	}
	return e, g, "http://" + addr.String()
}

// TestE2EMetrics: after known records went through the gateway to ThingsBoard (tbemu), /metrics parses with
// the Prometheus text parser and its families hold the statistics' counters per connector and device type, the
// storage depth, the link state and the Go and process metrics.
func TestE2EMetrics(t *testing.T) {
	e, _, base := startGateway(t, 3)
	e.WaitTelemetry("pump-1", "v", 3)
	e.WaitAttribute("pump-1", tbemu.ScopeClient, "model")
	// The storage empties once ThingsBoard acknowledged every record; that is state outside the emulator.
	e.Eventually("an empty storage and every record acknowledged", func() bool {
		fams := scrape(t, base)
		v, _ := find(fams, "tbgateway_storage_records", nil)
		acked, _ := find(fams, "tbgateway_uplink_datapoints_total", nil)
		return v == 0 && acked >= 6
	})
	fams := scrape(t, base)
	feed := map[string]string{"connector": "Feed", "type": feedType}
	for name, want := range map[string]float64{
		"tbgateway_connector_records_received_total":    5, // three valid, two invalid
		"tbgateway_connector_invalid_records_total":     2,
		"tbgateway_connector_records_stored_total":      4, // and the device's connect record
		"tbgateway_connector_datapoints_stored_total":   4,
		"tbgateway_connector_telemetry_received_total":  5,
		"tbgateway_connector_attributes_received_total": 1,
		"tbgateway_connector_restarts_total":            0,
		"tbgateway_connector_storage_errors_total":      0,
	} {
		if got := value(t, fams, name, feed); got != want {
			t.Errorf("%s%v = %v, want %v", name, feed, got, want)
		}
	}
	if got := value(t, fams, "tbgateway_connector_state", map[string]string{"connector": "Feed", "state": "running"}); got != 1 {
		t.Errorf("connector state running = %v, want 1", got)
	}
	if got := value(t, fams, "tbgateway_connector_state", map[string]string{"connector": "Feed", "state": "failed"}); got != 0 {
		t.Errorf("connector state failed = %v, want 0", got)
	}
	if got := value(t, fams, "tbgateway_devices", map[string]string{"connector": "Feed", "device_type": "pump"}); got != 1 {
		t.Errorf("devices of Feed/pump = %v, want 1", got)
	}
	for name, want := range map[string]float64{
		"tbgateway_thingsboard_connected": 1,
		"tbgateway_storage_records":       0,
		"tbgateway_storage_full":          0,
		// With the connectorType and connectorName attributes the gateway sends after the device's connect.
		"tbgateway_uplink_datapoints_total":           6,
		"tbgateway_uplink_attribute_datapoints_total": 3,
		"tbgateway_uplink_telemetry_datapoints_total": 3,
		"tbgateway_uplink_reconnects_total":           0,
		"tbgateway_uplink_in_flight_messages":         0,
		"tbgateway_uplink_dead_records_total":         0,
	} {
		if got := value(t, fams, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(t, fams, "tbgateway_uplink_acks_total", nil); got < 1 {
		t.Errorf("tbgateway_uplink_acks_total = %v, want at least 1", got)
	}
	for _, f := range []string{"go_goroutines", "go_gc_duration_seconds", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := fams[f]; !ok {
			t.Errorf("/metrics has no family %s", f)
		}
	}
	if fams["tbgateway_uplink_reconnects_total"].GetType().String() != "COUNTER" || fams["tbgateway_storage_records"].GetType().String() != "GAUGE" {
		t.Errorf("types: reconnects %v, storage records %v", fams["tbgateway_uplink_reconnects_total"].GetType(), fams["tbgateway_storage_records"].GetType())
	}
}

// TestE2EReadyz: /readyz answers 200 while the gateway is connected, 503 naming the reason once ThingsBoard
// dropped the link and refuses it, and 200 again after the reconnect, which /metrics counts; /healthz answers
// 200 throughout.
func TestE2EReadyz(t *testing.T) {
	e, g, base := startGateway(t, 1)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/readyz while connected: %d %q", code, body)
	}
	e.Emu.RefuseConnections(time.Hour)
	e.Emu.DropConnections()
	g.WaitEvent(e.Ctx, uplink.EventDisconnected)
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: not connected to ThingsBoard\n" {
		t.Errorf("/readyz while ThingsBoard is unreachable: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while ThingsBoard is unreachable: %d", code)
	}
	if got := value(t, scrape(t, base), "tbgateway_thingsboard_connected", nil); got != 0 {
		t.Errorf("tbgateway_thingsboard_connected while unreachable = %v, want 0", got)
	}
	e.Emu.RefuseConnections(0)
	g.WaitEvent(e.Ctx, uplink.EventConnected)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz after the reconnect: %d %q", code, body)
	}
	fams := scrape(t, base)
	if got := value(t, fams, "tbgateway_uplink_reconnects_total", nil); got != 1 {
		t.Errorf("tbgateway_uplink_reconnects_total = %v, want 1", got)
	}
	if got := value(t, fams, "tbgateway_thingsboard_connected", nil); got != 1 {
		t.Errorf("tbgateway_thingsboard_connected after the reconnect = %v, want 1", got)
	}
}

// TestE2EInFlight: a message ThingsBoard received and has not acknowledged shows in
// tbgateway_uplink_in_flight_messages, with its record still in tbgateway_storage_records.
func TestE2EInFlight(t *testing.T) {
	e, _, base := startGateway(t, 1)
	e.WaitTelemetry("pump-1", "v", 1)
	e.Emu.WithholdPubAcks(true)
	select {
	case feedMore <- 5000:
	case <-e.Ctx.Done():
		t.Fatal("the feed connector does not run")
	}
	e.WaitTelemetry("pump-1", "v", 2)
	fams := scrape(t, base)
	if got := value(t, fams, "tbgateway_uplink_in_flight_messages", nil); got < 1 {
		t.Errorf("tbgateway_uplink_in_flight_messages with a PUBACK withheld = %v, want at least 1", got)
	}
	if got := value(t, fams, "tbgateway_storage_records", nil); got < 1 {
		t.Errorf("tbgateway_storage_records with a PUBACK withheld = %v, want at least 1", got)
	}
}

// more hands v to the feed connector, failing the test when it does not take it.
func more(t *testing.T, e *gwtest.Env, v float64) {
	t.Helper()
	select {
	case feedMore <- v:
	case <-e.Ctx.Done():
		t.Fatalf("the feed connector did not take %v", v)
	}
}

// TestE2EReadyzStorageFull: while ThingsBoard is unreachable and the storage (3 records, refuse-new) refuses a
// record, /readyz answers 503 naming both reasons and tbgateway_storage_full is 1; once the link is back and a
// record is stored again, /readyz answers 200.
func TestE2EReadyzStorageFull(t *testing.T) {
	e, g, base := startGatewayStorage(t, 1, map[string]any{"type": "memory", "max_records_count": 3})
	e.WaitTelemetry("pump-1", "v", 1)
	// Every record so far acknowledged, so exactly three more fit.
	e.Eventually("an empty storage", func() bool { return g.GW.Stats().Storage.Count == 0 })
	e.Emu.RefuseConnections(time.Hour)
	e.Emu.DropConnections()
	g.WaitEvent(e.Ctx, uplink.EventDisconnected)
	for v := 2001.0; v <= 2004; v++ { // the fourth is refused: the feed's Run fails and it is restarted
		more(t, e, v)
	}
	g.WaitLog(e.Ctx, "storage is full")
	want := "not ready: not connected to ThingsBoard; storage is full: new records are refused\n"
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/readyz while unreachable with a full storage: %d %q, want 503 %q", code, body, want)
	}
	if got := value(t, scrape(t, base), "tbgateway_storage_full", nil); got != 1 {
		t.Errorf("tbgateway_storage_full = %v, want 1", got)
	}
	e.Emu.RefuseConnections(0)
	g.WaitEvent(e.Ctx, uplink.EventConnected)
	e.WaitTelemetry("pump-1", "v", 4)
	more(t, e, 2005)
	g.WaitLog(e.Ctx, "storage accepts new records again")
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz after the reconnect and a stored record: %d %q", code, body)
	}
}
