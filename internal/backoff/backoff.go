// Package backoff is the one retry policy of the gateway: the runtime's supervisor, the ThingsBoard uplink and
// every connector wait between attempts with it.
//
// A Policy describes the delays; a Backoff applies it to one thing that is retried (a task, a connection, a
// device session). Delays are exponential with jitter, optionally preceded by a steady phase of short delays
// (quick recovery from a short outage) and optionally cycling (the Python gateway's "N attempts, then a long
// wait"). A run or connection that stayed up for HealthyAfter ends the failure streak.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Policy describes the delays between attempts. Zero fields take the defaults Validate fills in.
type Policy struct {
	// Initial is the first delay of a failure streak, and every delay of the steady phase (default 1 s).
	Initial time.Duration
	// Max caps every delay (default 1 min; never below Initial).
	Max time.Duration
	// Multiplier grows the delay after each failure past the steady phase (default 2; 1 keeps it constant).
	Multiplier float64
	// Jitter takes up to this fraction off each delay at random, so that many clients cut off together do not
	// come back in step: a delay d is drawn uniformly from [d·(1-Jitter), d]. Default 0.2; negative means none;
	// at most 1.
	Jitter float64
	// SteadyFor and SteadyAttempts make a steady phase at the start of a streak: while less than SteadyFor has
	// passed since the streak's first failure, or fewer than SteadyAttempts failures happened in it, every delay
	// is Initial. Growth starts after it. Zero: no steady phase (growth from the first failure).
	SteadyFor      time.Duration
	SteadyAttempts int
	// Cycle starts the streak over after a delay of Max: the steady phase and the growth repeat (the Python
	// gateway's "connectAttemptCount attempts connectAttemptTimeMs apart, then waitAfterFailedAttemptsMs").
	Cycle bool
	// HealthyAfter is how long a run (from Backoff.Begin) must last to end the failure streak: the next failure
	// then starts again from Initial (default 1 min).
	HealthyAfter time.Duration
}

// Defaults applied by Validate to zero fields.
const (
	DefaultInitial      = time.Second
	DefaultMax          = time.Minute
	DefaultMultiplier   = 2.0
	DefaultJitter       = 0.2
	DefaultHealthyAfter = time.Minute
)

// Validate fills in the defaults and checks the policy; it does no I/O. Errors name the field.
func (p *Policy) Validate() error {
	if p.Initial < 0 || p.Max < 0 || p.SteadyFor < 0 || p.HealthyAfter < 0 || p.SteadyAttempts < 0 {
		return errors.New("backoff: negative duration or count")
	}
	if p.Multiplier != 0 && (p.Multiplier < 1 || math.IsInf(p.Multiplier, 0) || math.IsNaN(p.Multiplier)) {
		return fmt.Errorf("backoff: multiplier %v must be at least 1", p.Multiplier)
	}
	if p.Jitter > 1 || math.IsNaN(p.Jitter) {
		return fmt.Errorf("backoff: jitter %v must be at most 1", p.Jitter)
	}
	if p.Initial == 0 {
		p.Initial = DefaultInitial
	}
	if p.Max == 0 {
		p.Max = max(DefaultMax, p.Initial)
	}
	if p.Max < p.Initial {
		return fmt.Errorf("backoff: max delay %v is below the initial delay %v", p.Max, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	if p.Jitter == 0 {
		p.Jitter = DefaultJitter
	}
	if p.HealthyAfter == 0 {
		p.HealthyAfter = DefaultHealthyAfter
	}
	return nil
}

// valid returns p with defaults, or the defaults where p is inconsistent (New never fails; callers validate
// configurations with Validate first).
func (p Policy) valid() Policy {
	if err := p.Validate(); err != nil {
		d := Policy{}
		_ = d.Validate()
		return d
	}
	return p
}

// Backoff applies a Policy to one retried thing. Use: Begin when an attempt starts (or when a connection came
// up), then after it failed Wait (or Next and a timer of your own). Not safe for concurrent use.
type Backoff struct {
	p Policy
	// Now returns the time; nil means time.Now. Tests may inject a clock (testing/synctest needs none).
	Now func() time.Time
	// Rand returns numbers in [0, 1) for the jitter; nil means math/rand/v2. Tests inject a fixed source.
	Rand func() float64

	failures int       // failures in the current streak
	since    time.Time // first failure of the current streak
	grown    int       // failures past the steady phase
	begun    time.Time // last Begin, zero if none since the last failure
	cycled   bool      // the last delay was Max in a cycling policy: the next failure starts a new streak
}

// New returns a Backoff for p. An invalid p (see Validate) is replaced by the defaults.
func New(p Policy) *Backoff { return &Backoff{p: p.valid()} }

// Policy returns the policy in use, with its defaults filled in.
func (b *Backoff) Policy() Policy { return b.p }

func (b *Backoff) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Backoff) rand() float64 {
	if b.Rand != nil {
		return b.Rand()
	}
	return rand.Float64()
}

// Begin marks the start of a run (or the moment a connection came up): if it lasts HealthyAfter before the next
// failure, that failure starts a new streak.
func (b *Backoff) Begin() { b.begun = b.now() }

// Reset ends the failure streak: the next delay is Initial again.
func (b *Backoff) Reset() {
	b.failures, b.grown, b.cycled = 0, 0, false
	b.since = time.Time{}
}

// Failures returns the number of failures in the current streak (1 after the first Next of a streak).
func (b *Backoff) Failures() int { return b.failures }

// Next records a failure and returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	now := b.now()
	if b.cycled || (!b.begun.IsZero() && now.Sub(b.begun) >= b.p.HealthyAfter) {
		b.Reset()
	}
	b.begun = time.Time{}
	if b.failures == 0 {
		b.since = now
	}
	b.failures++
	d := b.p.Initial
	steady := (b.p.SteadyFor > 0 && now.Sub(b.since) < b.p.SteadyFor) ||
		(b.p.SteadyAttempts > 0 && b.failures < b.p.SteadyAttempts)
	if !steady {
		if b.p.SteadyFor > 0 || b.p.SteadyAttempts > 0 {
			b.grown++ // the first delay past a steady phase is already one step up
		}
		d = grow(b.p.Initial, b.p.Multiplier, b.grown, b.p.Max)
		if b.p.SteadyFor == 0 && b.p.SteadyAttempts == 0 {
			b.grown++
		}
		b.cycled = b.p.Cycle && d >= b.p.Max
	}
	if j := b.p.Jitter; j > 0 {
		d -= time.Duration(float64(d) * j * b.rand())
	}
	return d
}

// grow returns min(max, initial·m^n) without overflow; a product within rounding of max is max.
func grow(initial time.Duration, m float64, n int, maxD time.Duration) time.Duration {
	d := float64(initial)
	for range n {
		if d >= float64(maxD) {
			break
		}
		d *= m
	}
	if d >= float64(maxD)*(1-1e-9) {
		return maxD
	}
	return time.Duration(d)
}

// Wait records a failure and sleeps for the next delay. It returns ctx.Err() if ctx ended first, else nil.
func (b *Backoff) Wait(ctx context.Context) error {
	return Sleep(ctx, b.Next())
}

// Sleep waits for d or until ctx is done; it returns ctx.Err() in the second case (also when d <= 0 and ctx is
// already done).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
