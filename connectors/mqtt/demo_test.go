package mqtt_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
)

// TestDemo runs the demo's devices and connector file (what `make demo` wires) against mosquitto.
func TestDemo(t *testing.T) {
	var conf map[string]any
	if err := json.Unmarshal(mqtt.DemoConfig("127.0.0.1", 1), &conf); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "mqtt", conf)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := mqtt.RunDemoDevices(ctx, e.b.addr(), 2, 50*time.Millisecond); err != nil {
			t.Errorf("RunDemoDevices: %v", err)
		}
	})
	e.waitFor("demo telemetry", func() bool {
		_, ok := e.emu.Latest("MQTT Sensor 2")["temperature"]
		return ok
	})
	if _, err := e.emu.RPC(e.ctx, "MQTT Sensor 1", "setRelay", json.RawMessage(`{"on":true}`), false, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e.waitFor("relay on", func() bool { return e.emu.Latest("MQTT Sensor 1")["relay"].Value == true })
	reply, err := e.emu.RPC(e.ctx, "MQTT Sensor 1", "getState", nil, false, 30*time.Second)
	if err != nil || string(reply) != `{"relay":true,"setpoint":21}` {
		t.Fatalf("getState: %s, %v", reply, err)
	}
}
