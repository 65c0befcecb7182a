package modbus_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// registerVector is one value of one type under one byte/word order and the registers that carry it.
type registerVector struct {
	Type         string   `json:"type"`
	ObjectsCount int      `json:"objectsCount"`
	ByteOrder    string   `json:"byteOrder"`
	WordOrder    string   `json:"wordOrder"`
	Value        string   `json:"value"`
	Registers    []uint16 `json:"registers"`
}

func (v registerVector) String() string {
	return fmt.Sprintf("%s/%s/%s=%s", v.Type, v.ByteOrder, v.WordOrder, v.Value)
}

// TestRegisterVectorsPymodbus decodes and encodes every vector pymodbus's own payload codec produced
// (testdata/register_vectors.json, written by testdata/register_vectors.py): the registers must read as the value,
// and the value must write as the registers. Nothing here comes from this package's codec.
func TestRegisterVectorsPymodbus(t *testing.T) {
	vectors := readVectors(t, "testdata/register_vectors.json")
	// every type under all four byte/word orders, so a table that lost rows cannot pass quietly
	seen := map[string]map[string]bool{}
	for _, v := range vectors {
		if seen[v.Type] == nil {
			seen[v.Type] = map[string]bool{}
		}
		seen[v.Type][v.ByteOrder+"/"+v.WordOrder] = true
		checkVector(t, v)
	}
	for _, typ := range []string{"8int", "8uint", "16int", "16uint", "16float", "32int", "32uint", "32float",
		"64int", "64uint", "64float", "string"} {
		if len(seen[typ]) != 4 {
			t.Errorf("%s: vectors for %d of the 4 byte/word orders", typ, len(seen[typ]))
		}
	}
}

// TestRegisterVectorsByHand checks vectors worked out from the Modbus application protocol (each register is sent
// high byte first) and the meaning of the two settings: byteOrder LITTLE swaps the bytes inside each register,
// wordOrder LITTLE puts the least significant register first.
func TestRegisterVectorsByHand(t *testing.T) {
	vectors := []registerVector{
		// 0x12345678: words 0x1234 (high), 0x5678 (low)
		{"32uint", 2, "BIG", "BIG", "305419896", []uint16{0x1234, 0x5678}},
		{"32uint", 2, "BIG", "LITTLE", "305419896", []uint16{0x5678, 0x1234}},
		{"32uint", 2, "LITTLE", "BIG", "305419896", []uint16{0x3412, 0x7856}},
		{"32uint", 2, "LITTLE", "LITTLE", "305419896", []uint16{0x7856, 0x3412}},
		// -2 as int32 is 0xFFFFFFFE
		{"32int", 2, "BIG", "LITTLE", "-2", []uint16{0xFFFE, 0xFFFF}},
		{"32int", 2, "LITTLE", "BIG", "-2", []uint16{0xFFFF, 0xFEFF}},
		// IEEE 754 single 1.0 is 0x3F800000, -2.5 is 0xC0200000
		{"32float", 2, "BIG", "BIG", "1", []uint16{0x3F80, 0x0000}},
		{"32float", 2, "BIG", "LITTLE", "1", []uint16{0x0000, 0x3F80}},
		{"32float", 2, "LITTLE", "LITTLE", "-2.5", []uint16{0x0000, 0x20C0}},
		// 0x0102030405060708
		{"64uint", 4, "BIG", "BIG", "72623859790382856", []uint16{0x0102, 0x0304, 0x0506, 0x0708}},
		{"64uint", 4, "BIG", "LITTLE", "72623859790382856", []uint16{0x0708, 0x0506, 0x0304, 0x0102}},
		{"64uint", 4, "LITTLE", "BIG", "72623859790382856", []uint16{0x0201, 0x0403, 0x0605, 0x0807}},
		{"64uint", 4, "LITTLE", "LITTLE", "72623859790382856", []uint16{0x0807, 0x0605, 0x0403, 0x0201}},
		// -2 as int64 is 0xFFFFFFFFFFFFFFFE
		{"64int", 4, "BIG", "LITTLE", "-2", []uint16{0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}},
		// IEEE 754 double 1.0 is 0x3FF0000000000000
		{"64float", 4, "BIG", "BIG", "1", []uint16{0x3FF0, 0, 0, 0}},
		{"64float", 4, "BIG", "LITTLE", "1", []uint16{0, 0, 0, 0x3FF0}},
		{"64float", 4, "LITTLE", "BIG", "1", []uint16{0xF03F, 0, 0, 0}},
		// 16 bits: only the byte order matters
		{"16int", 1, "LITTLE", "BIG", "-2", []uint16{0xFEFF}},
		{"16uint", 1, "BIG", "LITTLE", "4660", []uint16{0x1234}},
	}
	for _, v := range vectors {
		checkVector(t, v)
	}
}

// checkVector decodes v's registers and encodes v's value with a codec for v's type and orders.
func checkVector(t *testing.T, v registerVector) {
	t.Helper()
	c, err := modbus.NewCodec(v.Type, v.ObjectsCount, 3, v.ByteOrder, v.WordOrder)
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	c.Round = -1
	got, err := c.DecodeRegisters(v.Registers)
	if err != nil {
		t.Errorf("%v: decode %04x: %v", v, v.Registers, err)
	} else if !vectorValue(t, v, got) {
		t.Errorf("%v: registers %04x decode as %v (%T)", v, v.Registers, got, got)
	}
	var in any = json.Number(v.Value)
	if v.Type == "string" {
		in = v.Value
	}
	regs, err := c.EncodeRegisters(in)
	if err != nil {
		t.Errorf("%v: encode: %v", v, err)
	} else if !slices.Equal(regs, v.Registers) {
		t.Errorf("%v: encodes as %04x, want %04x", v, regs, v.Registers)
	}
}

// vectorValue reports whether a decoded value is exactly the vector's value.
func vectorValue(t *testing.T, v registerVector, got any) bool {
	t.Helper()
	switch v.Type {
	case "string":
		return got == v.Value
	case "16float", "32float", "64float":
		want, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		f, ok := got.(float64)
		return ok && f == want
	}
	want, ok := new(big.Int).SetString(v.Value, 10)
	if !ok {
		t.Fatalf("%v: not an integer", v)
	}
	switch g := got.(type) {
	case int64:
		return want.IsInt64() && want.Int64() == g
	case float64:
		// a 64uint above the int64 range is carried as a double (codec.go)
		w, _ := new(big.Float).SetInt(want).Float64()
		return !want.IsInt64() && g == w && !math.IsInf(g, 0)
	}
	return false
}
