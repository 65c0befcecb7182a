package serial

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestEndToEnd runs the Python gateway's custom serial example through a whole gateway and the ThingsBoard
// emulator: tb_gateway.json lists it as {"type": "custom", "class": "SerialConnector"} and its file is
// custom_serial.json with the port pointed at a pty pair. A device line reaches ThingsBoard as telemetry and a
// client attribute, a shared attribute set at ThingsBoard is written to the device, and both RPCs of the sample
// work, the one with response replying with the device's answer.
func TestEndToEnd(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	pair := connectortest.StartPtyPair(t, e.Ctx, "")
	var conf map[string]any
	if err := json.Unmarshal(readSample(t), &conf); err != nil {
		t.Fatal(err)
	}
	dev := conf["devices"].([]any)[0].(map[string]any)
	dev["port"] = pair.A
	dev["serverSideRpc"].([]any)[0].(map[string]any)["responseTimeoutSec"] = testTimeout.Seconds() // a failure bound
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{
		{Type: "custom", Class: "SerialConnector", Name: "Custom serial connector", File: "custom_serial.json", Conf: conf}}})
	g := e.Start(gwtest.StartOptions{})
	g.WaitLog(e.Ctx, "port open", "SerialDevice1")
	far := openFarEnd(t, pair.B)

	far.send(t, "45.2\rSN-12345\n")
	if v := e.WaitTelemetry("SerialDevice1", "humidity", 1); v[0].Value != 45.2 {
		t.Errorf("humidity %v", v[0].Value)
	}
	if v := e.WaitAttribute("SerialDevice1", tbemu.ScopeClient, "SerialNumber"); v != "SN-12345" {
		t.Errorf("SerialNumber %v", v)
	}

	if err := e.Emu.SetSharedAttributes("SerialDevice1", map[string]any{"attr1": 21}); err != nil {
		t.Fatal(err)
	}
	far.waitFor(e.Ctx, t, "value = 21\n")

	if reply := e.RPC("SerialDevice1", "getValue", "ping"); !reflect.DeepEqual(reply, map[string]any{"success": true}) {
		t.Errorf("getValue reply %v", reply)
	}
	far.waitFor(e.Ctx, t, "ping")

	go func() { // the device answers once it has the written value (42 as one byte)
		if err := far.wait(e.Ctx, "\x2a"); err != nil {
			t.Error(err)
			return
		}
		if _, err := far.f.WriteString("done\r\n"); err != nil {
			t.Error(err)
		}
	}()
	if reply := e.RPC("SerialDevice1", "setValue", 42); !reflect.DeepEqual(reply, map[string]any{"result": "done"}) {
		t.Errorf("setValue reply %v", reply)
	}
}
