package tbgateway

import "testing"

func TestTelemetryOnlyAndSessionEvents(t *testing.T) {
	tel := []Telemetry{{TS: 1, Values: map[string]any{"t": 1.5}}}
	attrs := map[string]any{"a": true}
	cases := []struct {
		name          string
		rec           Record
		telOnly, sess bool
	}{
		{"telemetry", Record{Device: "d", Telemetry: tel}, true, false},
		{"attributes", Record{Device: "d", Attributes: attrs}, false, false},
		{"both", Record{Device: "d", Attributes: attrs, Telemetry: tel}, false, false},
		{"connect", Record{Kind: KindConnect, Device: "d"}, false, true},
		{"disconnect", Record{Kind: KindDisconnect, Device: "d"}, false, true},
		{"empty data", Record{Device: "d"}, false, false},
	}
	for _, c := range cases {
		if got := c.rec.TelemetryOnly(); got != c.telOnly {
			t.Errorf("%s: TelemetryOnly = %v, want %v", c.name, got, c.telOnly)
		}
		if got := c.rec.IsSessionEvent(); got != c.sess {
			t.Errorf("%s: IsSessionEvent = %v, want %v", c.name, got, c.sess)
		}
	}
}
