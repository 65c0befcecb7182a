package opcua

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

func TestRecordValue(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
	cases := []struct {
		in   any
		want any
	}{
		{true, true},
		{int8(-8), int64(-8)}, {uint8(255), int64(255)}, {int16(-16), int64(-16)}, {uint16(65535), int64(65535)},
		{int32(-32), int64(-32)}, {uint32(4294967295), int64(4294967295)}, {int64(-64), int64(-64)},
		{uint64(64), int64(64)}, {uint64(math.MaxUint64), "18446744073709551615"},
		{float32(1013.25), 1013.25}, {float32(0.1), 0.1}, {2.5, 2.5},
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {float32(math.Inf(-1)), "-Inf"},
		{"text", "text"}, {ua.XMLElement("<a/>"), "<a/>"},
		{ts, "2024-05-06T06:08:09.123456+00:00"}, {time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "2024-01-01T00:00:00+00:00"},
		{[]byte{0x0a, 0xff}, "0aff"},
		{ua.NewGUID("018dd02c-fd22-754a-b6d3-5fcae91cd39d"), "018DD02C-FD22-754A-B6D3-5FCAE91CD39D"},
		{ua.NewStringNodeID(2, "x"), "ns=2;s=x"},
		{&ua.QualifiedName{NamespaceIndex: 2, Name: "N"}, "2:N"}, {&ua.QualifiedName{Name: "N"}, "N"},
		{ua.NewLocalizedText("hello"), "hello"},
		{ua.StatusBadNodeIDUnknown, "BadNodeIdUnknown"},
		{ua.MustVariant(int32(5)), int64(5)},
		{[]int32{1, 2}, tbgateway.RawJSON(`["1","2"]`)},
		{[]bool{true, false}, tbgateway.RawJSON(`["True","False"]`)},
		{[]float64{1.5}, tbgateway.RawJSON(`["1.5"]`)},
		{nil, nil},
	}
	for _, tc := range cases {
		got := recordValue(tc.in)
		if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", tc.want, tc.want) {
			t.Errorf("recordValue(%T %v) = %T %v, want %T %v", tc.in, tc.in, got, got, tc.want, tc.want)
		}
	}
}

func TestDataValueOfAndTimestamps(t *testing.T) {
	if v, ok := dataValueOf(&ua.DataValue{Status: ua.StatusBadNodeIDUnknown}); !ok || v != "BadNodeIdUnknown" {
		t.Errorf("bad status without value = %v %v, want the status name", v, ok)
	}
	if _, ok := dataValueOf(&ua.DataValue{}); ok {
		t.Error("good status without value must report nothing")
	}
	src := time.UnixMilli(1_700_000_000_123)
	dv := &ua.DataValue{Value: ua.MustVariant(1.5), SourceTimestamp: src, ServerTimestamp: src.Add(time.Second)}
	if v, ok := dataValueOf(dv); !ok || v != 1.5 {
		t.Errorf("value = %v", v)
	}
	for loc, want := range map[string]int64{"": 0, "gateway": 0, "sourceTimestamp": 1_700_000_000_123, "serverTimestamp": 1_700_000_001_123} {
		if got := timestampOf(loc, dv); got != want {
			t.Errorf("timestampOf(%q) = %d, want %d", loc, got, want)
		}
	}
	if got := timestampOf("sourceTimestamp", &ua.DataValue{}); got != 0 {
		t.Errorf("missing source timestamp = %d, want 0 (gateway stamps)", got)
	}
}

