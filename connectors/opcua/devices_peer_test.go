package opcua

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// plantConfig maps testdata/devices_nodemap.json: `Root\.Objects\.Plant\.Boiler` names two objects browse-named
// Boiler (a third appears on SIGUSR2) and `Root\.Objects\.Line\.Sensor` reaches one Sensor under each of two
// objects browse-named Line. Every device is named from its own node's Serial.
func plantConfig(t *testing.T, endpoint string, server map[string]any) *Config {
	t.Helper()
	srv := map[string]any{"url": endpoint, "security": "None", "timeoutInMillis": 2000,
		"reconnectBackoffInitialDelay": 0.05, "subCheckPeriodInMillis": 100}
	for k, v := range server {
		srv[k] = v
	}
	raw, _ := json.Marshal(map[string]any{
		"server": srv,
		"mapping": []any{
			map[string]any{
				// The older key for the name: the Python gateway reads it as deviceInfo.deviceNameExpression.
				"deviceNodePattern": `Root\.Objects\.Plant\.Boiler`, "deviceNamePattern": "Boiler ${Serial}",
				"timeseries": []any{pathKey("temp", "Temp")},
			},
			map[string]any{
				"deviceNodePattern": `Root\.Objects\.Line\.Sensor`,
				"deviceInfo":        map[string]any{"deviceNameExpression": "Sensor ${Serial}", "deviceProfileExpression": "sensor"},
				"attributes":        []any{pathKey("level", "Level")},
			},
		},
	})
	cfg, warnings, err := Decode("plant.json", raw)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("plant config: %v %v", warnings, err)
	}
	return cfg
}

// devicesWith returns the names of the devices that have a connect record and a value for key.
func devicesWith(recs []tbgateway.Record, key string) map[string]any {
	out := map[string]any{}
	for _, r := range recs {
		if r.Kind != tbgateway.KindConnect {
			continue
		}
		if got, _, _, _ := latestOf(recs, r.Device); got[key] != nil {
			out[r.Device] = got[key]
		}
	}
	return out
}

// TestSeveralDeviceNodes: a deviceNodePattern that matches several nodes gives one device per node, named from
// deviceNamePattern read relative to that node, with its keys read from that node: two Boiler objects under
// Plant (last step), and a Sensor under each of two Line objects (middle step). A Boiler added while the
// connector runs is found by the re-scan every scanPeriodInMillis, as the Python connector's scan adds new
// devices; the devices already there are not reported disconnected.
func TestSeveralDeviceNodes(t *testing.T) {
	p := startPeer(t, "devices_nodemap.json")
	ctx := testContext(t)
	sink := newSink()
	logs := newLogRecorder()
	c, err := New("OPC-UA", plantConfig(t, p.URL, map[string]any{"scanPeriodInMillis": 300}), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, ctx, c, sink)
	boilers := map[string]any{"Boiler B-1": 100.0, "Boiler B-2": 200.0}
	sensors := map[string]any{"Sensor S-A": 1.0, "Sensor S-B": 2.0}
	sink.waitFor(t, ctx, "two boilers and two sensors with their values", func(recs []tbgateway.Record) bool {
		return len(devicesWith(recs, "temp")) == 2 && len(devicesWith(recs, "level")) == 2
	})
	recs := sink.Records()
	if got := devicesWith(recs, "temp"); fmt.Sprint(got) != fmt.Sprint(boilers) {
		t.Errorf("boilers %v, want %v", got, boilers)
	}
	if got := devicesWith(recs, "level"); fmt.Sprint(got) != fmt.Sprint(sensors) {
		t.Errorf("sensors %v, want %v", got, sensors)
	}
	for _, r := range recs {
		if r.Kind == tbgateway.KindConnect && strings.HasPrefix(r.Device, "Sensor") && r.DeviceType != "sensor" {
			t.Errorf("%s has profile %q, want sensor", r.Device, r.DeviceType)
		}
	}
	if s, err := c.current(); err != nil || len(s.order) != 4 {
		t.Fatalf("session devices: %v", err)
	}
	if n := logs.count("address space"); n != 0 {
		t.Errorf("showMap off, yet %d address space lines", n)
	}

	if err := syscall.Kill(p.PID(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, ctx, "the boiler added later", func(recs []tbgateway.Record) bool {
		got, _, _, _ := latestOf(recs, "Boiler B-3")
		return got["temp"] == 300.0
	})
	for _, d := range []string{"Boiler B-1", "Boiler B-2", "Sensor S-A", "Sensor S-B"} {
		if _, _, _, disconnects := latestOf(sink.Records(), d); disconnects != 0 {
			t.Errorf("%s reported disconnected %d times by the re-scan", d, disconnects)
		}
	}
	if logs.count("new device node found", "ns=2;s=Boiler3") == 0 {
		t.Errorf("no log of the new device node:\n%s", logs.text())
	}
}

// TestShowMap: with showMap the browsed address space is logged at info level, one line per browsed node's
// child with its path from Root (the Python connector's "Checking path" lines), once per connection: the
// server restarts and the map is logged again.
func TestShowMap(t *testing.T) {
	p := startPeer(t, "devices_nodemap.json")
	ctx := testContext(t)
	sink := newSink()
	logs := newLogRecorder()
	c, err := New("OPC-UA", plantConfig(t, p.URL, map[string]any{"showMap": true,
		// The server's restart may take longer than the default 8 attempts on a loaded machine.
		"reconnectRetriesCount": 0}), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, ctx, c, sink)
	connected := func(n int) {
		sink.waitFor(t, ctx, fmt.Sprintf("connection %d", n), func(recs []tbgateway.Record) bool {
			_, _, connects, _ := latestOf(recs, "Sensor S-B")
			return connects >= n
		})
	}
	connected(1)
	want := map[string]string{
		"Root.Objects":                     "i=85",
		"Root.Objects.Server":              "i=2253",
		"Root.Objects.Plant":               "ns=2;s=Plant",
		"Root.Objects.Plant.Boiler":        "ns=2;s=Boiler2",
		"Root.Objects.Plant.Pump":          "ns=2;s=Pump1", // browsed, matches no pattern
		"Root.Objects.Plant.Boiler.Serial": "ns=2;s=Boiler1.Serial",
		"Root.Objects.Plant.Boiler.Temp":   "ns=2;s=Boiler2.Temp",
		"Root.Objects.Line":                "ns=2;s=LineB",
		"Root.Objects.Line.Sensor":         "ns=2;s=LineA.Sensor",
		"Root.Objects.Line.Sensor.Level":   "ns=2;s=LineB.Sensor.Level",
	}
	for path, node := range want {
		if logs.count("INFO address space", "path="+path+" ", "node="+node) != 1 {
			t.Errorf("no single info line for path %s node %s", path, node)
		}
	}
	if logs.count("address space", "ns=2;s=Pump1.Serial") != 0 {
		t.Error("a child of a node never browsed was logged")
	}
	if t.Failed() {
		t.Fatalf("log:\n%s", logs.text())
	}
	p.restart()
	connected(2)
	if n := logs.count("INFO address space", "path=Root.Objects.Plant.Pump "); n != 2 {
		t.Errorf("map logged %d times for two connections:\n%s", n, logs.text())
	}
}
