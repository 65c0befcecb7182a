package modbus_test

import (
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// TestContract runs the connector kit's contract suite against a connector polling an in-process Modbus TCP
// server. The device side's driver changes a holding register, so the next poll yields a new reading. Modbus has
// no acknowledgement a device could see (a poll is "done" once its reading is stored), so the suite's
// acknowledgement check is skipped; the retry after a full storage is checked.
func TestContract(t *testing.T) {
	bank, raw := pollSetup(t)
	var reading atomic.Uint32
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector { return newPollConnector(t, raw) },
		Produce: func(_ context.Context, _ *testing.T) {
			bank.SetRegisters(contractUnit, modbus.HoldingRegisters, 0, []uint16{uint16(reading.Add(1))})
		},
		Device: contractDevice,
	})
}

// TestStorageFullKeepsReading: while storage is full the poll's reading is sent again until it is stored, so a
// register that changed meanwhile does not replace it (nothing read is lost), and polling waits.
func TestStorageFullKeepsReading(t *testing.T) {
	bank, raw := pollSetup(t)
	bank.SetRegisters(contractUnit, modbus.HoldingRegisters, 0, []uint16{111})
	conn := newPollConnector(t, raw)
	sink := connectortest.NewSink()
	sink.FailAll(connectortest.StorageFull())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	reads := func(recs []tbgateway.Record, v int64) bool {
		for _, r := range recs {
			for _, tel := range r.Telemetry {
				if tel.Values["reading"] == v {
					return true
				}
			}
		}
		return false
	}
	err := sink.Await(ctx, func(_ []tbgateway.Record, attempts []connectortest.Attempt, _ int) bool {
		return len(attempts) > 0 && attempts[len(attempts)-1].Err != nil && reads(attempts[len(attempts)-1].Records, 111)
	})
	if err != nil {
		t.Fatalf("no refused Send of the reading 111: %v", err)
	}
	bank.SetRegisters(contractUnit, modbus.HoldingRegisters, 0, []uint16{222})
	sink.FailAll(nil)
	recs, err := sink.WaitRecords(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reads(recs[:1], 111) {
		t.Errorf("first record stored after the storage had room: %+v, want the refused reading 111", recs[0])
	}
}

const contractUnit, contractDevice = 1, "contract-device"

// pollSetup starts an in-process Modbus TCP server and returns it with a connector file polling it every 10 ms:
// holding register 0 is the timeseries "reading"; register 1 is written by the attribute "contractKey" and the
// RPC "contractMethod".
func pollSetup(t *testing.T) (*modbus.Bank, []byte) {
	t.Helper()
	bank := modbus.NewBank(false)
	bank.SetRegisters(contractUnit, modbus.HoldingRegisters, 0, []uint16{0, 0})
	srv, err := modbus.ServeTCP("127.0.0.1:0", bank)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(srv.Addr())
	raw, err := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{map[string]any{
		"deviceName": contractDevice, "host": host, "port": json.Number(port), "unitId": contractUnit, "pollPeriod": 10,
		"byteOrder": "BIG", "wordOrder": "BIG",
		"timeseries":       []any{map[string]any{"tag": "reading", "type": "16uint", "functionCode": 3, "address": 0}},
		"attributeUpdates": []any{map[string]any{"tag": "contractKey", "type": "16uint", "functionCode": 6, "address": 1}},
		"rpc":              []any{map[string]any{"tag": "contractMethod", "type": "16uint", "functionCode": 6, "address": 1}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	return bank, raw
}

func newPollConnector(t *testing.T, raw []byte) *modbus.Connector {
	t.Helper()
	cfg, warnings, err := modbus.Decode(raw)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("decode: %v %q", err, warnings)
	}
	return modbus.New(cfg, nil)
}
