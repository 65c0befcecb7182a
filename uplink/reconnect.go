package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// The reconnect policy's fixed parts (see reconnectPolicy).
const (
	// reconnectSteadyFor is how long after a connection was lost the link keeps retrying at its shortest delay.
	reconnectSteadyFor = 30 * time.Second
	// reconnectHealthyAfter is how long a connection must stay up to end a failure streak: a link that keeps
	// dropping sooner backs off as one long outage.
	reconnectHealthyAfter = 10 * time.Second
	// reconnectJitter is the fraction jitter takes off a delay.
	reconnectJitter = 0.2
)

// reconnectPolicy is the link's reconnect policy. For the first 30 s after a connection was lost, attempts are
// ReconnectMin to 1.25·ReconnectMin apart (1-1.25 s by default): never more than one a ReconnectMin, and a
// ThingsBoard that is back is tried within 1.25 s, which leaves 0.75 s of a 2 s budget for TCP, TLS, CONNECT,
// SUBSCRIBE and the session-limits request on a slow network. After 30 s the delay doubles per failure (2.5 s,
// 5 s, ...) up to ReconnectMax, jitter taking up to a fifth off each, so that many gateways cut off together do
// not come back in step. A connection that stays up for 10 s ends the streak.
func (c *Config) reconnectPolicy() backoff.Policy {
	initial := time.Duration(float64(c.ReconnectMin) / (1 - reconnectJitter))
	return backoff.Policy{
		Initial: initial, Max: max(c.ReconnectMax, initial), Multiplier: 2, Jitter: reconnectJitter,
		SteadyFor: reconnectSteadyFor, HealthyAfter: reconnectHealthyAfter,
	}
}

// keepConnected runs connect until ctx ends, waiting between attempts as bo says; a value on wake ends a wait
// at once (a new configuration to try). connect calls its up argument once the connection is ready, and returns
// when it ended. keepConnected returns nil when ctx ended, or the error of a closed storage. The first failure
// of a streak is logged as a warning, the others at debug level.
func keepConnected(ctx context.Context, bo *backoff.Backoff, log *slog.Logger, wake <-chan struct{},
	connect func(ctx context.Context, up func()) error) error {
	for {
		err := connect(ctx, bo.Begin)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, tbgateway.ErrStorageClosed) {
			return fmt.Errorf("uplink: %w", err)
		}
		d := bo.Next()
		if bo.Failures() == 1 {
			log.Warn("thingsboard link down, reconnecting", "error", err, "in", d.Round(time.Millisecond))
		} else {
			log.Debug("thingsboard still unreachable", "error", err, "failures", bo.Failures(),
				"in", d.Round(time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}
