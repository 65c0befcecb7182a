package ble

import (
	"encoding/json"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// rpc calls HandleRPC and returns the reply's JSON, or "error: <text>".
func rpc(t *testing.T, r *running, device, method string, params any) string {
	t.Helper()
	var raw json.RawMessage
	if params != nil {
		raw, _ = json.Marshal(params)
	}
	out, err := r.c.HandleRPC(r.ctx, tbgateway.RPCRequest{Device: device, Method: method, Params: raw})
	if err != nil {
		return "error: " + err.Error()
	}
	return string(out)
}

// connectedThermo runs the connector on the sample device and waits until it is connected (its name was read).
func connectedThermo(t *testing.T) (*simEnv, *bluezsim.SimDevice, *running) {
	e := startSim(t, bluezsim.Options{})
	dev := e.addThermometer(macThermo, "Thermo")
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{thermoDevice(macThermo, "thermo")}, nil), nil))
	r.waitValue(t, "thermo", "battery", "87")
	return e, dev, r
}

// TestAttributeUpdateWrite: a shared attribute listed in attributeUpdates is written to its characteristic as
// text, as a write request; other attributes are not written.
func TestAttributeUpdateWrite(t *testing.T) {
	_, dev, r := connectedThermo(t)
	if err := r.c.UpdateAttributes(r.ctx, "thermo", map[string]any{"sharedName": "Kitchen", "other": 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.c.UpdateAttributes(r.ctx, "thermo", map[string]any{"sharedName": 21.5}); err != nil {
		t.Fatal(err)
	}
	w := dev.Writes(uuidName)
	if len(w) != 2 || string(w[0].Value) != "Kitchen" || w[0].Type != "request" || string(w[1].Value) != "21.5" {
		t.Fatalf("writes %+v, want Kitchen and 21.5 as requests", w)
	}
	if err := r.c.UpdateAttributes(r.ctx, "nobody", map[string]any{"sharedName": "x"}); err == nil {
		t.Error("an update for an unknown device succeeded")
	}
}

// TestRPC: serverSideRpc read, write (request or command by withResponse), scan (the device's GATT map), the
// reserved get and set, the connector's ble_scan, and an unknown method, with the Python connector's replies.
func TestRPC(t *testing.T) {
	_, dev, r := connectedThermo(t)
	if got := rpc(t, r, "thermo", "rpcMethod1", nil); got != `"Thermo"` {
		t.Errorf("read = %s, want \"Thermo\"", got)
	}
	if got := rpc(t, r, "thermo", "rpcMethod2", "Hall"); got != `"Ok"` {
		t.Errorf("write = %s, want \"Ok\"", got)
	}
	if got := rpc(t, r, "thermo", "rpcMethod3", map[string]any{"a": 1}); got != `"Ok"` {
		t.Errorf("write without response = %s", got)
	}
	// A write command has no reply: wait until the stand-in has seen it.
	waitFor(t, r.ctx, "two writes", func() bool { return len(dev.Writes(uuidName)) >= 2 })
	w := dev.Writes(uuidName)
	if len(w) != 2 || string(w[0].Value) != "Hall" || w[0].Type != "request" ||
		string(w[1].Value) != `{"a":1}` || w[1].Type != "command" {
		t.Fatalf("writes %+v", w)
	}
	scan := rpc(t, r, "thermo", "rpcMethod4", nil)
	for _, want := range []string{"MAP FOR THERMO", "[Service] " + uuidSvc,
		"[Characteristic] " + uuidTemp + " (notify), Value: None",
		"[Characteristic] " + uuidLevel + " (read), Value: b'W'"} {
		if !strings.Contains(scan, want) {
			t.Errorf("scan reply %s lacks %q", scan, want)
		}
	}
	dev.SetValue(uuidLevel, []byte("42"))
	if got := rpc(t, r, "thermo", "get", "characteristicUUID="+uuidLevel); got != `42` {
		t.Errorf("get = %s, want 42 (a text reply that is JSON is sent as JSON, as in Python)", got)
	}
	if got := rpc(t, r, "thermo", "set", "characteristicUUID=2A00;value=Porch"); got != `"Ok"` {
		t.Errorf("set = %s", got)
	}
	if w := dev.Writes(uuidName); len(w) != 3 || string(w[2].Value) != "Porch" {
		t.Errorf("set wrote %+v", w)
	}
	if got := rpc(t, r, "", "ble_scan", nil); !strings.Contains(got, `"`+macThermo+`":{"name":"Thermo"`) {
		t.Errorf("ble_scan = %s", got)
	}
	got := rpc(t, r, "thermo", "reboot", nil)
	if !strings.Contains(got, `device "thermo" has no RPC method "reboot" (it has: rpcMethod1, rpcMethod2, rpcMethod3, rpcMethod4, get, set)`) {
		t.Errorf("unknown method = %s", got)
	}
	if got := rpc(t, r, "thermo", "get", "value=1"); !strings.Contains(got, "expected characteristicUUID=<uuid>") {
		t.Errorf("get without a UUID = %s", got)
	}
}

// TestAttributeUpdateBeforeConnect: an update for a device not connected yet (e.g. the shared attributes the
// gateway fetches at start) is kept and written once the device connects.
func TestAttributeUpdateBeforeConnect(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{thermoDevice(macThermo, "thermo")}, nil), nil))
	waitFor(t, r.ctx, "connector running", r.c.isRunning)
	if err := r.c.UpdateAttributes(r.ctx, "thermo", map[string]any{"sharedName": "Early"}); err != nil {
		t.Fatal(err)
	}
	if err := r.c.UpdateAttributes(r.ctx, "thermo", map[string]any{"sharedName": "Later"}); err != nil {
		t.Fatal(err)
	}
	dev := e.addThermometer(macThermo, "Thermo")
	r.waitValue(t, "thermo", "battery", "87")
	waitFor(t, r.ctx, "the kept update written", func() bool { return len(dev.Writes(uuidName)) > 0 })
	if w := dev.Writes(uuidName); len(w) != 1 || string(w[0].Value) != "Later" {
		t.Errorf("writes %+v, want the newest value once", w)
	}
}
