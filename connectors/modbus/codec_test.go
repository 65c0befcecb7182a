package modbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

func show(v any) string {
	if r, ok := v.(tbgateway.RawJSON); ok {
		return string(r)
	}
	return fmt.Sprint(v)
}

// TestCorpusDecoding decodes the rebuilt corpus registers with the BIG and LITTLE orders and compares with the
// corpus' uplink expectations.
func TestCorpusDecoding(t *testing.T) {
	b := corpusBank(t)
	for _, order := range []string{"big", "little"} {
		var want map[string]string
		readJSON(t, &want, "blackbox", "test_values", "uplink", "holding_registers_values_"+order+".json")
		little := order == "little"
		for _, e := range corpusLayout {
			c := mustCodec(t, e.typ, e.regs, false, little, little)
			got, err := c.DecodeRegisters(b.Registers(corpusUnit, HoldingRegisters, uint16(e.addr), c.Objects()))
			if err != nil {
				t.Fatalf("%s %s: %v", order, e.key, err)
			}
			if !sameValue(want[e.key], got) {
				t.Errorf("%s %s: got %v (%T), want %s", order, e.key, got, got, want[e.key])
			}
		}
	}
	var coils map[string]string
	readJSON(t, &coils, "blackbox", "test_values", "uplink", "discrete_and_coils_registers_values_big.json")
	for _, tc := range []struct {
		key, typ string
		n        int
	}{{"bits", "bits", 16}, {"bit", "bit", 1}} {
		c := mustCodec(t, tc.typ, tc.n, true, false, false)
		got, err := c.DecodeBits(b.Bits(corpusUnit, Coils, 0, c.Objects()))
		if err != nil {
			t.Fatal(err)
		}
		if !sameValue(coils[tc.key], got) {
			t.Errorf("coils %s: got %v, want %s", tc.key, got, coils[tc.key])
		}
	}
}

// TestCorpusBank checks the built-in corpus map against the one rebuilt from the corpus files.
func TestCorpusBank(t *testing.T) {
	want, got := corpusBank(t), CorpusBank()
	for _, tab := range []Table{HoldingRegisters, InputRegisters} {
		if fmt.Sprint(want.Registers(corpusUnit, tab, 0, 40)) != fmt.Sprint(got.Registers(CorpusUnit, tab, 0, 40)) {
			t.Errorf("table %d differs", tab)
		}
	}
	for _, tab := range []Table{Coils, DiscreteInputs} {
		if fmt.Sprint(want.Bits(corpusUnit, tab, 0, 16)) != fmt.Sprint(got.Bits(CorpusUnit, tab, 0, 16)) {
			t.Errorf("table %d differs", tab)
		}
	}
}

