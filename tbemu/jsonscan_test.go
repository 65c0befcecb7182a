package tbemu

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestValueTyping(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{`42`, int64(42)},
		{`-7`, int64(-7)},
		{`42.0`, 42.0},
		{`1.50`, 1.5},
		{`1e3`, int64(1000)},
		{`1.5E3`, int64(1500)},
		{`1.5e-1`, 0.15},
		{`12345678901234567890`, "12345678901234567890"},
		{`1.12345678901234567`, "1.12345678901234567"},
		{`"123"`, int64(123)},
		{`"-1.0"`, -1.0},
		{`"1e3"`, "1e3"},
		{`"0x1F"`, "0x1F"},
		{`"1."`, "1."},
		{`"abc"`, "abc"},
		{`"a\"b\u00e9\n"`, "a\"b\u00e9\n"},
		{`true`, true},
		{`false`, false},
		{`{"a":[1,2]}`, json.RawMessage(`{"a":[1,2]}`)},
		{`[1, 2]`, json.RawMessage(`[1, 2]`)},
	} {
		v, err := valueFromJSON([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := v.toAny(); fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", tc.want, tc.want) {
			t.Errorf("%s -> %T %v, want %T %v", tc.in, got, got, tc.want, tc.want)
		}
	}
}

func TestValidJSON(t *testing.T) {
	for _, in := range []string{`{}`, `[]`, ` {"a" : [1, -2.5e+3, true, null, "x\u0041"]} `, `"s"`, `0`} {
		if !validJSON([]byte(in)) || !json.Valid([]byte(in)) {
			t.Errorf("%q should be valid", in)
		}
	}
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `"\x"`, "\"a\x01\"", `tru`, `{} {}`, `{a:1}`, strings.Repeat("[", 600) + strings.Repeat("]", 600)} {
		if validJSON([]byte(in)) {
			t.Errorf("%q should be invalid", in)
		}
	}
}

func FuzzValidJSONMatchesStdlib(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}]}`, `[1e5,"x"]`, `{`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if validJSON(b) != json.Valid(b) && !strings.Contains(string(b), strings.Repeat("[", maxJSONDepth)) {
			t.Fatalf("validJSON(%q)=%v, json.Valid=%v", b, validJSON(b), json.Valid(b))
		}
		var ps parseScratch
		ps.gatewayTelemetry(b, 1)
		ps.deviceTelemetry(b, 1)
	})
}

// gatewayPayload is the benchmark shape: 10 devices x 10 datapoints.
func gatewayPayload(seq int) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for d := 0; d < 10; d++ {
		if d > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"Device %d":[{"ts":%d,"values":{`, d, 1700000000000+seq)
		for k := 0; k < 10; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			switch k % 3 {
			case 0:
				fmt.Fprintf(&b, `"temperature%d":%d.5`, k, seq%100)
			case 1:
				fmt.Fprintf(&b, `"counter%d":%d`, k, seq)
			default:
				fmt.Fprintf(&b, `"status%d":"ok"`, k)
			}
		}
		b.WriteString(`}}]`)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func TestGatewayPayloadParses(t *testing.T) {
	var ps parseScratch
	if c := ps.gatewayTelemetry(gatewayPayload(1), 1); c != classNone || len(ps.devs) != 10 || len(ps.pts) != 100 {
		t.Fatalf("class %d devs %d pts %d", c, len(ps.devs), len(ps.pts))
	}
}

func BenchmarkGatewayTelemetryParse(b *testing.B) {
	payload := gatewayPayload(1)
	var ps parseScratch
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if ps.gatewayTelemetry(payload, 1) != classNone {
			b.Fatal("parse failed")
		}
	}
}

func BenchmarkGatewayTelemetryParseAndStore(b *testing.B) {
	s := &Server{opts: Options{MaxValuesPerKey: 10000}}
	d := newDevice(DeviceSpec{Name: "x"})
	payloads := make([][]byte, 1000)
	for i := range payloads {
		payloads[i] = gatewayPayload(i)
	}
	var ps parseScratch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ps.gatewayTelemetry(payloads[i%len(payloads)], 1)
		s.storePoints(d, ps.pts)
		i++
	}
}

func TestFastDecimalMatchesParseFloat(t *testing.T) {
	for _, in := range []string{"0.1", "-0.5", "123.456", "99999999999999.9", "0.000000000000001", "1.0", "-12.000", "314159265358979.3"} {
		v, err := valueFromJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got := v.toAny(); got != want {
			t.Errorf("%s -> %v, want %v", in, got, want)
		}
	}
}
