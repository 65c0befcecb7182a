package tbgateway

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestRecordValidate(t *testing.T) {
	ok := func() Record {
		return Record{Device: "A", Telemetry: []Telemetry{{TS: 1, Values: map[string]any{"t": 1.5}}}}
	}
	cases := []struct {
		name   string
		mutate func(r *Record)
		want   string // substring of the error; empty means valid
	}{
		{"valid", func(r *Record) {}, ""},
		{"empty device", func(r *Record) { r.Device = " " }, "empty device name"},
		{"no datapoints", func(r *Record) { r.Telemetry = nil }, "no attributes or telemetry"},
		{"connect needs no data", func(r *Record) { r.Kind = KindConnect; r.Telemetry = nil }, ""},
		{"unknown kind", func(r *Record) { r.Kind = 9 }, "unknown kind"},
		{"zero ts", func(r *Record) { r.Telemetry[0].TS = 0 }, "not positive"},
		{"blank key", func(r *Record) { r.Attributes = map[string]any{"": true} }, "blank key"},
		{"long key", func(r *Record) { r.Attributes = map[string]any{strings.Repeat("k", 256): true} }, "longer than 255"},
		{"NaN", func(r *Record) { r.Telemetry[0].Values["t"] = math.NaN() }, "not a JSON number"},
		{"int type", func(r *Record) { r.Telemetry[0].Values["t"] = 3 }, "unsupported value type int"},
		{"json object", func(r *Record) { r.Attributes = map[string]any{"o": RawJSON(`{"a":[1,2]}`)} }, ""},
		{"json scalar", func(r *Record) { r.Attributes = map[string]any{"o": RawJSON(`12`)} }, "object or an array"},
		{"json invalid", func(r *Record) { r.Attributes = map[string]any{"o": RawJSON(`{"a":`)} }, "invalid JSON"},
		{"json brackets in strings", func(r *Record) {
			r.Attributes = map[string]any{"o": RawJSON(`{"a":"` + strings.Repeat("[", 100) + `\""}`)}
		}, ""},
		{"json too deep", func(r *Record) {
			r.Attributes = map[string]any{"o": RawJSON(strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1))}
		}, "nested deeper"},
		{"json at max depth", func(r *Record) {
			r.Attributes = map[string]any{"o": RawJSON(strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth))}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.mutate(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("got %v, want an ErrInvalidRecord containing %q", err, tc.want)
			}
		})
	}
}

func FuzzRecordValidateJSON(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"]"}]}`))
	f.Add([]byte(`[[[[]]]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Record{Device: "A", Attributes: map[string]any{"j": RawJSON(b)}}
		_ = r.Validate() // must not panic
	})
}
