package values

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

func TestFromJSON(t *testing.T) {
	cases := []struct {
		in   any
		want any // nil with wantErr
		err  bool
	}{
		{json.Number("42"), int64(42), false},
		{json.Number("-9223372036854775808"), int64(math.MinInt64), false},
		{json.Number("9223372036854775808"), float64(9223372036854775808), false}, // beyond int64: a float, as JSON readers in Go would
		{json.Number("42.0"), 42.0, false},                                        // Python's json reads 42.0 as a float
		{json.Number("1e3"), 1000.0, false},
		{json.Number("1e400"), nil, true},
		{42.0, 42.0, false},
		{math.Inf(1), nil, true},
		{7, int64(7), false},
		{int32(-7), int64(-7), false},
		{uint64(math.MaxUint64), float64(math.MaxUint64), false},
		{"x", "x", false},
		{true, true, false},
		{nil, nil, false},
		{map[string]any{"b": json.Number("1.50"), "a": []any{true}}, tbgateway.RawJSON(`{"a":[true],"b":1.50}`), false},
		{[]any{}, tbgateway.RawJSON(`[]`), false},
		{tbgateway.RawJSON(` {"a":1} `), tbgateway.RawJSON(`{"a":1}`), false},
		{json.RawMessage(`12`), int64(12), false},
		{tbgateway.RawJSON(`{"a":`), nil, true},
		{struct{}{}, nil, true},
	}
	for _, tc := range cases {
		got, err := FromJSON(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FromJSON(%#v) = %#v, %v; want %#v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrConversion) {
			t.Errorf("FromJSON(%#v) error %v does not wrap ErrConversion", tc.in, err)
		}
	}
}

func TestToBool(t *testing.T) {
	cases := []struct {
		in   any
		want bool
		err  bool
	}{
		{true, true, false}, {false, false, false},
		{json.Number("0"), false, false}, {json.Number("2.5"), true, false}, {json.Number("-1"), true, false},
		{0.0, false, false}, {int64(3), true, false}, {0, false, false},
		{"TRUE", true, false}, {" yes ", true, false}, {"on", true, false}, {"1", true, false},
		{"False", false, false}, {"no", false, false}, {"OFF", false, false}, {"0", false, false},
		{"maybe", false, true}, {"", false, true}, {nil, false, true},
		{tbgateway.RawJSON(`true`), true, false}, {tbgateway.RawJSON(`[1]`), false, true},
		{map[string]any{}, false, true},
	}
	for _, tc := range cases {
		got, err := ToBool(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ToBool(%#v) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestNumbers(t *testing.T) {
	type conv struct {
		name string
		fn   func(any) (any, error)
	}
	toInt := conv{"ToInt", func(v any) (any, error) { return ToInt(v) }}
	trunc := conv{"Truncate", func(v any) (any, error) { return Truncate(v) }}
	toFloat := conv{"ToFloat", func(v any) (any, error) { return ToFloat(v) }}
	cases := []struct {
		c    conv
		in   any
		want any
		err  bool
	}{
		{toInt, json.Number("9007199254740993"), int64(9007199254740993), false}, // every digit kept
		{toInt, "12", int64(12), false},
		{toInt, json.Number("12.0"), int64(12), false},
		{toInt, "1e3", int64(1000), false},
		{toInt, 12.5, int64(0), true},
		{toInt, true, int64(1), false},
		{toInt, "x", int64(0), true},
		{toInt, json.Number("1e30"), int64(0), true},
		{trunc, 12.9, int64(12), false},
		{trunc, "-12.9", int64(-12), false},
		{trunc, json.Number("1e30"), int64(0), true},
		{toFloat, json.Number("2.5"), 2.5, false},
		{toFloat, " 3 ", 3.0, false},
		{toFloat, int64(4), 4.0, false},
		{toFloat, false, 0.0, false},
		{toFloat, "NaN", 0.0, true},
		{toFloat, nil, 0.0, true},
		{toFloat, []any{1}, 0.0, true},
	}
	for _, tc := range cases {
		got, err := tc.c.fn(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s(%#v) = %#v, %v; want %#v, error %v", tc.c.name, tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]any{"5": int64(5), " -5 ": int64(-5), "5.0": 5.0, "5e0": 5.0, "0x10": nil, "inf": nil, "": nil} {
		got, err := ParseNumber(in)
		if !reflect.DeepEqual(got, want) || (err != nil) != (want == nil) {
			t.Errorf("ParseNumber(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
}

func TestTextAndCast(t *testing.T) {
	texts := map[string]any{
		"abc": "abc", "1.50": json.Number("1.50"), "true": true, "-3": int64(-3), "0.1": 0.1, "1000000": 1e6,
		"null": nil, `{"a":1}`: map[string]any{"a": json.Number("1")}, `[1,2]`: tbgateway.RawJSON(`[1,2]`),
	}
	for want, in := range texts {
		if got := Text(in); got != want {
			t.Errorf("Text(%#v) = %q, want %q", in, got, want)
		}
	}
	casts := []struct {
		in   any
		typ  string
		want any
		err  bool
	}{
		{json.Number("21.7"), "string", "21.7", false},
		{json.Number("21.7"), "int", int64(21), false},
		{"21", "double", 21.0, false},
		{json.Number("1"), "bool", true, false},
		{json.Number("21"), "auto", int64(21), false},
		{map[string]any{"x": true}, "json", tbgateway.RawJSON(`{"x":true}`), false},
		{"x", "int", nil, true},
		{"x", "decimal", nil, true},
	}
	for _, tc := range casts {
		got, err := Cast(tc.in, tc.typ)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cast(%#v, %q) = %#v, %v; want %#v, error %v", tc.in, tc.typ, got, err, tc.want, tc.err)
		}
	}
	if !KnownType("long") || KnownType("decimal") {
		t.Error("KnownType disagrees with Cast")
	}
}

func TestTreeAndMillis(t *testing.T) {
	if got := Tree(tbgateway.RawJSON(`{"a":[1]}`)); !reflect.DeepEqual(got, map[string]any{"a": []any{json.Number("1")}}) {
		t.Errorf("Tree(RawJSON) = %#v", got)
	}
	if got := Tree("x"); got != "x" {
		t.Errorf("Tree(string) = %#v", got)
	}
	ms := []struct {
		in   any
		want int64
	}{
		{json.Number("1700000000000"), 1700000000000},
		{json.Number("1.7e12"), 1700000000000},
		{"1700000000000", 1700000000000},
		{"2023-11-14T22:13:20Z", 1700000000000},
		{"2023-11-14 22:13:20.5", 1700000000500},
		{json.Number("0"), 0},
		{"yesterday", 0},
		{true, 0},
	}
	for _, tc := range ms {
		got, err := Millis(tc.in)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("Millis(%#v) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
