package config

import (
	"reflect"
	"testing"
	"time"
)

func TestParseRateLimits(t *testing.T) {
	cases := []struct {
		in   string
		want []RateLimit
	}{
		{"10:1,300:60", []RateLimit{{10, time.Second}, {300, time.Minute}}},
		{" 10:1 ; 300:60, ", []RateLimit{{10, time.Second}, {300, time.Minute}}},
		{"10:1,60:60,", []RateLimit{{10, time.Second}, {60, time.Minute}}},
		{"10:1,20:1", []RateLimit{{20, time.Second}}},
		{"0:0,", nil},
		{"0:0,5:10", []RateLimit{{5, 10 * time.Second}}},
		{"", nil},
		{"DEFAULT_TELEMETRY_RATE_LIMIT", nil},
		{"DEFAULT_TELEMETRY_DP_RATE_LIMIT", nil},
		{"DEFAULT_MESSAGES_RATE_LIMIT", nil},
	}
	for _, tc := range cases {
		got, err := ParseRateLimits(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseRateLimits(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"10:x", "10", "x:1", "10:1:2", "-1:1", "5:0", "0:5", "DEFAULT_FOO", "10:99999999999"} {
		if got, err := ParseRateLimits(bad); err == nil {
			t.Errorf("ParseRateLimits(%q) = %v, want an error", bad, got)
		}
	}
}
