package float16

import (
	"math"
	"testing"
)

func TestFrombits(t *testing.T) {
	for _, tc := range []struct {
		h    uint16
		want float64
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x4a2c, 12.34375}, {0x0400, 6.103515625e-05},
		{0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x3555, 0.333251953125},
		{0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	} {
		if got := Frombits(tc.h); got != tc.want {
			t.Errorf("Frombits(%#04x) = %v, want %v", tc.h, got, tc.want)
		}
	}
	if !math.IsNaN(Frombits(0x7e00)) || !math.IsNaN(Frombits(0x7c01)) {
		t.Error("0x7e00 and 0x7c01 are NaN")
	}
}

func TestBits(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want uint16
	}{
		{0, 0x0000}, {1, 0x3c00}, {-2, 0xc000}, {12.34375, 0x4a2c}, {65504, 0x7bff}, {65519, 0x7bff},
		{65520, 0x7c00}, {1e9, 0x7c00}, {-1e9, 0xfc00}, {5.960464477539063e-08, 0x0001}, {1e-10, 0x0000},
		{1.0009765625, 0x3c01}, {1.00048828125, 0x3c00} /* a tie rounds to even */, {math.NaN(), 0x7e00},
	} {
		if got := Bits(tc.f); got != tc.want {
			t.Errorf("Bits(%v) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
	for h := range uint16(0x7c00) { // every finite positive half survives the round trip
		if got := Bits(Frombits(h)); got != h {
			t.Fatalf("Bits(Frombits(%#04x)) = %#04x", h, got)
		}
	}
}
