package opcua

import (
	"context"
	"errors"
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// ErrRetriesExhausted is wrapped by Run's error when server.reconnectRetriesCount connection attempts in a row
// failed: the runtime then reports the connector failed and restarts it with its restart policy.
var ErrRetriesExhausted = errors.New("reconnect retries exhausted")

// dialError is a failed connection attempt: the client could not open its channel or activate its session.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// sessionFunc runs one session until it fails or ctx ends, calling up once it is collecting (runSession).
type sessionFunc func(ctx context.Context, sink tbgateway.Sink, up func()) error

// keepConnected runs sessions one after the other with the reconnect back-off in between, until ctx ends
// (nil), a configuration problem shows (its error), or server.reconnectRetriesCount connection attempts in a
// row failed (an error wrapping ErrRetriesExhausted). A session that connected starts the count over, as
// each reconnect of the Python connector gets that many attempts.
func (c *Connector) keepConnected(ctx context.Context, sink tbgateway.Sink, run sessionFunc) error {
	url := c.cfg.Server.URL
	limit := c.cfg.Server.ReconnectRetriesCount
	b := backoff.New(c.reconnectPolicy())
	failed := 0 // connection attempts in a row that failed
	for {
		err := run(ctx, sink, b.Begin)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return err
		}
		var dial *dialError
		if errors.As(err, &dial) {
			failed++
		} else {
			failed = 0
		}
		if limit > 0 && failed >= limit {
			// Logged once, by the runtime, with its restart.
			return fmt.Errorf("opc-ua server %s: %w: %d connection attempts in a row failed (server.reconnectRetriesCount): %w",
				url, ErrRetriesExhausted, failed, err)
		}
		if errors.Is(err, errRescan) {
			c.log.Info("re-scanning the server's address space")
			continue
		}
		delay := b.Next()
		if b.Failures() == 1 {
			c.log.Warn("connection to OPC-UA server lost or refused; reconnecting", "url", url, "err", err)
		} else {
			c.log.Debug("reconnect failed", "url", url, "err", err, "failed_attempts", failed, "retries", limit, "retry_in", delay)
		}
		if backoff.Sleep(ctx, delay) != nil {
			return nil
		}
	}
}
