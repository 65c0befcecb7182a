package uplink

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
)

// fakeThingsBoard is a ThingsBoard on synctest's clock: a connection attempt fails at once while it is down; once
// up, a connection lasts until the next outage starts (or for upFor, if set).
type fakeThingsBoard struct {
	downFrom, downUntil time.Time     // the outage
	upFor               time.Duration // >0: every connection drops after this long
	attempts            []time.Time
	connected           []time.Time
}

var errUnavailable = errors.New("server unavailable")

func (f *fakeThingsBoard) connect(ctx context.Context, up func()) error {
	now := time.Now()
	f.attempts = append(f.attempts, now)
	if !now.Before(f.downFrom) && now.Before(f.downUntil) {
		return errUnavailable
	}
	f.connected = append(f.connected, now)
	up()
	end := f.downFrom.Sub(now)
	if f.upFor > 0 {
		end = f.upFor
	}
	if end <= 0 {
		end = time.Hour // the outage is over: stay up
	}
	select {
	case <-ctx.Done():
	case <-time.After(end):
	}
	return errors.New("connection lost")
}

// reconnectSchedule runs keepConnected against tb until ctx's deadline.
func reconnectSchedule(t *testing.T, cfg Config, tb *fakeThingsBoard, run time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), run)
	defer cancel()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := keepConnected(ctx, backoff.New(cfg.reconnectPolicy()), slog.New(slog.DiscardHandler), nil, tb.connect); err != nil {
		t.Fatal(err)
	}
}

// TestReconnectAfterShortOutages: after an outage of 1, 8 or 30 s (the link up for a minute before it), the
// first attempt after ThingsBoard's return comes within 1.25 s of it, and no two attempts are less than 1 s
// apart.
func TestReconnectAfterShortOutages(t *testing.T) {
	for _, outage := range []time.Duration{time.Second, 8 * time.Second, 30 * time.Second} {
		t.Run(outage.String(), func(t *testing.T) {
			for range 20 { // jitter is random: several schedules each
				synctest.Test(t, func(t *testing.T) {
					start := time.Now()
					tb := &fakeThingsBoard{downFrom: start.Add(time.Minute)}
					tb.downUntil = tb.downFrom.Add(outage)
					reconnectSchedule(t, Config{Host: "tb", Security: Security{AccessToken: "t"}}, tb, 3*time.Minute)
					checkSpacing(t, tb.attempts, time.Second)
					if len(tb.connected) != 2 {
						t.Fatalf("connected at %v, want twice (before and after the outage)", offsets(start, tb.connected))
					}
					if late := tb.connected[1].Sub(tb.downUntil); late > 1250*time.Millisecond {
						t.Fatalf("reconnected %v after ThingsBoard was back, want <= 1.25s; attempts at %v",
							late, offsets(start, tb.attempts))
					}
				})
			}
		})
	}
}

// TestReconnectBacksOffAfter30s: in a long outage, attempts stay 1-1.25 s apart for 30 s, then the delays grow
// exponentially (each in [0.8·d, d] for d = 2.5 s, 5 s, ... up to ReconnectMax) and are jittered.
func TestReconnectBacksOffAfter30s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tb := &fakeThingsBoard{downFrom: start, downUntil: start.Add(24 * time.Hour)}
		cfg := Config{Host: "tb", Security: Security{AccessToken: "t"}, ReconnectMax: 60 * time.Second}
		reconnectSchedule(t, cfg, tb, 10*time.Minute)
		checkGrowth(t, start, tb.attempts, 60*time.Second)
	})
}

// TestReconnectFlappingLinkBacksOff: a ThingsBoard that accepts and drops every connection after 2 s is one long
// outage: attempts never come less than 1 s apart and the delays grow after 30 s.
func TestReconnectFlappingLinkBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tb := &fakeThingsBoard{upFor: 2 * time.Second}
		reconnectSchedule(t, Config{Host: "tb", Security: Security{AccessToken: "t"}}, tb, 5*time.Minute)
		checkSpacing(t, tb.attempts, time.Second)
		var late []time.Duration // delays between a drop and the next attempt, after the first 40 s
		for i := 1; i < len(tb.attempts); i++ {
			if tb.attempts[i].Sub(start) > 40*time.Second {
				late = append(late, tb.attempts[i].Sub(tb.attempts[i-1])-2*time.Second)
			}
		}
		if len(late) == 0 || late[len(late)-1] < 32*time.Second {
			t.Fatalf("delays after 40 s of flapping %v, want growth to the 2 min maximum", late)
		}
	})
}

// checkSpacing fails if two attempts are less than minGap apart.
func checkSpacing(t *testing.T, attempts []time.Time, minGap time.Duration) {
	t.Helper()
	for i := 1; i < len(attempts); i++ {
		if gap := attempts[i].Sub(attempts[i-1]); gap < minGap {
			t.Fatalf("attempts %d and %d are %v apart, want >= %v", i-1, i, gap, minGap)
		}
	}
}

// checkGrowth checks a schedule of failed attempts from start: steady 1-1.25 s gaps while less than 30 s have
// passed, then each gap in [0.8·d, d] with d doubling from 2.5 s up to maxDelay, not all of them equal.
func checkGrowth(t *testing.T, start time.Time, attempts []time.Time, maxDelay time.Duration) {
	t.Helper()
	d := 2500 * time.Millisecond
	atMax := map[time.Duration]bool{}
	for i := 1; i < len(attempts); i++ {
		gap := attempts[i].Sub(attempts[i-1])
		if attempts[i-1].Sub(start) < reconnectSteadyFor {
			if gap < time.Second || gap > 1250*time.Millisecond {
				t.Fatalf("gap %d = %v in the first 30 s, want 1-1.25 s", i, gap)
			}
			continue
		}
		if gap < d*8/10 || gap > d {
			t.Fatalf("gap %d = %v, want in [%v, %v]; attempts at %v", i, gap, d*8/10, d, offsets(start, attempts))
		}
		if d == maxDelay {
			atMax[gap] = true
		}
		d = min(2*d, maxDelay)
	}
	if len(atMax) < 3 {
		t.Fatalf("delays at the maximum %v: want several, jittered", atMax)
	}
}

func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, x := range ts {
		out[i] = x.Sub(start).Round(time.Millisecond)
	}
	return out
}
