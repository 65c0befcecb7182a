package ble

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestConnectQueueFIFO: connection attempts run one at a time, in arrival order, and a waiter that gives up
// leaves the queue without blocking the others.
func TestConnectQueueFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &connectQueue{}
		release := make(chan struct{})
		var order []int
		running := 0
		first := make(chan struct{})
		go func() {
			_ = q.do(t.Context(), func() error { close(first); <-release; return nil })
		}()
		<-first
		ctx, cancel := context.WithCancel(t.Context())
		gaveUp := make(chan error, 1)
		go func() { gaveUp <- q.do(ctx, func() error { t.Error("a cancelled waiter ran"); return nil }) }()
		done := make(chan struct{})
		for i := 1; i <= 3; i++ {
			synctest.Wait() // the previous waiter is queued before the next arrives
			go func() {
				_ = q.do(t.Context(), func() error {
					running++
					if running > 1 {
						t.Error("two attempts at once")
					}
					order = append(order, i)
					running--
					return nil
				})
				if i == 3 {
					close(done)
				}
			}()
		}
		synctest.Wait()
		cancel()
		if err := <-gaveUp; err == nil {
			t.Error("a cancelled waiter returned nil")
		}
		close(release)
		<-done
		if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
			t.Errorf("order %v, want [1 2 3]", order)
		}
	})
}
