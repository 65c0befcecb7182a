package modbus_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// TestAddressRangePoll: "address": "start-end" items poll one telemetry key per address (and per objectsCount
// block) from the server, each with the value at its own address, the tag rendered from ${address}.
func TestAddressRangePoll(t *testing.T) {
	bank := modbus.NewBank(false)
	bank.SetRegisters(1, modbus.HoldingRegisters, 20, []uint16{100, 101, 102, 103, 65535})
	// 32-bit values, big-endian words: 0x00010002 at 40, 0x00030004 at 42
	bank.SetRegisters(1, modbus.InputRegisters, 40, []uint16{1, 2, 3, 4})
	srv, err := modbus.ServeTCP("127.0.0.1:0", bank)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(srv.Addr())
	conf, _ := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{map[string]any{
		"deviceName": "R", "host": host, "port": json.Number(port), "unitId": 1, "pollPeriod": 20, "timeout": 5,
		"byteOrder": "BIG", "wordOrder": "BIG",
		"timeseries": []any{
			map[string]any{"tag": "hr_${address}", "type": "16int", "functionCode": 3, "address": "20-24"},
			map[string]any{"tag": "ir", "type": "32uint", "functionCode": 4, "objectsCount": 2, "address": "40-42"},
		}}}}})
	g := startGateway(t, conf)
	want := map[string]string{"hr_20": "100", "hr_21": "101", "hr_22": "102", "hr_23": "103", "hr_24": "-1",
		"ir_40": fmt.Sprint(1<<16 | 2), "ir_42": fmt.Sprint(3<<16 | 4)}
	for key, v := range want {
		got := g.WaitTelemetry("R", key, 1)
		if s := fmt.Sprint(got[0].Value); s != v {
			t.Errorf("%s = %s, want %s", key, s, v)
		}
	}
	// every poll sends all keys in one message, so after the first one the key set is complete
	keys := g.Emu.Keys("R")
	slices.Sort(keys)
	if wantKeys := slices.Sorted(maps.Keys(want)); !slices.Equal(keys, wantKeys) {
		t.Errorf("keys %q, want %q", keys, wantKeys)
	}
}
