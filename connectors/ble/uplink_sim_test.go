package ble

import (
	"testing"

	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// TestReadAndNotify: showMap logs the device's GATT map at connect; read characteristics arrive every pollPeriod converted by their valueExpression (the sample's
// "[0:2]cm [2:]A"), notifications as they come; a changed value is read again.
func TestReadAndNotify(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	dev := e.addThermometer(macThermo, "Thermo")
	devCfg := thermoDevice(macThermo, "thermo")
	devCfg["showMap"] = true
	log := gwtest.NewLog()
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{devCfg}, nil), log))
	// showMap: the device's services and characteristics with their flags, logged at connect.
	if err := log.Wait(r.ctx, "MAP FOR THERMO", "[Service] "+uuidSvc,
		"[Characteristic] "+uuidName+" (read,write,write-without-response), Value: b'Thermo'"); err != nil {
		t.Fatalf("no map logged: %v %q", err, log.Lines())
	}
	// "Thermo" is 84 104 101 114 109 111.
	r.waitValue(t, "thermo", "name", "84104cm 101114109111A")
	r.waitValue(t, "thermo", "battery", "87")
	dev.SetValue(uuidLevel, []byte{42})
	r.waitValue(t, "thermo", "battery", "42")
	waitFor(t, r.ctx, "notify session", func() bool { return dev.Notifying(uuidTemp) })
	if !dev.Notify(uuidTemp, []byte{55, 0, 21}) {
		t.Fatal("notification not sent")
	}
	r.waitValue(t, "thermo", "temperature", "21")
	r.waitValue(t, "thermo", "humidity", "55")
	for _, rec := range r.sink.Records() {
		if rec.DeviceType != "default" || rec.Connector != "BLE" {
			t.Fatalf("record %+v: want type default, connector BLE", rec)
		}
	}
}

// TestAdvertisementData: advertisement keys come from the scanner (manufacturer data, hex converter by default;
// service data by UUID) without connecting to the device, with one endless scan and with scan windows.
func TestAdvertisementData(t *testing.T) {
	for _, scanner := range []map[string]any{
		{"scannerTimeout": 10000, "scannerPollPeriod": 100}, // period not longer than the window: always scanning
		{"scannerTimeout": 100, "scannerPollPeriod": 150},   // 100 ms windows every 150 ms
	} {
		e := startSim(t, bluezsim.Options{})
		dev := e.addThermometer(macThermo, "Thermo")
		devCfg := map[string]any{"name": "beacon", "MACAddress": macThermo, "pollPeriod": 50,
			"telemetry": []any{
				map[string]any{"key": "counter", "dataSourceType": "advertisement", "valueExpression": "[0:2]"},
				map[string]any{"key": "svc", "dataSourceType": "advertisement", "characteristicUUID": "180f", "valueExpression": "[0]"},
			}}
		r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{devCfg}, scanner), nil))
		r.waitValue(t, "beacon", "counter", int64(0x0102))
		for v := int64(2000); v < 2003; v++ {
			dev.Advertise(map[uint16][]byte{0x0059: {byte(v >> 8), byte(v)}}, map[string][]byte{"180f": {byte(v)}})
			r.waitValue(t, "beacon", "counter", v)
			r.waitValue(t, "beacon", "svc", v&0xFF)
		}
		if dev.Connects() != 0 {
			t.Errorf("an advertisement-only device was connected %d times", dev.Connects())
		}
	}
}

// TestScanAndFilter: showMap logs the devices the scanner discovers that match scanner.deviceName, and the
// connector's scan RPC lists them; the other advertiser is left out of both.
func TestScanAndFilter(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	e.addThermometer(macThermo, "Thermo")
	e.addThermometer(macOther, "Other")
	log := gwtest.NewLog()
	devCfg := map[string]any{"name": "beacon", "MACAddress": macOther, "pollPeriod": 50,
		"telemetry": []any{map[string]any{"key": "c", "dataSourceType": "advertisement", "valueExpression": "[0]"}}}
	raw := e.connectorConfig([]any{devCfg}, map[string]any{"showMap": true, "scanner": map[string]any{"deviceName": "Thermo"}})
	r := runConnector(t, newTestConnector(t, raw, log))
	if err := log.Wait(r.ctx, "device discovered", macThermo, "name=Thermo"); err != nil {
		t.Fatal(err)
	}
	// The other device is seen too (its advertisement data arrives) but neither logged nor listed.
	r.waitValue(t, "beacon", "c", int64(1))
	if log.Contains("device discovered", macOther) {
		t.Errorf("a device not matching scanner.deviceName was logged: %q", log.Lines())
	}
	reply := rpc(t, r, "", "ble_scan", nil)
	if want := `{"` + macThermo + `":{"name":"Thermo","rssi":-60}}`; reply != want {
		t.Errorf("ble_scan = %s, want %s", reply, want)
	}
}

// TestPassiveScan: with passiveScanMode and an adapter that has advertisement monitors, the scan is passive (no
// discovery session) and reports the devices matching scanner.deviceName; without monitor support the connector
// warns and scans actively.
func TestPassiveScan(t *testing.T) {
	for _, monitors := range []bool{true, false} {
		e := startSim(t, bluezsim.Options{Monitors: monitors})
		e.addThermometer(macThermo, "Thermo")
		log := gwtest.NewLog()
		devCfg := map[string]any{"name": "beacon", "MACAddress": macThermo, "pollPeriod": 50,
			"telemetry": []any{map[string]any{"key": "c", "dataSourceType": "advertisement", "valueExpression": "[2]"}}}
		raw := e.connectorConfig([]any{devCfg}, map[string]any{"passiveScanMode": true, "scanner": map[string]any{"deviceName": "Thermo"}})
		r := runConnector(t, newTestConnector(t, raw, log))
		r.waitValue(t, "beacon", "c", int64(0x1A))
		warned := log.Contains("cannot scan passively; scanning actively")
		if monitors && (warned || e.sim.Discovering()) {
			t.Errorf("monitors: warned %v, discovering %v; want a passive scan", warned, e.sim.Discovering())
		}
		if !monitors && !warned {
			t.Errorf("no monitors and no warning about the active scan: %q", log.Lines())
		}
	}
}
