package uplink

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect delays: exponential from Min, doubling per failed attempt up to Max, with jitter so
// that many gateways cut off at once do not come back in lockstep. The n-th delay is drawn uniformly from
// [max(Min, d/2), d] where d = min(Max, Min·2ⁿ). Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
	rnd      *rand.Rand
}

// NewBackoff returns a Backoff between minDelay and maxDelay. rnd may be nil (a randomly seeded source is used).
func NewBackoff(minDelay, maxDelay time.Duration, rnd *rand.Rand) *Backoff {
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	return &Backoff{Min: minDelay, Max: maxDelay, rnd: rnd}
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	lo := max(b.Min, d/2)
	if d <= lo {
		return d
	}
	return lo + time.Duration(b.rnd.Int64N(int64(d-lo)+1))
}

// Reset starts over from Min (after a connection that worked).
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for the next delay; it returns false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	return sleepCtx(ctx, b.Next())
}

// sleepCtx sleeps for d or until ctx is done; it reports whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
