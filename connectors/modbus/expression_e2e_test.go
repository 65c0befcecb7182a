package modbus_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestExpressionConvertersE2E polls a Modbus TCP device whose uplink_converter and downlink_converter are
// expressions (docs/converters.md), through the gateway and tbemu: the uplink expression decodes a CDAB float, two
// coils and an identifier from the raw registers, and the downlink expression scales a shared attribute into the
// register it writes.
func TestExpressionConvertersE2E(t *testing.T) {
	bank := modbus.NewBank(true)
	bank.SetRegisters(1, modbus.HoldingRegisters, 0, []uint16{0x0000, 0x41bc}) // 23.5 as float32, words swapped
	bank.SetRegisters(1, modbus.HoldingRegisters, 10, []uint16{0xbeef, 0x0042})
	bank.SetBits(1, modbus.Coils, 0, []bool{true, false})
	srv, err := modbus.ServeTCP("127.0.0.1:0", bank)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var port int
	if _, err := fmt.Sscanf(srv.Addr(), "127.0.0.1:%d", &port); err != nil {
		t.Fatal(err)
	}
	conf, _ := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{map[string]any{
		"type": "tcp", "host": "127.0.0.1", "port": port, "unitId": 1, "deviceName": "Boiler", "deviceType": "boiler",
		"pollPeriod": 50,
		"timeseries": []any{
			map[string]any{"tag": "temp", "type": "32float", "functionCode": 3, "address": 0, "objectsCount": 2},
			map[string]any{"tag": "status", "type": "bits", "functionCode": 1, "address": 0, "objectsCount": 2},
		},
		"attributes": []any{
			map[string]any{"tag": "serial", "type": "32uint", "functionCode": 3, "address": 10, "objectsCount": 2},
		},
		"attributeUpdates": []any{
			map[string]any{"tag": "setpoint", "type": "16int", "functionCode": 6, "address": 20, "objectsCount": 1},
		},
		"uplink_converter": map[string]any{"expression": `{
  telemetry: {temp: readFloat(data.temp, 0, 4, "big", "little"), running: data.status[0], alarm: data.status[1]},
  attributes: {serial: toHex(data.serial), source: connector + " " + address}}`},
		"downlink_converter": map[string]any{"expression": `{registers: [int(value * 10)]}`},
	}}}})
	g := startGateway(t, conf)

	for key, want := range map[string]string{"temp": "23.5", "running": "true", "alarm": "false"} {
		if got := g.WaitTelemetry("Boiler", key, 1); fmt.Sprint(got[0].Value) != want {
			t.Errorf("%s = %v, want %s", key, got[0].Value, want)
		}
	}
	if got := g.WaitAttribute("Boiler", tbemu.ScopeClient, "serial"); got != "beef0042" {
		t.Errorf("serial = %v, want beef0042", got)
	}
	if got := g.WaitAttribute("Boiler", tbemu.ScopeClient, "source"); got != "Modbus tcp://"+srv.Addr() {
		t.Errorf("source = %v", got)
	}
	if st := g.WaitDevice("Boiler"); st.Type != "boiler" {
		t.Errorf("device type %q, want boiler", st.Type)
	}

	if err := g.Emu.SetSharedAttributes("Boiler", map[string]any{"setpoint": 21.5}); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for bank.Registers(1, modbus.HoldingRegisters, 20, 1)[0] != 215 {
		select {
		case <-tick.C:
		case <-g.Ctx.Done():
			t.Fatalf("register 20 holds %v, want 215", bank.Registers(1, modbus.HoldingRegisters, 20, 1))
		}
	}
}
