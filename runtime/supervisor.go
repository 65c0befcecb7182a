package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
)

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

// Supervise runs run until ctx is done, restarting it after the delays of policy (the gateway's one backoff
// policy, internal/backoff: exponential with jitter, the streak ending after a run of policy.HealthyAfter)
// whenever it returns (an error, or nil before ctx is done) or panics. A panic is recovered and turned into a
// *PanicError. Only changes of state are logged: the first failure of a streak (with the panic's stack, if any)
// and the recovery once a run has lasted HealthyAfter; further failures in a streak are logged at debug level.
// stats may be nil. Supervise returns once ctx is done and run has returned; run must return promptly when its
// ctx is done.
func Supervise(ctx context.Context, name string, run func(context.Context) error, policy backoff.Policy, log *slog.Logger, stats *SupervisorStats) {
	bo := backoff.New(policy)
	healthyAfter := bo.Policy().HealthyAfter
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stats == nil {
		stats = &SupervisorStats{}
	}
	log = log.With("task", name)
	for {
		streak := bo.Failures() // failures in a row before this run
		fired := make(chan struct{})
		healthy := time.AfterFunc(healthyAfter, func() {
			defer close(fired)
			if streak > 0 {
				log.Info("task recovered", "failures", streak)
			}
		})
		bo.Begin()
		stats.running.Store(true)
		err := runProtected(ctx, run)
		stats.running.Store(false)
		if !healthy.Stop() {
			<-fired // log the recovery before a failure that follows it
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errStoppedEarly
		}
		wait := bo.Next()
		stats.mu.Lock()
		stats.lastErr = err
		stats.mu.Unlock()
		var pe *PanicError
		if errors.As(err, &pe) {
			stats.panics.Add(1)
		}
		switch n := bo.Failures(); {
		case n == 1 && pe != nil:
			log.Error("task panicked; restarting", "err", err, "retry_in", wait, "stack", string(pe.Stack))
		case n == 1:
			log.Error("task failed; restarting", "err", err, "retry_in", wait)
		default:
			log.Debug("task failed again", "err", err, "failures", n, "retry_in", wait)
		}
		if backoff.Sleep(ctx, wait) != nil {
			return
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
