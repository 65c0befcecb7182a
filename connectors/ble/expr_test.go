package ble

import (
	"bytes"
	"strings"
	"testing"
)

var exprData = []byte{0x01, 0x02, 0x1A, 0xFF}

// TestBytesConverter: the bytes converter's results, as the Python BytesBLEUplinkConverter produces them for the
// same expression and data (every slice replaced by its bytes' decimal values, the rest of the text kept).
func TestBytesConverter(t *testing.T) {
	for _, tc := range []struct {
		expr, want string
		fails      bool
	}{
		{expr: "[2]", want: "26"},
		{expr: "[0:2]cm [2:]A", want: "12cm 26255A"},
		{expr: "[:]", want: "1226255"},
		{expr: "All values: [:]", want: "All values: 1226255"},
		{expr: "[-1]", want: "255"},
		{expr: "[1:-1]", want: "[1:-1]"}, // not a slice for Python's pattern: only the first character may be "-"
		{expr: "[0:10]", want: "1226255"},
		{expr: "[-10:2]", want: "12"},
		{expr: "[3:1]", want: ""},
		{expr: "no slices", want: "no slices"},
		{expr: "[1:2:3]", want: "2"}, // Python uses the part before the first colon
		{expr: "[ 1]", want: "[ 1]"}, // not a slice: white space after "["
		{expr: "[1][1]", want: "22"},
		{expr: "[+1]", want: "2"},
		{expr: "t=[0]/[3]", want: "t=1/255"},
		{expr: "[4]", fails: true},
		{expr: "[-5]", fails: true},
	} {
		e, err := ParseExpr(tc.expr)
		if err != nil {
			t.Fatalf("ParseExpr(%q): %v", tc.expr, err)
		}
		got, err := e.Bytes(exprData)
		if tc.fails {
			if err == nil {
				t.Errorf("Bytes(%q) = %q, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Bytes(%q) = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// TestHexConverter: the hex converter reads the last slice as a big-endian unsigned integer, as the Python
// HexBytesBLEUplinkConverter does, except for the two Python defects fixed: "[i]" (a TypeError in Python at every
// value) is byte i, and "[:b]" (all the data in Python) stops at b.
func TestHexConverter(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		data  []byte
		want  any
		fails bool
	}{
		{expr: "[0:2]", want: int64(258)},
		{expr: "[:]", want: int64(0x01021AFF)},
		{expr: "[2:]", want: int64(0x1AFF)},
		{expr: "[-2:]", want: int64(0x1AFF)},
		{expr: "[0:2]cm [2:]A", want: int64(0x1AFF)}, // the last slice wins, text is not used
		{expr: "text", want: "text"},
		{expr: "[2]", want: int64(26)},   // Python: TypeError
		{expr: "[:2]", want: int64(258)}, // Python: all four bytes
		{expr: "[-1]", want: int64(255)},
		{expr: "[3:1]", fails: true},
		{expr: "[9]", fails: true},
		{expr: "[:]", data: bytes.Repeat([]byte{0xFF}, 9), want: "4722366482869645213695"},
		{expr: "[:]", data: bytes.Repeat([]byte{0xFF}, 8), want: "18446744073709551615"},
		{expr: "[:]", data: append([]byte{0x7F}, bytes.Repeat([]byte{0xFF}, 7)...), want: int64(1<<63 - 1)},
	} {
		data := tc.data
		if data == nil {
			data = exprData
		}
		e, err := ParseExpr(tc.expr)
		if err != nil {
			t.Fatalf("ParseExpr(%q): %v", tc.expr, err)
		}
		got, err := e.Hex(data)
		if tc.fails {
			if err == nil {
				t.Errorf("Hex(%q) = %v, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Hex(%q) = %#v, %v; want %#v", tc.expr, got, err, tc.want)
		}
	}
}

// TestParseExprErrors: a slice whose index is not an integer fails at config time (Python fails at every value).
func TestParseExprErrors(t *testing.T) {
	for _, s := range []string{"[a]", "[-]", "[_1]", "[:1:]", "x [a:2]", "[[1]]"} {
		if _, err := ParseExpr(s); err == nil {
			t.Errorf("ParseExpr(%q) = nil error", s)
		}
	}
	if _, err := ParseExpr("[99999999999999:]"); err != nil {
		t.Errorf("a huge bound is clamped as Python's slicing does: %v", err)
	}
}

// FuzzExpr: parsing and both converters never panic; the bytes converter keeps text without slices as it is.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{"[2]", "[0:2]cm [2:]A", "[:]", "All values: [:]", "[-1]", "[[1]]", "[1:2:3]", "[a]"} {
		f.Add(s, []byte{1, 2, 3, 250})
	}
	f.Fuzz(func(t *testing.T, s string, data []byte) {
		e, err := ParseExpr(s)
		if err != nil {
			return
		}
		out, err := e.Bytes(data)
		if err == nil && !strings.Contains(s, "[") && out != s {
			t.Fatalf("Bytes(%q) changed text without slices: %q", s, out)
		}
		v, err := e.Hex(data)
		if err == nil {
			switch v.(type) {
			case int64, string:
			default:
				t.Fatalf("Hex(%q) = %T", s, v)
			}
		}
	})
}
