package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// settleTimeout bounds a planned stop's wait for the PUBACKs of the messages in flight (AckTimeout if shorter).
const settleTimeout = 10 * time.Second

// errPlannedStop ends a link stopped on purpose, once its messages in flight are settled.
var errPlannedStop = errors.New("link stopped to move to a new configuration")

// swapState is a pending Reconnect and the means to stop the connection that runs; the zero value with a wake
// channel is ready.
type swapState struct {
	mu      sync.Mutex
	busy    bool         // a Reconnect is under way (pending or being tried)
	pending *swapRequest // taken by the Run loop
	stop    func()       // stops the current connection (attempt or link), planned; nil between connections
	wake    chan struct{}
}

// swapRequest is one Reconnect: the settings to try, for how long, and where its outcome goes.
type swapRequest struct {
	set  *settings
	try  time.Duration
	done chan error // buffered: the Run loop never waits for the caller
}

// Reconnect moves the running link to cfg without two sessions at once (ThingsBoard keeps one per device): it
// stops the current connection the planned way (nothing more is published, the messages in flight get their
// PUBACKs for up to 10 s, so a planned stop repeats nothing), then tries cfg for up to try. When a connection
// with cfg is up (subscribed, session limits applied) Reconnect returns nil and cfg stays in force for every later
// reconnect. Otherwise the previous configuration is restored and connected again at once, and the error says
// why cfg failed. Records stored meanwhile wait in the storage and are delivered in order by whichever link runs.
//
// cfg is validated first (an invalid one changes nothing). A Reconnect while another is under way fails at once.
// Run must be running or about to run; ctx bounds only the wait for the outcome, not the change itself. The
// downlink workers' count (DownlinkWorkers) stays as Run started it.
func (c *Client) Reconnect(ctx context.Context, cfg Config, try time.Duration) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	req := &swapRequest{set: &settings{cfg: cfg, useTLS: cfg.UsesTLS()}, try: try, done: make(chan error, 1)}
	s := &c.swap
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return errors.New("another change of the thingsboard connection is under way")
	}
	s.busy, s.pending = true, req
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the new thingsboard connection: %w", ctx.Err())
	}
}

// SetRateLimits replaces the configured rate limits (the six *RateLimits fields of cfg; every other field is
// ignored) on the running link, without reconnecting: limits left empty fall back to the ones ThingsBoard
// announced at the last connect. The new limits start with full buckets. cfg's limits are validated first.
func (c *Client) SetRateLimits(cfg Config) error {
	next := *c.set.Load()
	next.cfg.RateLimits, next.cfg.DPRateLimits, next.cfg.MessagesRateLimits = cfg.RateLimits, cfg.DPRateLimits, cfg.MessagesRateLimits
	next.cfg.DeviceRateLimits, next.cfg.DeviceDPRateLimits, next.cfg.DeviceMessagesRateLimits = cfg.DeviceRateLimits, cfg.DeviceDPRateLimits, cfg.DeviceMessagesRateLimits
	if err := next.cfg.Validate(); err != nil {
		return err
	}
	c.set.Store(&next)
	c.mu.RLock()
	own, dev := c.srvOwn, c.srvDev
	c.mu.RUnlock()
	c.applyRates(own, dev)
	c.mu.Lock()
	close(c.ratesChanged)
	c.ratesChanged = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// rateChange returns a channel closed when the rate limits change.
func (c *Client) rateChange() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ratesChanged
}

// sleepRate waits d for a limiter, returning early (nil) when the limits change, or ctx's error.
func (c *Client) sleepRate(ctx context.Context, d time.Duration) error {
	changed := c.rateChange()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-changed:
	}
	return nil
}

// take returns the pending Reconnect, if any.
func (s *swapState) take() *swapRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pending
	s.pending = nil
	return req
}

// arm makes stop the way to stop the current connection; it reports false (and arms nothing) when a Reconnect
// is pending, which must be taken first.
func (s *swapState) arm(stop func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		return false
	}
	s.stop = stop
	return true
}

func (s *swapState) disarm() {
	s.mu.Lock()
	s.stop = nil
	s.mu.Unlock()
}

// finish hands a Reconnect its outcome.
func (s *swapState) finish(req *swapRequest, err error) {
	s.mu.Lock()
	s.busy = false
	s.mu.Unlock()
	req.done <- err
}

// abandon fails a Reconnect still pending when Run returns.
func (s *swapState) abandon() {
	if req := s.take(); req != nil {
		s.finish(req, errors.New("the thingsboard link stopped"))
	}
}

// connectOrSwap is Run's connect step: one connection, or the trial of a pending Reconnect. A connection stopped
// for a Reconnect goes straight on to the trial, without the reconnect delay.
func (c *Client) connectOrSwap(ctx context.Context, up func()) error {
	for {
		if req := c.swap.take(); req != nil {
			stopped, err := c.trySwap(ctx, req, up)
			if !stopped || ctx.Err() != nil {
				return err
			}
			continue
		}
		stopped, err := c.stoppable(ctx, up, nil)
		if !stopped || ctx.Err() != nil {
			return err
		}
	}
}

