package ble

import (
	"context"
	"strconv"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// TestGoneAndBack: a device that goes out of range is connected again by itself once it is back, and its reads
// and notifications resume.
func TestGoneAndBack(t *testing.T) {
	_, dev, r := connectedThermo(t)
	waitFor(t, r.ctx, "notify session", func() bool { return dev.Notifying(uuidTemp) })
	dev.GoAway()
	waitFor(t, r.ctx, "disconnected", func() bool { return !dev.Connected() })
	dev.SetValue(uuidLevel, []byte{11})
	dev.ComeBack()
	waitFor(t, r.ctx, "second connection", func() bool { return dev.Connects() >= 2 && dev.Connected() })
	r.waitValue(t, "thermo", "battery", "11")
	waitFor(t, r.ctx, "notify session again", func() bool { return dev.Notifying(uuidTemp) })
	dev.Notify(uuidTemp, []byte{1, 0, 33})
	r.waitValue(t, "thermo", "temperature", "33")
}

// TestConnectionDropped: a connection the device ends (supervision timeout, object kept) is made again too.
func TestConnectionDropped(t *testing.T) {
	_, dev, r := connectedThermo(t)
	if !dev.DropConnection() {
		t.Fatal("not connected")
	}
	dev.SetValue(uuidLevel, []byte{12})
	r.waitValue(t, "thermo", "battery", "12")
	if dev.Connects() < 2 {
		t.Errorf("connects = %d, want a second connection", dev.Connects())
	}
}

// TestCharacteristicFault: a characteristic that fails to read is logged once when it starts failing and once
// when it recovers, counted in DeviceFaults, and the device's other keys go on meanwhile.
func TestCharacteristicFault(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	dev := e.addThermometer(macThermo, "Thermo")
	dev.FailReads(uuidBroken, "org.bluez.Error.NotPermitted")
	devCfg := thermoDevice(macThermo, "thermo")
	devCfg["telemetry"] = append(devCfg["telemetry"].([]any),
		map[string]any{"key": "broken", "method": "read", "characteristicUUID": uuidBroken, "valueExpression": "[1]"})
	log := gwtest.NewLog()
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{devCfg}, nil), log))
	r.waitValue(t, "thermo", "battery", "87")
	for v := byte(100); v < 103; v++ { // several polls while the characteristic fails
		dev.SetValue(uuidLevel, []byte{v})
		r.waitValue(t, "thermo", "battery", strconv.Itoa(int(v)))
	}
	if n := log.Count("device fault", uuidBroken, "NotPermitted"); n != 1 {
		t.Errorf("fault logged %d times, want once: %q", n, log.Lines())
	}
	if st := r.c.DeviceFaults(); st.Faults < 3 || st.Active != 1 {
		t.Errorf("DeviceFaults = %+v, want >= 3 faults, 1 active", st)
	}
	if n := dev.Connects(); n != 1 {
		t.Errorf("connects = %d: a failing characteristic must not end the connection", n)
	}
	if hasKey(r.sink.Records(), "broken") {
		t.Error("a value of the failing characteristic was sent")
	}
	dev.FailReads(uuidBroken, "")
	r.waitValue(t, "thermo", "broken", "2")
	if err := log.Wait(r.ctx, "device fault cleared", uuidBroken); err != nil {
		t.Fatal(err)
	}
	if st := r.c.DeviceFaults(); st.Active != 0 {
		t.Errorf("DeviceFaults after recovery = %+v", st)
	}
}

func hasKey(recs []tbgateway.Record, key string) bool {
	for _, rec := range recs {
		if _, ok := rec.Attributes[key]; ok {
			return true
		}
		for _, tel := range rec.Telemetry {
			if _, ok := tel.Values[key]; ok {
				return true
			}
		}
	}
	return false
}

// TestUnresponsiveDeviceDoesNotStarve: connection attempts take turns on the adapter: a device that never
// answers holds the queue for its timeout only, so the others connect and send while it is retried.
func TestUnresponsiveDeviceDoesNotStarve(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	dead := e.sim.AddDevice(bluezsim.DeviceSpec{Address: macOther, Name: "Dead", Unresponsive: true})
	e.addThermometer(macThermo, "Thermo")
	deadCfg := thermoDevice(macOther, "dead")
	deadCfg["timeout"] = 200
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{deadCfg, thermoDevice(macThermo, "thermo")}, nil), nil))
	if err := dead.ConnectAttempted(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.waitValue(t, "thermo", "battery", "87")
	// The dead device's attempt was cancelled after its timeout (Disconnect ends a pending attempt) and retried.
	waitFor(t, r.ctx, "attempts on the dead device cancelled", func() bool { return dead.Disconnects() >= 2 })
	if st := r.c.DeviceFaults(); st.Active < 1 {
		t.Errorf("DeviceFaults = %+v, want the dead device failing", st)
	}
}

// TestContract runs the connector kit's contract suite over D-Bus: the device side notifies a new temperature.
func TestContract(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	dev := e.addThermometer(macThermo, "Thermo")
	devCfg := map[string]any{"name": "thermo", "MACAddress": macThermo, "pollPeriod": 50,
		"connectRetryInSeconds": 0.05,
		"telemetry":             []any{map[string]any{"key": "temperature", "method": "notify", "characteristicUUID": uuidTemp, "valueExpression": "[2]"}}}
	raw := e.connectorConfig([]any{devCfg}, nil)
	var next byte
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector { return newTestConnector(t, raw, nil) },
		Ready: func(ctx context.Context, t *testing.T, _ *connectortest.Sink) {
			waitFor(t, ctx, "notify session", func() bool { return dev.Notifying(uuidTemp) })
		},
		Produce: func(ctx context.Context, t *testing.T) {
			next++
			if !dev.Notify(uuidTemp, []byte{0, 0, next}) {
				t.Fatal("notification not sent")
			}
		},
		Device:  "thermo",
		Timeout: testTimeout,
	})
}

// TestRunWithoutBus: an adapter that cannot be reached makes Run return an error naming it (the runtime
// restarts the connector), and a cancelled Run returns nil.
func TestRunWithoutBus(t *testing.T) {
	raw := []byte(`{"busAddress": "unix:path=/nonexistent/bus", "devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF"}]}`)
	c := newTestConnector(t, raw, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Run(ctx, connectortest.NewSink()); err == nil {
		t.Error("Run without a bus returned nil")
	}
	cancel()
	if err := c.Run(ctx, connectortest.NewSink()); err != nil {
		t.Errorf("Run with a cancelled context = %v, want nil", err)
	}
}
