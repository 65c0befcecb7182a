package ble

import (
	"context"
	"sync"
)

// connectQueue serialises connection attempts on one adapter in arrival order (FIFO): BLE controllers handle few
// connection attempts at once, and an attempt to an absent device holds the radio for its whole timeout, so the
// devices take turns. Connected devices keep their session; only attempts queue.
type connectQueue struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{} // in arrival order; closed when it is that waiter's turn
}

// do waits for its turn (or ctx), runs fn, and hands the turn to the next waiter.
func (q *connectQueue) do(ctx context.Context, fn func() error) error {
	if err := q.acquire(ctx); err != nil {
		return err
	}
	defer q.release()
	return fn()
}

func (q *connectQueue) acquire(ctx context.Context) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	q.waiters = append(q.waiters, turn)
	q.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		for i, w := range q.waiters {
			if w == turn {
				q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// The turn was handed over while ctx ended: pass it on.
		q.releaseLocked()
		return ctx.Err()
	}
}

func (q *connectQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked()
}

func (q *connectQueue) releaseLocked() {
	if len(q.waiters) == 0 {
		q.busy = false
		return
	}
	next := q.waiters[0]
	q.waiters = q.waiters[1:]
	close(next)
}
