package ratelimit

import (
	"reflect"
	"testing"
	"time"
)

// TestParse: the syntax the Python gateway's SDK accepts ("," or ";" between windows, "0:0" for no limit,
// placeholders), and errors for the rest.
func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want []Window
	}{
		{"10:1,300:60", []Window{{10, time.Second}, {300, time.Minute}}},
		{" 10:1 ; 300:60, ", []Window{{10, time.Second}, {300, time.Minute}}},
		{"10:1,60:60,", []Window{{10, time.Second}, {60, time.Minute}}},
		{"10:1,20:1", []Window{{20, time.Second}}},
		{"0:0", nil},
		{"0:0,", nil},
		{" 0:0 ; ", nil},
		{"10:1;300:60", []Window{{10, time.Second}, {300, time.Minute}}},
		{"0:0,5:10", []Window{{5, 10 * time.Second}}},
		{"", nil},
		{"DEFAULT_TELEMETRY_RATE_LIMIT", nil},
		{"DEFAULT_TELEMETRY_DP_RATE_LIMIT", nil},
		{"DEFAULT_MESSAGES_RATE_LIMIT", nil},
	}
	for _, tc := range cases {
		got, err := Parse(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"10:x", "10", "x:1", "10:1:2", "-1:1", "5:0", "0:5", "DEFAULT_FOO", "10:99999999999"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		}
	}
}
