package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// BackoffOptions shape the restart delays of Supervise. Zero fields take the defaults shown.
type BackoffOptions struct {
	// Min is the delay before the first restart (1 s).
	Min time.Duration
	// Max caps the delay (1 min).
	Max time.Duration
	// Multiplier grows the delay after each failure in a row (2).
	Multiplier float64
	// Jitter takes up to this fraction off each delay at random, so that tasks failing together do not restart in
	// step (0.2). Negative means none.
	Jitter float64
	// HealthyAfter is how long a run must last to count as healthy: the next failure then starts again from Min,
	// and a task that was failing is logged as recovered (1 min).
	HealthyAfter time.Duration
	// Rand returns numbers in [0, 1) for the jitter; nil uses math/rand/v2. Tests set it to be deterministic.
	Rand func() float64
}

func (o BackoffOptions) withDefaults() BackoffOptions {
	if o.Min <= 0 {
		o.Min = time.Second
	}
	if o.Max <= 0 {
		o.Max = time.Minute
	}
	o.Max = max(o.Max, o.Min)
	if o.Multiplier < 1 {
		o.Multiplier = 2
	}
	if o.Jitter == 0 {
		o.Jitter = 0.2
	}
	o.Jitter = min(max(o.Jitter, 0), 1)
	if o.HealthyAfter <= 0 {
		o.HealthyAfter = time.Minute
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

// delay returns the wait before restart number n (1 for the first restart of a failure streak).
func (o BackoffOptions) delay(n int) time.Duration {
	d := float64(o.Min)
	for i := 1; i < n && d < float64(o.Max); i++ {
		d *= o.Multiplier
	}
	d = min(d, float64(o.Max))
	return time.Duration(d * (1 - o.Jitter*o.Rand()))
}

// SupervisorStats counts what happened to one supervised task. It is safe for concurrent use; the zero value is
// ready.
type SupervisorStats struct {
	restarts atomic.Uint64
	panics   atomic.Uint64
	running  atomic.Bool
	mu       sync.Mutex
	lastErr  error
}

// Restarts returns how many times the task was started again after a failure.
func (s *SupervisorStats) Restarts() uint64 { return s.restarts.Load() }

// Panics returns how many of the failures were panics.
func (s *SupervisorStats) Panics() uint64 { return s.panics.Load() }

// Running says whether the task is running now (not waiting to restart, not stopped).
func (s *SupervisorStats) Running() bool { return s.running.Load() }

// LastError returns the task's most recent failure, or nil.
func (s *SupervisorStats) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// PanicError is the failure of a task that panicked.
type PanicError struct {
	// Value is what the task panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// errStoppedEarly is the failure of a task that returned nil while it should still be running.
var errStoppedEarly = errors.New("returned before shutdown")

// Supervise runs run until ctx is done, restarting it with exponential backoff and jitter whenever it returns
// (an error, or nil before ctx is done) or panics. A panic is recovered and turned into a *PanicError. Only
// changes of state are logged: the first failure of a streak (with the panic's stack, if any) and the recovery
// once a run has lasted opts.HealthyAfter; further failures in a streak are logged at debug level. stats may be
// nil. Supervise returns once ctx is done and run has returned; run must return promptly when its ctx is done.
func Supervise(ctx context.Context, name string, run func(context.Context) error, opts BackoffOptions, log *slog.Logger, stats *SupervisorStats) {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stats == nil {
		stats = &SupervisorStats{}
	}
	log = log.With("task", name)
	streak := 0 // failures in a row without a healthy run in between
	for {
		start := time.Now()
		fired := make(chan struct{})
		healthy := time.AfterFunc(opts.HealthyAfter, func() {
			defer close(fired)
			if streak > 0 {
				log.Info("task recovered", "failures", streak)
			}
		})
		stats.running.Store(true)
		err := runProtected(ctx, run)
		stats.running.Store(false)
		if !healthy.Stop() {
			<-fired // the callback reads streak; let it finish before streak changes
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errStoppedEarly
		}
		if time.Since(start) >= opts.HealthyAfter {
			streak = 0
		}
		streak++
		stats.mu.Lock()
		stats.lastErr = err
		stats.mu.Unlock()
		var pe *PanicError
		if errors.As(err, &pe) {
			stats.panics.Add(1)
		}
		wait := opts.delay(streak)
		switch {
		case streak == 1 && pe != nil:
			log.Error("task panicked; restarting", "err", err, "retry_in", wait, "stack", string(pe.Stack))
		case streak == 1:
			log.Error("task failed; restarting", "err", err, "retry_in", wait)
		default:
			log.Debug("task failed again", "err", err, "failures", streak, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		stats.restarts.Add(1)
	}
}

// runProtected calls run, turning a panic into a *PanicError.
func runProtected(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return run(ctx)
}