// stoppable runs one connection that a Reconnect can stop; it reports whether it was stopped that way. guard, if
// not nil, receives the connection's cancel function before it starts (the trial's deadline uses it).
func (c *Client) stoppable(ctx context.Context, up func(), guard func(cancel func())) (bool, error) {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool
	if !c.swap.arm(func() { stopped.Store(true); c.stopPlanned(cancel) }) {
		return true, nil
	}
	defer c.swap.disarm()
	if guard != nil {
		guard(cancel)
	}
	err := c.connection(connCtx, up)
	return stopped.Load(), err
}

// stopPlanned stops the current connection: a link publishes nothing more and ends once its messages in flight
// are settled (see settle); a connection not yet established is cancelled.
func (c *Client) stopPlanned(cancel func()) {
	c.mu.RLock()
	l := c.link
	c.mu.RUnlock()
	if l != nil {
		l.stopSending()
		return
	}
	cancel()
}

// trySwap connects with req's settings for up to req.try. When a connection comes up it answers req with nil and
// runs that connection to its end (its settings stay in force); it returns whether it was stopped for another
// Reconnect, and why it ended. Otherwise it restores the previous settings, answers req with the reason and runs
// a connection with them.
func (c *Client) trySwap(ctx context.Context, req *swapRequest, up func()) (bool, error) {
	old := c.set.Load()
	c.set.Store(req.set)
	cfg := &req.set.cfg
	logDeadPathErr(c, c.dead.setPath(cfg.DeadLetterPath))
	c.log.Info("moving to a new thingsboard connection", "host", cfg.Host, "port", cfg.Port, "try", req.try)
	deadline := time.Now().Add(req.try)
	var lastErr error
	for time.Now().Before(deadline) {
		// state: 0 trying, 1 up (req answered), 2 out of time (the attempt is cancelled).
		var state atomic.Int32
		var timer *time.Timer
		guard := func(cancel func()) {
			timer = time.AfterFunc(time.Until(deadline), func() {
				if state.CompareAndSwap(0, 2) {
					cancel()
				}
			})
		}
		stopped, err := c.stoppable(ctx, func() {
			if state.CompareAndSwap(0, 1) {
				up()
				c.log.Info("new thingsboard connection is up", "host", cfg.Host, "port", cfg.Port)
				c.swap.finish(req, nil)
			}
		}, guard)
		if timer != nil {
			timer.Stop()
		}
		if state.Load() == 1 {
			return stopped, err
		}
		switch {
		case state.Load() == 2 && lastErr == nil:
			lastErr = fmt.Errorf("no answer: %w", err)
		case state.Load() != 2 && err != nil:
			lastErr = err
		}
		if ctx.Err() != nil || stopped || state.Load() == 2 || !time.Now().Before(deadline) {
			break
		}
		t := time.NewTimer(min(cfg.ReconnectMin, time.Until(deadline)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	c.set.Store(old)
	logDeadPathErr(c, c.dead.setPath(old.cfg.DeadLetterPath))
	if ctx.Err() != nil {
		c.swap.finish(req, errors.New("the thingsboard link stopped"))
		return false, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no answer")
	}
	reason := fmt.Errorf("thingsboard at %s:%d did not accept the connection within %v: %w", cfg.Host, cfg.Port, req.try, lastErr)
	c.log.Warn("new thingsboard connection failed; the previous one is restored", "error", reason,
		"host", old.cfg.Host, "port", old.cfg.Port)
	// The answer waits for the previous connection to be up again (so that the caller can report the failure to
	// ThingsBoard), or for its first attempt to fail.
	var once sync.Once
	answer := func() { once.Do(func() { c.swap.finish(req, reason) }) }
	stopped, err := c.stoppable(ctx, func() { up(); answer() }, nil)
	answer()
	return stopped, err
}

// settle ends a link whose sending was stopped on purpose (stopSending): it waits for the PUBACKs of every
// message in flight, holding all the window's slots, up to settleTimeout (or AckTimeout), then ends the link.
// On a link that already ended it does nothing.
func (c *Client) settle(l *link, sem chan struct{}) {
	if l.ctx.Err() != nil {
		return
	}
	t := time.NewTimer(min(settleTimeout, l.cfg.AckTimeout))
	defer t.Stop()
	for range cap(sem) {
		select {
		case sem <- struct{}{}:
		case <-l.ctx.Done():
			return
		case <-t.C:
			l.cancel(fmt.Errorf("%w; messages still in flight after %v are sent again", errPlannedStop, min(settleTimeout, l.cfg.AckTimeout)))
			return
		}
	}
	l.cancel(errPlannedStop)
}

// logDeadPathErr logs a failure to close the previous dead-letter file.
func logDeadPathErr(c *Client, err error) {
	if err != nil {
		c.log.Warn("closing the dead-letter file failed", "error", err)
	}
}
