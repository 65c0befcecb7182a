package modbus_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// readVectors reads a vector table of testdata.
func readVectors(t *testing.T, file string) []registerVector {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Vectors []registerVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Vectors) == 0 {
		t.Fatalf("%s holds no vectors", file)
	}
	return table.Vectors
}

// writeCodec decodes a one-device file with the given "repack" (nil: the key left out) and returns the codec of
// its function-code-16 attributeUpdates item of v's type.
func writeCodec(t *testing.T, v registerVector, repack any) *modbus.Codec {
	t.Helper()
	dev := map[string]any{"host": "127.0.0.1", "pollPeriod": 1000, "byteOrder": v.ByteOrder, "wordOrder": v.WordOrder,
		"attributeUpdates": []any{map[string]any{"tag": "k", "type": v.Type, "functionCode": 16,
			"objectsCount": v.ObjectsCount, "address": 0}}}
	if repack != nil {
		dev["repack"] = repack
	}
	raw, _ := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{dev}}})
	cfg, warnings, err := modbus.Decode(raw)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%v: decode: %v %q", v, err, warnings)
	}
	return &cfg.Devices[0].AttributeUpdates[0].Codec
}

// TestRepackVectorsPymodbus: a slave entry's "repack": true writes the registers pymodbus's
// BinaryPayloadBuilder(repack=True) builds (testdata/repack_vectors.json, every type under the four byte/word
// orders); "repack": false, as the corpus' configs set it, and no "repack" write what the builder without repack
// builds (testdata/register_vectors.json).
func TestRepackVectorsPymodbus(t *testing.T) {
	encode := func(c *modbus.Codec, v registerVector) []uint16 {
		t.Helper()
		var in any = json.Number(v.Value)
		if v.Type == "string" {
			in = v.Value
		}
		regs, err := c.EncodeRegisters(in)
		if err != nil {
			t.Fatalf("%v: encode: %v", v, err)
		}
		return regs
	}
	swapped := 0
	for _, v := range readVectors(t, "testdata/repack_vectors.json") {
		if got := encode(writeCodec(t, v, true), v); !slices.Equal(got, v.Registers) {
			t.Errorf("repack %v: writes %04x, want %04x", v, got, v.Registers)
		}
		if v.ByteOrder == "LITTLE" {
			swapped++
		}
	}
	if swapped == 0 {
		t.Error("no byteOrder LITTLE vector: the table cannot show repack at work")
	}
	for _, v := range readVectors(t, "testdata/register_vectors.json") {
		for _, repack := range []any{false, nil} {
			if got := encode(writeCodec(t, v, repack), v); !slices.Equal(got, v.Registers) {
				t.Errorf("repack %v %v: writes %04x, want %04x", repack, v, got, v.Registers)
			}
		}
	}
}

// TestRepackCoils: a number written to coils (function code 15) under repack takes its bits from the repacked
// registers, as pymodbus's to_coils builds them from to_registers.
func TestRepackCoils(t *testing.T) {
	bits := func(repack bool) []bool {
		raw := fmt.Sprintf(`{"master":{"slaves":[{"host":"h","pollPeriod":1,"byteOrder":"LITTLE","repack":%v,
			"rpc":[{"tag":"c","type":"16uint","functionCode":15,"objectsCount":16,"address":0}]}]}}`, repack)
		cfg, _, err := modbus.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		b, err := cfg.Devices[0].RPC[0].Codec.EncodeBits(json.Number("1"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain, repacked := bits(false), bits(true)
	// 1 as a 16-bit value is bytes 00 01; LITTLE swaps them to 01 00 and repack swaps them back
	if slices.Equal(plain, repacked) || !slices.Equal(repacked[:8], plain[8:]) || !slices.Equal(repacked[8:], plain[:8]) {
		t.Errorf("repack does not swap the bytes: plain %v, repacked %v", plain, repacked)
	}
}

// TestRepackSlaveSection: the slave section's "repack" applies to the values it serves, as the Python gateway
// builds the server's initial values with it.
func TestRepackSlaveSection(t *testing.T) {
	for repack, want := range map[bool]uint16{false: 0x3412, true: 0x1234} {
		raw := fmt.Sprintf(`{"slave":{"port":0,"byteOrder":"LITTLE","repack":%v,"values":{"holding_registers":
			{"attributes":[{"tag":"v","type":"16uint","objectsCount":1,"address":0,"value":4660}]}}}}`, repack)
		cfg, warnings, err := modbus.Decode([]byte(raw))
		if err != nil || len(warnings) > 0 {
			t.Fatalf("repack %v: %v %q", repack, err, warnings)
		}
		regs, err := cfg.Slave.Device.Attributes[0].Codec.EncodeRegisters(json.Number("4660"))
		if err != nil || len(regs) != 1 || regs[0] != want {
			t.Errorf("repack %v: 4660 serves as %04x (%v), want %04x", repack, regs, err, want)
		}
	}
}