func TestDecodeScalingAndBits(t *testing.T) {
	c := &Codec{Kind: KindInt16, Count: 1, Bit: -1, Round: 6, Divider: 10}
	if v, _ := c.DecodeRegisters([]uint16{0xff9c}); v != -10.0 { // -100 / 10
		t.Errorf("divider: got %v", v)
	}
	c = &Codec{Kind: KindInt8, Count: 1, Bit: -1, Round: 6, Multiplier: 10}
	if v, _ := c.DecodeRegisters([]uint16{0x0500}); v != int64(50) {
		t.Errorf("8int BIG takes the high byte, times 10: got %v", v)
	}
	c.LittleBytes = true
	if v, _ := c.DecodeRegisters([]uint16{0x0500}); v != int64(50) {
		t.Errorf("8int LITTLE takes the high byte too (as pymodbus does): got %v", v)
	}
	c = &Codec{Kind: KindBits, Count: 16, Bit: 3, Round: 6}
	if v, _ := c.DecodeRegisters([]uint16{0x0008}); v != true {
		t.Errorf("bit 3: got %v", v)
	}
	c = &Codec{Kind: KindBits, Count: 4, Bit: -1, Round: 6, BitsAsInt: true}
	if v, _ := c.DecodeRegisters([]uint16{0xa000}); string(v.(tbgateway.RawJSON)) != "[0,1,0,1]" {
		t.Errorf("last 4 bits as int: got %s", v)
	}
	c = &Codec{Kind: KindUint16, Count: 1, Bit: -1, Round: 6, Variants: map[string]any{"1": "on"}}
	if v, _ := c.DecodeRegisters([]uint16{1}); v != "on" {
		t.Errorf("variants: got %v", v)
	}
	c = &Codec{Kind: KindInt32, Count: 1, Bit: -1, Round: 6}
	if _, err := c.DecodeRegisters([]uint16{1}); !errors.Is(err, ErrShortData) {
		t.Errorf("one register for a 32int: err %v", err)
	}
	if k, err := parseKind("float", 2); err != nil || k != KindFloat32 {
		t.Errorf("float with 2 objects: %v %v", k, err)
	}
	if _, err := parseKind("uint", 3); err == nil {
		t.Error("uint with 3 objects (48 bits) must fail")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	cases := []struct {
		typ   string
		n     int
		value string
	}{
		{"16int", 1, "-22137"}, {"16uint", 1, "4661"}, {"32int", 2, "-4661"}, {"32uint", 2, "305419897"},
		{"64int", 4, "-3735928550"}, {"64uint", 4, "1311738468603649775"}, {"16float", 1, "13.34375"},
		{"32float", 2, "223547.34375"}, {"64float", 4, "133.45"}, {"string", 2, `"abcx"`}, {"8int", 1, "-5"},
		{"bits", 16, "[false,true,false,true,true,false,true,true,true,true,false,true,false,false,true,true]"},
		{"bytes", 2, `"a1b2c3d4"`},
	}
	for _, coils := range []bool{false, true} {
		for _, order := range [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} {
			for _, tc := range cases {
				c := mustCodec(t, tc.typ, tc.n, coils, order[0], order[1])
				v, _ := values.Decode([]byte(tc.value))
				var got any
				var err error
				if coils {
					var bits []bool
					if bits, err = c.EncodeBits(v); err == nil {
						got, err = c.DecodeBits(bits)
					}
				} else {
					var regs []uint16
					if regs, err = c.EncodeRegisters(v); err == nil {
						got, err = c.DecodeRegisters(regs)
					}
				}
				if err != nil {
					t.Fatalf("%s coils=%v order=%v: %v", tc.typ, coils, order, err)
				}
				if !sameValue(tc.value, got) && !sameValue(v, got) {
					t.Errorf("%s coils=%v order=%v: wrote %s, read %v", tc.typ, coils, order, tc.value, got)
				}
			}
		}
	}
	c := mustCodec(t, "16int", 1, false, false, false)
	if _, err := c.EncodeRegisters(json.Number("40000")); err == nil {
		t.Error("40000 fits no 16int")
	}
}

// FuzzDecode decodes arbitrary registers with arbitrary item settings: it must never panic, and a value it
// produces must encode back to registers that decode to the same value.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(5), uint8(2), uint8(0), []byte{1, 2, 3, 4}, false)
	f.Add(uint8(2), uint8(16), uint8(3), []byte{0x4b, 0xda}, true)
	f.Add(uint8(13), uint8(4), uint8(1), []byte{0x40, 0x5e, 0xdc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcd}, false)
	kinds := []string{"string", "bytes", "bits", "8int", "8uint", "16int", "16uint", "32int", "32uint", "64int",
		"64uint", "16float", "32float", "64float", "int", "uint", "float"}
	f.Fuzz(func(t *testing.T, kind, count, flags uint8, data []byte, coils bool) {
		k, err := parseKind(kinds[int(kind)%len(kinds)], int(count%20)+1)
		if err != nil {
			return
		}
		c := &Codec{Kind: k, Count: int(count%20) + 1, Coils: coils, LittleBytes: flags&1 != 0,
			LittleWords: flags&2 != 0, Bit: -1, Round: -1, BitsAsInt: flags&4 != 0}
		if flags&8 != 0 {
			c.Bit = int(flags>>4) % 32
		}
		var v any
		if coils {
			bits := make([]bool, len(data))
			for i, b := range data {
				bits[i] = b&1 != 0
			}
			v, err = c.DecodeBits(bits)
		} else {
			regs := make([]uint16, len(data)/2)
			for i := range regs {
				regs[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			}
			v, err = c.DecodeRegisters(regs)
		}
		if err != nil || c.Bit >= 0 || k == KindString || c.Variants != nil {
			return
		}
		in := v
		if raw, ok := v.(tbgateway.RawJSON); ok {
			in, _ = values.Decode([]byte(raw))
		}
		var back any
		if coils {
			bits, err := c.EncodeBits(in)
			if err != nil {
				t.Fatalf("encode %v: %v", v, err)
			}
			back, err = c.DecodeBits(bits)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			regs, err := c.EncodeRegisters(in)
			if err != nil {
				t.Fatalf("encode %v: %v", v, err)
			}
			back, err = c.DecodeRegisters(regs)
			if err != nil {
				t.Fatal(err)
			}
		}
		if show(back) != show(v) {
			if f, ok := v.(float64); !ok || !math.IsNaN(f) {
				t.Fatalf("%v: decoded %v, re-encoded and decoded %v", k, v, back)
			}
		}
	})
}
