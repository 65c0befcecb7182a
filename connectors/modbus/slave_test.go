package modbus_test

import (
	"encoding/json"
	"io"
	"log"
	"slices"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/tbemu"
)

const slaveDevice = "Modbus Slave Test"

// slaveConfig is the sample modbus.json's slave section (BIG byte and word order, a free port, a short poll
// period, sending to ThingsBoard) with a coil added.
func slaveConfig() []byte {
	b, _ := json.Marshal(map[string]any{"slave": map[string]any{
		"type": "tcp", "host": "127.0.0.1", "port": 0, "method": "socket", "unitId": 1,
		"deviceName": slaveDevice, "deviceType": "default", "pollPeriod": 20, "sendDataToThingsBoard": true,
		"byteOrder": "BIG", "wordOrder": "BIG", "identity": map[string]any{},
		"values": map[string]any{
			"holding_registers": map[string]any{
				"attributes": []any{map[string]any{"address": 1, "type": "string", "tag": "sm", "objectsCount": 1, "value": "ON"}},
				"timeseries": []any{map[string]any{"address": 2, "type": "16int", "tag": "smm", "objectsCount": 1, "value": 12334}},
				"attributeUpdates": []any{map[string]any{"tag": "shared_attribute_write", "type": "32int", "functionCode": 6,
					"objectsCount": 2, "address": 29, "value": 1243}},
				"rpc": []any{map[string]any{"tag": "setValue", "value": 22, "type": "16int", "address": 31, "objectsCount": 1, "functionCode": 6}},
			},
			"coils_initializer": map[string]any{
				"timeseries": []any{map[string]any{"address": 5, "type": "bits", "tag": "coil", "objectsCount": 1, "value": true}},
			},
		},
	}})
	return b
}

// TestSlaveModeTCP runs the slave section: the gateway serves the configured registers over Modbus TCP and sends
// their values to ThingsBoard; a register a Modbus client writes is sent too; a shared attribute and an RPC set
// at ThingsBoard are written to the served registers, where a Modbus client reads them back.
func TestSlaveModeTCP(t *testing.T) {
	name := "probe " + t.Name()
	g := startGatewayAs(t, slaveConfig(), probeType, name)
	v, ok := probes.Load(name)
	if !ok {
		t.Fatal("the probe connector was not built")
	}
	conn := v.(*modbus.Connector)
	g.WaitFor("the served values at ThingsBoard", func() bool {
		latest := g.Emu.Latest(slaveDevice)
		attrs := g.Emu.Attributes(slaveDevice, tbemu.ScopeClient)
		return same(12334.0, latest["smm"].Value) && same(true, latest["coil"].Value) && same("ON", attrs["sm"])
	})
	addr := conn.SlaveAddr()
	if addr == "" {
		t.Fatal("the connector reports no slave address while running")
	}
	cl, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + addr, Timeout: 5 * time.Second, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(); err != nil {
		t.Fatalf("connect to the slave at %s: %v", addr, err)
	}
	defer cl.Close()
	if err := cl.SetUnitId(1); err != nil {
		t.Fatal(err)
	}
	regs, err := cl.ReadRegisters(1, 2, mb.HOLDING_REGISTER)
	if err != nil || regs[0] != 'O'<<8|'N' || int16(regs[1]) != 12334 {
		t.Errorf("holding registers 1-2: %v (%v), want \"ON\" and 12334", regs, err)
	}
	coils, err := cl.ReadCoils(5, 1)
	if err != nil || !coils[0] {
		t.Errorf("coil 5: %v (%v), want true", coils, err)
	}

	// a Modbus client's write is polled and sent
	if err := cl.WriteRegister(2, uint16(0xffff&-555)); err != nil {
		t.Fatal(err)
	}
	g.WaitFor("the client's write at ThingsBoard", func() bool { return same(-555.0, g.Emu.Latest(slaveDevice)["smm"].Value) })

	// a shared attribute update is written to the served registers
	if err := g.Emu.SetSharedAttributes(slaveDevice, map[string]any{"shared_attribute_write": 98765}); err != nil {
		t.Fatal(err)
	}
	waitRegisters(t, g, cl, 29, []uint16{98765 >> 16, 98765 & 0xffff})

	// an RPC writes its item
	if got := g.rpc(slaveDevice, "setValue", 4321); !same(4321.0, got) {
		t.Errorf("setValue replied %v, want 4321", got)
	}
	waitRegisters(t, g, cl, 31, []uint16{4321})
}

// waitRegisters reads holding registers through the Modbus client until they hold want; the test's deadline
// bounds the wait.
func waitRegisters(t *testing.T, g *gateway, cl *mb.ModbusClient, addr uint16, want []uint16) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		regs, err := cl.ReadRegisters(addr, uint16(len(want)), mb.HOLDING_REGISTER)
		if err == nil && slices.Equal(regs, want) {
			return
		}
		select {
		case <-tick.C:
		case <-g.Ctx.Done():
			t.Fatalf("holding registers %d: %v (%v), want %v", addr, regs, err, want)
		}
	}
}
