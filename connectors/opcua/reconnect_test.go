package opcua

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
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
		got := backoff.New(serverConnector(t, tc.server).reconnectPolicy()).Policy()
		want := tc.want
		if err := want.Validate(); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("server %s: policy %+v, want %+v", tc.server, got, want)
		}
	}
}

// serverConnector builds a connector with the given server section and one device mapping.
func serverConnector(t *testing.T, server string) *Connector {
	t.Helper()
	cfg, _, err := Decode("opcua.json", []byte(`{"server": `+server+`, "mapping": [{"deviceNodePattern": "Root\\.Objects\\.D",
		"deviceInfo": {"deviceNameExpression": "D"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New("o", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// outcome is what one scripted session returns: a failed connection attempt, a session that connected and was
// lost later, or a re-scan.
type outcome int

const (
	refused outcome = iota
	lost
	rescan
)

// scripted runs keepConnected with sessions that end as script says (refused once the script is done) until it
// returns or an hour of fake time passed; it returns when each session started, whether Run returned, and its
// error. It must run inside a synctest bubble.
func scripted(t *testing.T, c *Connector, script ...outcome) (starts []time.Time, returned bool, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := func(ctx context.Context, _ tbgateway.Sink, up func()) error {
		starts = append(starts, time.Now())
		o := refused
		if i := len(starts) - 1; i < len(script) {
			o = script[i]
		}
		switch o {
		case lost:
			up()
			return errors.New("client state Disconnected")
		case rescan:
			up()
			return errRescan
		}
		return &dialError{err: errors.New("connection refused")}
	}
	done := make(chan error, 1)
	go func() { done <- c.keepConnected(ctx, nil, run) }()
	select {
	case err = <-done:
		return starts, true, err
	case <-time.After(time.Hour):
		cancel()
		<-done
		return starts, false, nil
	}
}

// TestReconnectRetriesExhausted: with reconnectRetriesCount 3, Run returns an error wrapping
// ErrRetriesExhausted right after the third failed connection attempt in a row (no further wait: the
// runtime's restart policy takes over), the attempts spaced by the back-off: 0.5 s, then 1.5 s (factor 3),
// each less up to 20 % jitter.
func TestReconnectRetriesExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := serverConnector(t, `{"url": "h", "reconnectRetriesCount": 3, "reconnectBackoffInitialDelay": 0.5, "reconnectBackoffFactor": 3}`)
		start := time.Now()
		starts, returned, err := scripted(t, c)
		if !returned {
			t.Fatalf("Run did not give up within an hour: %d attempts", len(starts))
		}
		if !errors.Is(err, ErrRetriesExhausted) || !strings.Contains(err.Error(), "3 connection attempts in a row failed") ||
			!strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Run = %v, want ErrRetriesExhausted after 3 attempts with the last cause", err)
		}
		if len(starts) != 3 {
			t.Fatalf("%d attempts, want 3", len(starts))
		}
		for i, want := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond} {
			if gap := starts[i+1].Sub(starts[i]); gap > want || gap < want*8/10 {
				t.Errorf("delay before attempt %d: %v, want %v less up to 20 %%", i+2, gap, want)
			}
		}
		if took := time.Since(start); took != starts[2].Sub(start) {
			t.Errorf("Run returned %v after the last attempt started, want at once", took-starts[2].Sub(start))
		}
	})
}

// TestReconnectRetriesCountStartsOver: only failed connection attempts in a row count: a session that connected
// (and was lost) or a re-scan starts the count over, so with reconnectRetriesCount 3 Run gives up at the third
// refusal after the last success. 0 (and negative) never gives up; the default is the Python connector's 8.
func TestReconnectRetriesCountStartsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := serverConnector(t, `{"url": "h", "reconnectRetriesCount": 3, "reconnectBackoffInitialDelay": 0.1}`)
		starts, returned, err := scripted(t, c, refused, refused, lost, refused, refused, rescan, refused, refused)
		if !returned || !errors.Is(err, ErrRetriesExhausted) || len(starts) != 9 {
			t.Errorf("gave up %v (%v) after %d sessions, want ErrRetriesExhausted after 9", returned, err, len(starts))
		}
	})
	for _, keys := range []string{`, "reconnectRetriesCount": 0`, `, "reconnectRetriesCount": -1`} {
		synctest.Test(t, func(t *testing.T) {
			c := serverConnector(t, `{"url": "h", "reconnectBackoffInitialDelay": 0.1`+keys+`}`)
			starts, returned, err := scripted(t, c)
			if returned || len(starts) <= DefaultReconnectRetries {
				t.Errorf("%s: Run returned %v (%v) after %d attempts in an hour, want no end", keys, returned, err, len(starts))
			}
		})
	}
	synctest.Test(t, func(t *testing.T) {
		c := serverConnector(t, `{"url": "h", "reconnectBackoffInitialDelay": 0.1}`)
		if n := c.cfg.Server.ReconnectRetriesCount; n != 8 {
			t.Errorf("default reconnectRetriesCount %d, want 8", n)
		}
		starts, returned, err := scripted(t, c)
		if !returned || !errors.Is(err, ErrRetriesExhausted) || len(starts) != 8 {
			t.Errorf("default: gave up %v (%v) after %d attempts, want after 8", returned, err, len(starts))
		}
	})
}
