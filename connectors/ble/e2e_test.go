package ble

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestE2ESample runs the Python gateway's sample ble.json, pointed at the BlueZ stand-in (its MAC, the stand-in's
// bus, a short poll period), in a gateway connected to the ThingsBoard emulator: notified telemetry and read
// attributes arrive at ThingsBoard, a shared attribute is written to the device, and the sample's RPCs answer.
func TestE2ESample(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	const mac = "4C:65:A8:DF:85:C0" // the sample's
	dev := e.sim.AddDevice(bluezsim.DeviceSpec{Address: mac, Name: "Device name", Services: []bluezsim.ServiceSpec{{
		UUID: uuidSvc, Characteristics: []bluezsim.CharSpec{
			{UUID: uuidTemp, Flags: []string{"notify"}},
			{UUID: uuidName, Flags: []string{"read", "write"}, Value: []byte("TH")},
		}}}})
	raw, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["busAddress"] = e.bus
	d := cfg["devices"].([]any)[0].(map[string]any)
	d["pollPeriod"] = 100
	const device = "Temperature and humidity sensor"

	env := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	env.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: Type, Name: "BLE Connector", File: "ble.json", Conf: cfg}}})
	gw := env.Start(gwtest.StartOptions{})
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range gw.Log.Lines() {
				t.Log(l)
			}
		}
	})

	// "TH" is 84 72: "[0:2]cm [2:]A" gives "8472cm A", "All values: [:]" gives "All values: 8472".
	env.WaitFor("read attributes", func() bool {
		a := env.Emu.Attributes(device, tbemu.ScopeClient)
		return a["name"] == "8472cm A" && a["values"] == "All values: 8472"
	})
	env.WaitFor("notify session", func() bool { return dev.Notifying(uuidTemp) })
	if !dev.Notify(uuidTemp, []byte{40, 0, 22}) {
		t.Fatal("notification not sent")
	}
	env.WaitFor("notified telemetry", func() bool {
		l := env.Emu.Latest(device)
		return fmt.Sprint(l["temperature"].Value) == "22" && fmt.Sprint(l["humidity"].Value) == "40"
	})

	if err := env.Emu.SetSharedAttributes(device, map[string]any{"sharedName": "Kitchen"}); err != nil {
		t.Fatal(err)
	}
	env.WaitFor("shared attribute written", func() bool {
		w := dev.Writes(uuidName)
		return len(w) > 0 && string(w[len(w)-1].Value) == "Kitchen" && w[len(w)-1].Type == "request"
	})
	if got := env.RPC(device, "rpcMethod1", nil); got != "Kitchen" {
		t.Errorf("rpcMethod1 (read) = %v, want Kitchen", got)
	}
	if got := env.RPC(device, "rpcMethod2", "Hall"); got != "Ok" {
		t.Errorf("rpcMethod2 (write) = %v, want Ok", got)
	}
	if got, _ := env.RPC(device, "rpcMethod3", nil).(string); len(got) < 10 || got[:10] != "MAP FOR TE" {
		t.Errorf("rpcMethod3 (scan) = %q, want the device's map", got)
	}
}
