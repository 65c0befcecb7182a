package report

import (
	"strings"
	"testing"
	"time"
)

func TestResolvePrecedence(t *testing.T) {
	key := Strategy{Type: OnChange, TTL: 1}
	keyAnyDevice := Strategy{Type: OnChange, TTL: 2}
	device := Strategy{Type: OnReportPeriod, Period: time.Second}
	connector := Strategy{Type: OnChangeOrReportPeriod, Period: time.Minute}
	global := Strategy{Type: OnReceived}
	r := &Resolver{Global: global, Rules: map[Scope]Strategy{
		{"c", "d", "k"}: key,
		{"c", "", "k"}:  keyAnyDevice,
		{"c", "d", ""}:  device,
		{"c", "", ""}:   connector,
	}}
	for _, tc := range []struct {
		name              string
		conn, device, key string
		want              Strategy
	}{
		{"key on device", "c", "d", "k", key},
		{"key on another device", "c", "e", "k", keyAnyDevice},
		{"device", "c", "d", "other", device},
		{"connector", "c", "e", "other", connector},
		{"global", "other", "d", "k", global},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Resolve(tc.conn, tc.device, tc.key); got != tc.want {
				t.Fatalf("Resolve(%q,%q,%q) = %+v, want %+v", tc.conn, tc.device, tc.key, got, tc.want)
			}
		})
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var nilR *Resolver
	if got := nilR.Resolve("c", "d", "k"); got != (Strategy{}) {
		t.Fatalf("nil resolver: %+v", got)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Strategy
		wantErr string
	}{
		{`{}`, Strategy{Type: OnReceived, Period: DefaultPeriod}, ""},
		{`{"type":"on_change"}`, Strategy{Type: OnChange, Period: DefaultPeriod}, ""},
		{`{"type":"ON_REPORT_PERIOD","reportPeriod":5000,"ttl":60}`, Strategy{Type: OnReportPeriod, Period: 5 * time.Second, TTL: time.Minute}, ""},
		{`{"type":"ON_CHANGE_OR_REPORT_PERIOD","reportPeriod":1500.5}`, Strategy{Type: OnChangeOrReportPeriod, Period: 1500500 * time.Microsecond}, ""},
		{`{"type":"DISABLED"}`, Strategy{Type: Disabled, Period: DefaultPeriod}, ""},
		{`{"type":"SOMETIMES"}`, Strategy{}, "type: unknown report strategy"},
		{`{"type":"ON_REPORT_PERIOD","reportPeriod":0}`, Strategy{}, "reportPeriod:"},
		{`{"ttl":-1}`, Strategy{}, "ttl:"},
		{`{"reportPeriod":"5000"}`, Strategy{}, "decode report strategy"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := (Strategy{Type: OnReportPeriod}).Validate(); err == nil {
		t.Fatal("periodic strategy without period accepted")
	}
	if err := (Strategy{Type: "X"}).Validate(); err == nil {
		t.Fatal("unknown type accepted")
	}
	r := &Resolver{Rules: map[Scope]Strategy{{Connector: "c", Device: "d"}: {Type: OnChangeOrReportPeriod}}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), `device "d"`) {
		t.Fatalf("Validate = %v, want an error naming the device", err)
	}
}
