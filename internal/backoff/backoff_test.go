package backoff

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

const (
	ms = time.Millisecond
	s  = time.Second
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func fixed(v float64) func() float64     { return func() float64 { return v } }
func newAt(p Policy, r float64) (*Backoff, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := New(p)
	b.Now, b.Rand = c.now, fixed(r)
	return b, c
}

// TestSequences checks the delays of failures in a row, each attempt failing at once (no time passes but the
// delays themselves).
func TestSequences(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Policy
		rand   float64
		delays []time.Duration
	}{
		{"defaults", Policy{}, 0, []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s}},
		{"full jitter takes 20% off", Policy{}, 1, []time.Duration{800 * ms, 1600 * ms, 3200 * ms}},
		{"half jitter", Policy{Jitter: 0.5}, 0.5, []time.Duration{750 * ms, 1500 * ms}},
		{"no jitter", Policy{Jitter: -1}, 0.9, []time.Duration{1 * s, 2 * s, 4 * s}},
		{"multiplier 3 capped", Policy{Initial: 100 * ms, Max: s, Multiplier: 3, Jitter: -1}, 0,
			[]time.Duration{100 * ms, 300 * ms, 900 * ms, s, s}},
		{"fixed", Fixed(10 * s), 0, []time.Duration{10 * s, 10 * s, 10 * s}},
		{"steady attempts then growth", Policy{Initial: s, Max: 10 * s, SteadyAttempts: 3, Jitter: -1}, 0,
			[]time.Duration{s, s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"steady time then growth", Policy{Initial: s, Max: 10 * s, SteadyFor: 3 * s, Jitter: -1}, 0,
			// failures at 0, 1, 2 are inside the first 3 s; at 3 s growth starts
			[]time.Duration{s, s, s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"modbus cycle", Modbus(1000, 3, 30000), 0, []time.Duration{s, s, 30 * s, s, s, 30 * s, s}},
		{"modbus lower bounds", Modbus(10, 0, 10), 0, []time.Duration{500 * ms, 30 * s, 500 * ms, 30 * s}},
		{"ble attempts", Attempts(2*s, 2, 5*s), 0, []time.Duration{2 * s, 5 * s, 2 * s, 5 * s}},
		{"ble immediate retry", Attempts(0, 1, 0), 0, []time.Duration{ms, ms}},
		{"opcua", OPCUA(1, 2, 10*s), 0, []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s}},
		{"exponential factor below 1", Exponential(s, 0.5, 3*s), 0, []time.Duration{s, s, s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, c := newAt(tc.p, tc.rand)
			for i, want := range tc.delays {
				b.Begin()
				got := b.Next()
				if got != want {
					t.Fatalf("delay %d = %v, want %v (all wanted %v)", i+1, got, want, tc.delays)
				}
				c.add(got)
			}
		})
	}
}

// TestJitterRange draws many delays: each lies in [d·(1-Jitter), d] and both ends of the range are reached.
func TestJitterRange(t *testing.T) {
	b := New(Policy{Initial: s, Max: s, Multiplier: 1, Jitter: 0.5})
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := b.Next()
		if d < 500*ms || d > s {
			t.Fatalf("delay %v outside [500ms, 1s]", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 550*ms || hi < 950*ms {
		t.Fatalf("2000 delays span only [%v, %v] of [500ms, 1s]", lo, hi)
	}
}

// TestHealthyRunEndsStreak: a run that lasted HealthyAfter starts over from Initial; a shorter one does not.
func TestHealthyRunEndsStreak(t *testing.T) {
	b, c := newAt(Policy{Initial: s, Max: time.Minute, Jitter: -1, HealthyAfter: 10 * s}, 0)
	for _, want := range []time.Duration{s, 2 * s, 4 * s} {
		b.Begin()
		c.add(time.Second) // short runs
		if got := b.Next(); got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	b.Begin()
	c.add(9 * s)
	if got := b.Next(); got != 8*s {
		t.Fatalf("after a 9 s run: %v, want 8s (streak goes on)", got)
	}
	b.Begin()
	c.add(10 * s)
	if got := b.Next(); got != s || b.Failures() != 1 {
		t.Fatalf("after a 10 s run: %v (failures %d), want 1s (new streak)", got, b.Failures())
	}
	// Next without Begin never counts as healthy, however long ago the last failure was.
	c.add(time.Hour)
	if got := b.Next(); got != 2*s {
		t.Fatalf("without Begin: %v, want 2s", got)
	}
	b.Reset()
	if got := b.Next(); got != s {
		t.Fatalf("after Reset: %v, want 1s", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"zero", Policy{}, true},
		{"max below initial", Policy{Initial: 2 * s, Max: s}, false},
		{"multiplier below 1", Policy{Multiplier: 0.5}, false},
		{"jitter above 1", Policy{Jitter: 1.5}, false},
		{"negative", Policy{Initial: -s}, false},
		{"initial above default max", Policy{Initial: 2 * time.Minute}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			err := p.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err == nil && (p.Initial <= 0 || p.Max < p.Initial || p.Multiplier < 1 || p.HealthyAfter <= 0) {
				t.Fatalf("defaults not filled: %+v", p)
			}
		})
	}
	if got := New(Policy{Initial: 2 * s, Max: s}).Policy(); got.Initial != DefaultInitial {
		t.Fatalf("New with an invalid policy uses %+v, want the defaults", got)
	}
}

// TestWait sleeps the delay on the (fake) clock and returns early with the context's error.
func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Policy{Initial: s, Jitter: -1})
		start := time.Now()
		if err := b.Wait(t.Context()); err != nil || time.Since(start) != s {
			t.Fatalf("Wait = %v after %v, want nil after 1s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*ms)
		defer cancel()
		start = time.Now()
		if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 500*ms {
			t.Fatalf("Wait = %v after %v, want DeadlineExceeded after 500ms", err, time.Since(start))
		}
		if err := Sleep(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sleep(done ctx, 0) = %v", err)
		}
	})
}
