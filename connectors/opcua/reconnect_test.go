package opcua

import (
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
)

// TestReconnectPolicy: the server keys give the kit's back-off the Python connector's schedule: the initial
// delay and factor as configured, capped at 80 % of the session timeout and at one minute, and a session must
// have lasted 30 s (or the cap, when longer) to restart the schedule.
func TestReconnectPolicy(t *testing.T) {
	for _, tc := range []struct {
		server string
		want   backoff.Policy
	}{
		{`{"url": "h"}`, backoff.Policy{Initial: time.Second, Multiplier: 2, Max: time.Minute, HealthyAfter: time.Minute}},
		{`{"url": "h", "sessionTimeoutInMillis": 10000, "reconnectBackoffInitialDelay": 0.05, "reconnectBackoffFactor": 3}`,
			backoff.Policy{Initial: 50 * time.Millisecond, Multiplier: 3, Max: 8 * time.Second, HealthyAfter: 30 * time.Second}},
		{`{"url": "h", "sessionTimeoutInMillis": 1000, "reconnectBackoffInitialDelay": 5}`,
			backoff.Policy{Initial: 5 * time.Second, Multiplier: 2, Max: 5 * time.Second, HealthyAfter: 30 * time.Second}},
		{`{"url": "h", "reconnectBackoffInitialDelay": -1, "reconnectBackoffFactor": 0.5}`,
			backoff.Policy{Initial: time.Second, Multiplier: 2, Max: time.Minute, HealthyAfter: time.Minute}},
	} {
		cfg, _, err := Decode("opcua.json", []byte(`{"server": `+tc.server+`, "mapping": [{"deviceNodePattern": "Root\\.Objects\\.D",
			"deviceInfo": {"deviceNameExpression": "D"}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		c, err := New("o", cfg, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		got := backoff.New(c.reconnectPolicy()).Policy()
		want := tc.want
		if err := want.Validate(); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("server %s: policy %+v, want %+v", tc.server, got, want)
		}
	}
}
