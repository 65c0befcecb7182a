package ble

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// testTimeout guards every wait against hangs; it never paces a test.
const testTimeout = 60 * time.Second

// UUIDs of the simulated thermometer (the sample ble.json's characteristics).
const (
	uuidSvc    = "226caa55-6476-4566-7562-66734470ffff"
	uuidTemp   = "226caa55-6476-4566-7562-66734470666d" // notify: [humidity, ?, temperature]
	uuidName   = "00002a00-0000-1000-8000-00805f9b34fb" // read, write: device name
	uuidLevel  = "00002a19-0000-1000-8000-00805f9b34fb" // read: battery level
	uuidBroken = "00002a6e-0000-1000-8000-00805f9b34fb" // read: fails on cue
	macThermo  = "AA:00:00:00:00:01"
	macOther   = "AA:00:00:00:00:02"
)

// simEnv is a private D-Bus with the BlueZ stand-in on it.
type simEnv struct {
	bus string
	sim *bluezsim.Sim
}

func startSim(t *testing.T, opts bluezsim.Options) *simEnv {
	t.Helper()
	bus := bluezsim.StartBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel) // the stand-in lives as long as this context
	sim, err := bluezsim.New(ctx, bus, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return &simEnv{bus: bus, sim: sim}
}

// addThermometer adds the sample's device: a notified temperature, a readable and writable name, a battery level
// and a characteristic that can be made to fail.
func (e *simEnv) addThermometer(mac, name string) *bluezsim.SimDevice {
	return e.sim.AddDevice(bluezsim.DeviceSpec{
		Address: mac, Name: name, RSSI: -60,
		ManufacturerData: map[uint16][]byte{0x0059: {0x01, 0x02, 0x1A}},
		Services: []bluezsim.ServiceSpec{{UUID: uuidSvc, Characteristics: []bluezsim.CharSpec{
			{UUID: uuidTemp, Flags: []string{"notify"}},
			{UUID: uuidName, Flags: []string{"read", "write", "write-without-response"}, Value: []byte("Thermo")},
			{UUID: uuidLevel, Flags: []string{"read"}, Value: []byte{87}},
			{UUID: uuidBroken, Flags: []string{"read"}, Value: []byte{1, 2}},
		}}},
	})
}

// thermoDevice is the sample's device entry pointed at the stand-in, with short periods.
func thermoDevice(mac, name string) map[string]any {
	return map[string]any{
		"name": name, "MACAddress": mac, "pollPeriod": 50, "timeout": 5000,
		"connectRetry": 3, "connectRetryInSeconds": 0.05, "waitAfterConnectRetries": 0.2,
		"telemetry": []any{
			map[string]any{"key": "temperature", "method": "notify", "characteristicUUID": uuidTemp, "valueExpression": "[2]"},
			map[string]any{"key": "humidity", "method": "notify", "characteristicUUID": uuidTemp, "valueExpression": "[0]"},
			map[string]any{"key": "battery", "method": "read", "characteristicUUID": "2A19", "valueExpression": "[0]"},
		},
		"attributes": []any{
			map[string]any{"key": "name", "method": "read", "characteristicUUID": uuidName, "valueExpression": "[0:2]cm [2:]A"},
		},
		"attributeUpdates": []any{map[string]any{"attributeOnThingsBoard": "sharedName", "characteristicUUID": uuidName}},
		"serverSideRpc": []any{
			map[string]any{"methodRPC": "rpcMethod1", "withResponse": true, "characteristicUUID": uuidName, "methodProcessing": "read"},
			map[string]any{"methodRPC": "rpcMethod2", "withResponse": true, "characteristicUUID": uuidName, "methodProcessing": "write"},
			map[string]any{"methodRPC": "rpcMethod3", "withResponse": false, "characteristicUUID": uuidName, "methodProcessing": "write"},
			map[string]any{"methodRPC": "rpcMethod4", "withResponse": true, "methodProcessing": "scan"},
		},
	}
}

// connectorConfig is a connector file on the stand-in's bus; extra top-level keys override.
func (e *simEnv) connectorConfig(devices []any, extra map[string]any) []byte {
	cfg := map[string]any{"name": "BLE", "busAddress": e.bus, "scannerTimeout": 10000, "scannerPollPeriod": 100,
		"devices": devices}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return raw
}

func newTestConnector(t *testing.T, raw []byte, log *gwtest.Log) *Connector {
	t.Helper()
	cfg, warns, err := Decode("ble.json", raw)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Decode: %v %q", err, warns)
	}
	var h slog.Handler = slog.DiscardHandler
	if log != nil {
		h = slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})
	} else if os.Getenv("CONNECTORTEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	c, err := New("BLE", "ble.json", cfg, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// running is a connector being run against a recording sink until the test ends.
type running struct {
	c    *Connector
	sink *connectortest.Sink
	ctx  context.Context
}

func runConnector(t *testing.T, c *Connector) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	sink := connectortest.NewSink()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &running{c: c, sink: sink, ctx: ctx}
}

// waitValue waits for a stored record of device holding key = want (attribute or telemetry).
func (r *running) waitValue(t *testing.T, device, key string, want any) {
	t.Helper()
	err := r.sink.Await(r.ctx, func(stored []tbgateway.Record, _ []connectortest.Attempt, _ int) bool {
		return hasValue(stored, device, key, want)
	})
	if err != nil {
		t.Fatalf("no %s=%v from %s; stored: %v", key, want, device, summary(r.sink.Records()))
	}
}

func hasValue(recs []tbgateway.Record, device, key string, want any) bool {
	for _, rec := range recs {
		if rec.Device != device {
			continue
		}
		if v, ok := rec.Attributes[key]; ok && v == want {
			return true
		}
		for _, tel := range rec.Telemetry {
			if v, ok := tel.Values[key]; ok && v == want {
				return true
			}
		}
	}
	return false
}

func summary(recs []tbgateway.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Device)
		if len(r.Attributes) > 0 {
			b.WriteString(" attrs=")
			j, _ := json.Marshal(r.Attributes)
			b.Write(j)
		}
		for _, tel := range r.Telemetry {
			j, _ := json.Marshal(tel.Values)
			b.WriteString(" ts=")
			b.Write(j)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// waitConnected waits until the stand-in reports n connections of the device.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached", what)
		case <-time.After(10 * time.Millisecond): // polls the stand-in's state, which has no change events
		}
	}
}