func TestCoerce(t *testing.T) {
	ok := []struct {
		in   any
		t    ua.TypeID
		want any
	}{
		{"true", ua.TypeIDBoolean, true}, {json.Number("0"), ua.TypeIDBoolean, false}, {false, ua.TypeIDBoolean, false},
		{"12", ua.TypeIDInt16, int16(12)}, {json.Number("12.0"), ua.TypeIDInt32, int32(12)}, {float64(7), ua.TypeIDByte, uint8(7)},
		{"-5", ua.TypeIDSByte, int8(-5)}, {"65535", ua.TypeIDUint16, uint16(65535)}, {"9", ua.TypeIDUint64, uint64(9)},
		{"1.5", ua.TypeIDFloat, float32(1.5)}, {json.Number("965.25"), ua.TypeIDDouble, 965.25}, {"x", ua.TypeIDString, "x"},
		{json.Number("3"), ua.TypeIDString, "3"}, {"0aff", ua.TypeIDByteString, []byte{0x0a, 0xff}},
		{"2020-01-02T03:04:05Z", ua.TypeIDDateTime, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	for _, tc := range ok {
		v, err := coerce(tc.in, tc.t)
		if err != nil {
			t.Errorf("coerce(%v, %s): %v", tc.in, tc.t, err)
			continue
		}
		if fmt.Sprintf("%T %v", v.Value(), v.Value()) != fmt.Sprintf("%T %v", tc.want, tc.want) {
			t.Errorf("coerce(%v, %s) = %T %v, want %T %v", tc.in, tc.t, v.Value(), v.Value(), tc.want, tc.want)
		}
	}
	bad := []struct {
		in any
		t  ua.TypeID
	}{
		{"maybe", ua.TypeIDBoolean}, {"300", ua.TypeIDByte}, {"-1", ua.TypeIDUint32}, {"1.5", ua.TypeIDInt32},
		{"abc", ua.TypeIDDouble}, {"1e300", ua.TypeIDFloat}, {nil, ua.TypeIDDouble}, {"x", ua.TypeIDDataValue},
	}
	for _, tc := range bad {
		if v, err := coerce(tc.in, tc.t); err == nil {
			t.Errorf("coerce(%v, %s) = %v, want an error", tc.in, tc.t, v.Value())
		}
	}
	dbl := ua.TypeIDDouble
	if v, err := argumentVariant("integer", json.Number("2"), &dbl); err != nil || v.Value() != 2.0 {
		t.Errorf("declared Double wins over config integer: %v %v", v, err)
	}
	if v, err := argumentVariant("", json.Number("2"), nil); err != nil || v.Value() != int32(2) {
		t.Errorf("guessed integer: %v %v", v, err)
	}
	if _, err := argumentVariant("quaternion", 1.0, nil); err == nil {
		t.Error("unknown type name accepted")
	}
}

func TestParseNodeRef(t *testing.T) {
	cases := map[string]string{
		`Root\.Objects\.TempSensor`: `abs Root\.Objects\.TempSensor`,
		`Pressure`:                  `rel Pressure`,
		`Sub\.2:Leaf`:               `rel Sub\.2:Leaf`,
		`ns=3;i=8`:                  `id ns=3;i=8`,
		`i=85`:                      `id i=85`,
		`ns=4;b=U3RhdHVzX1M=`:       `id ns=4;b=U3RhdHVzX1M=`,
		`ns=5;g=baeaf004-1e43-4a06-9ef0-e52010d5cd12`: `id ns=5;g=BAEAF004-1E43-4A06-9EF0-E52010D5CD12`,
		`ns=2;s=Dev.V1`: `id ns=2;s=Dev.V1`,
	}
	for in, want := range cases {
		r, err := parseNodeRef(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		kind := "rel"
		switch {
		case r.id != nil:
			kind = "id"
		case r.absolute:
			kind = "abs"
		}
		if got := kind + " " + r.String(); got != want {
			t.Errorf("parseNodeRef(%s) = %s, want %s", in, got, want)
		}
	}
	if r, _ := parseNodeRef(`Sub\.2:Leaf`); r.path[1].ns != 2 || r.path[0].ns != -1 {
		t.Errorf("namespace prefixes: %+v", r.path)
	}
	for _, bad := range []string{"", `A\.\.B`, "ns=1;i=x"} {
		if _, err := parseNodeRef(bad); err == nil {
			t.Errorf("parseNodeRef(%q): no error", bad)
		}
	}
	tm, err := parseTemplate(`Dev ${Serial} @ ${ns=2;i=3}`)
	if err != nil || len(tm.Exprs()) != 2 || fill(tm, []string{"A1", "x"}) != "Dev A1 @ x" {
		t.Errorf("template: %+v %v", tm, err)
	}
	if tm, _ := parseTemplate(`${X}`); !tm.Single() {
		t.Error("${X} must be bare")
	}
}

func TestRPCTarget(t *testing.T) {
	cases := []struct {
		params      string
		set         bool
		node, value string
	}{
		{`"Pressure"`, false, "Pressure", ""},
		{`"ns=3;i=1012;"`, false, "ns=3;i=1012", ""},
		{`"ns=3;i=1012; true"`, true, "ns=3;i=1012", "true"},
		{`"ns=2;s=Dev.V1 5"`, true, "ns=2;s=Dev.V1", "5"},
		{`"Root\\.Objects\\.TempSensor\\.Pressure; 90.25"`, true, `Root\.Objects\.TempSensor\.Pressure`, "90.25"},
		{`"Pressure=1.5"`, true, "Pressure", "1.5"},
		{`"Pressure 1.5"`, true, "Pressure", "1.5"},
		{`{"key": "Pressure", "value": 2}`, true, "Pressure", "2"},
	}
	for _, tc := range cases {
		node, value, err := rpcTarget(json.RawMessage(tc.params), tc.set)
		if err != nil {
			t.Errorf("%s: %v", tc.params, err)
			continue
		}
		if node != tc.node || (tc.set && fmt.Sprint(value) != tc.value) {
			t.Errorf("%s: node %q value %v, want %q %q", tc.params, node, value, tc.node, tc.value)
		}
	}
	for _, bad := range []string{`null`, `"Pressure"`, `{"value": 1}`} {
		if _, _, err := rpcTarget(json.RawMessage(bad), true); err == nil {
			t.Errorf("set %s: no error", bad)
		}
	}
}

func TestCallArguments(t *testing.T) {
	conf := []ArgumentDef{{Type: "integer", Value: json.Number("2")}, {Type: "integer"}}
	args, err := callArguments(conf, json.RawMessage(`7`))
	if err != nil || args[0].Value != json.Number("2") || args[1].Value != json.Number("7") {
		t.Errorf("scalar fills the missing argument: %+v %v", args, err)
	}
	args, err = callArguments(conf, json.RawMessage(`[3, 4]`))
	if err != nil || args[0].Value != json.Number("3") || args[1].Type != "integer" {
		t.Errorf("array replaces values, keeps types: %+v %v", args, err)
	}
	args, err = callArguments(nil, json.RawMessage(`{"arguments": [{"type": "float", "value": 1.5}]}`))
	if err != nil || len(args) != 1 || args[0].Type != "float" {
		t.Errorf("object arguments: %+v %v", args, err)
	}
}
