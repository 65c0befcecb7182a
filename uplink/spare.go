package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tbgateway/tbgateway"
)

// ErrNoSpareRate is returned by PublishOwnTelemetrySpare when the gateway device's rate limits have no spare room
// now; nothing was sent or charged.
var ErrNoSpareRate = errors.New("the gateway device's rate limits have no spare room for best-effort telemetry now")

// PublishOwnTelemetrySpare publishes body, a ready telemetry payload of the gateway device (an object, or an array
// of {"ts","values"} entries) holding dps datapoints, at QoS 1 and waits for the PUBACK, but only when every window
// of the gateway device's rate limits stays at least half full after it; otherwise it returns ErrNoSpareRate at
// once. Best-effort traffic (remote logs) uses it, so it never takes the budget data needs: data drains the
// buckets below half long before it would have to wait. It fails with tbgateway.ErrNotConnected while the link is
// down.
func (c *Client) PublishOwnTelemetrySpare(ctx context.Context, body []byte, dps int) error {
	l := c.current()
	if l == nil {
		return fmt.Errorf("publish %s: %w", topicMeTelemetry, tbgateway.ErrNotConnected)
	}
	c.mu.Lock()
	ok := c.ownRate.reserveSpare(1, 1, dps, time.Now())
	c.mu.Unlock()
	if !ok {
		return ErrNoSpareRate
	}
	return c.publishOn(ctx, l, topicMeTelemetry, body)
}

// reserveSpare takes msgs messages, telMsgs telemetry messages and dps datapoints when every bucket keeps at least
// half its capacity afterwards; otherwise it takes nothing and returns false. A nil set allows everything.
func (r *rateSet) reserveSpare(msgs, telMsgs, dps int, now time.Time) bool {
	if r == nil {
		return true
	}
	if !r.msgs.spare(msgs, now) || !r.telMsgs.spare(telMsgs, now) || !r.telDP.spare(dps, now) {
		return false
	}
	r.take(msgs, telMsgs, dps)
	return true
}

// spare reports whether taking n units leaves every bucket at least half full.
func (l *limiter) spare(n int, now time.Time) bool {
	if l == nil || n <= 0 {
		return true
	}
	l.refill(now)
	for _, b := range l.buckets {
		if b.tokens-float64(n) < b.capacity/2 {
			return false
		}
	}
	return true
}
