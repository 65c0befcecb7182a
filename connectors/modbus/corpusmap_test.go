package modbus

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// corpusUnit is the unit id of the blackbox corpus' Modbus server.
const corpusUnit = 2

// corpusLayout is the register map of the corpus' server (testdata/NOTICE): key, type, address, objectsCount.
var corpusLayout = []struct {
	key, typ   string
	addr, regs int
}{
	{"string", "string", 0, 2}, {"bits", "bits", 2, 16}, {"16int", "16int", 4, 1}, {"16uint", "16uint", 5, 1},
	{"32int", "32int", 6, 2}, {"32uint", "32uint", 8, 2}, {"16float", "16float", 10, 1}, {"32float", "32float", 11, 2},
	{"64int", "64int", 15, 4}, {"64uint", "64uint", 19, 4}, {"64float", "64float", 27, 4},
}

// readJSON reads a testdata file into v.
func readJSON(t testing.TB, v any, parts ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", filepath.Join(parts...), err)
	}
}

// corpusBank rebuilds the corpus server from the LITTLE expectations: holding and input registers hold the
// uplink values encoded LITTLE/LITTLE; coils and discrete inputs hold the coil expectations.
func corpusBank(t testing.TB) *Bank {
	t.Helper()
	var want map[string]string
	readJSON(t, &want, "blackbox", "test_values", "uplink", "holding_registers_values_little.json")
	b := NewBank(false)
	for _, e := range corpusLayout {
		c := mustCodec(t, e.typ, e.regs, false, true, true)
		v, err := values.Decode([]byte(strconv.Quote(want[e.key])))
		if err != nil {
			t.Fatal(err)
		}
		if e.typ != "string" {
			v, _ = values.Decode([]byte(want[e.key]))
		}
		regs, err := c.EncodeRegisters(v)
		if err != nil {
			t.Fatalf("encode %s = %v: %v", e.key, v, err)
		}
		b.SetRegisters(corpusUnit, HoldingRegisters, uint16(e.addr), regs)
		b.SetRegisters(corpusUnit, InputRegisters, uint16(e.addr), regs)
	}
	var coils map[string]string
	readJSON(t, &coils, "blackbox", "test_values", "uplink", "discrete_and_coils_registers_values_little.json")
	var list []any
	if err := json.Unmarshal([]byte(coils["bits"]), &list); err != nil {
		t.Fatal(err)
	}
	bits, err := mustCodec(t, "bits", 16, true, true, true).EncodeBits(list)
	if err != nil {
		t.Fatal(err)
	}
	b.SetBits(corpusUnit, Coils, 0, bits)
	b.SetBits(corpusUnit, DiscreteInputs, 0, bits)
	return b
}

func mustCodec(t testing.TB, typ string, count int, coils, littleBytes, littleWords bool) *Codec {
	t.Helper()
	k, err := parseKind(typ, count)
	if err != nil {
		t.Fatal(err)
	}
	return &Codec{Kind: k, Count: count, Coils: coils, LittleBytes: littleBytes, LittleWords: littleWords, Bit: -1, Round: DefaultRound}
}

// sameValue compares a value as ThingsBoard shows it (a string from the REST API, or typed JSON from an RPC
// file) with a decoded value.
func sameValue(want any, got any) bool {
	if s, ok := want.(string); ok {
		var typed any
		if err := json.Unmarshal([]byte(s), &typed); err == nil {
			want = typed
		}
	}
	switch g := got.(type) {
	case tbgateway.RawJSON:
		var x any
		if json.Unmarshal(g, &x) != nil {
			return false
		}
		got = x
	case json.RawMessage:
		var x any
		if json.Unmarshal(g, &x) != nil {
			return false
		}
		got = x
	case int64:
		got = float64(g)
	}
	wf, wok := want.(float64)
	gf, gok := got.(float64)
	if wok && gok {
		return wf == gf || math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), math.Abs(gf))
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	return string(wb) == string(gb)
}
