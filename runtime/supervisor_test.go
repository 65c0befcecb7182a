package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// lines returns "LEVEL message" of every record at level or above, and whether any carried a stack attribute.
func (h *logRecorder) lines(level slog.Level) (out []string, stack bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.Level < level {
			continue
		}
		out = append(out, r.Level.String()+" "+r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "stack" && strings.Contains(a.Value.String(), "TestSupervisePanic") {
				stack = true
			}
			return true
		})
	}
	return out, stack
}

// testBackoff doubles from 1 s to 10 s without jitter.
var testBackoff = backoff.Policy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, HealthyAfter: time.Minute, Jitter: -1}

// since returns how long after t0 each time is.
func since(t0 time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(t0)
	}
	return out
}

func TestSuperviseRestartsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var starts []time.Time // only the supervised goroutine touches it while it runs
		run := func(ctx context.Context) error {
			starts = append(starts, time.Now())
			if len(starts) <= 5 {
				return fmt.Errorf("attempt %d: connection refused", len(starts))
			}
			<-ctx.Done()
			return nil
		}
		logs := &logRecorder{}
		stats := &SupervisorStats{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			Supervise(ctx, "conn", run, testBackoff, slog.New(logs), stats)
			close(done)
		}()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 25 * time.Second}
		if got := since(t0, starts); !reflect.DeepEqual(got, want) {
			t.Fatalf("starts at %v, want %v (doubling from 1s, capped at 10s)", got, want)
		}
		if stats.Restarts() != 5 || stats.Panics() != 0 || !stats.Running() {
			t.Fatalf("stats: restarts %d panics %d running %v", stats.Restarts(), stats.Panics(), stats.Running())
		}
		if err := stats.LastError(); err == nil || !strings.Contains(err.Error(), "attempt 5") {
			t.Fatalf("LastError = %v", err)
		}
		lines, _ := logs.lines(slog.LevelInfo)
		if want := []string{"ERROR task failed; restarting", "INFO task recovered"}; !reflect.DeepEqual(lines, want) {
			t.Fatalf("logged %q, want %q (once per state change)", lines, want)
		}
		cancel()
		<-done
		if stats.Running() {
			t.Fatal("still running after stop")
		}
	})
}

func TestSupervisePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		run := func(ctx context.Context) error {
			n++
			if n <= 2 {
				var m map[string]int
				m["boom"]++ // a real runtime panic
			}
			<-ctx.Done()
			return nil
		}
		logs := &logRecorder{}
		stats := &SupervisorStats{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			Supervise(ctx, "panicky", run, testBackoff, slog.New(logs), stats)
			close(done)
		}()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if stats.Panics() != 2 || stats.Restarts() != 2 || !stats.Running() {
			t.Fatalf("panics %d restarts %d running %v", stats.Panics(), stats.Restarts(), stats.Running())
		}
		var pe *PanicError
		if err := stats.LastError(); !errors.As(err, &pe) || !strings.Contains(pe.Error(), "nil map") {
			t.Fatalf("LastError = %v, want a *PanicError about the nil map", err)
		}
		lines, stack := logs.lines(slog.LevelInfo)
		if want := []string{"ERROR task panicked; restarting"}; !reflect.DeepEqual(lines, want) || !stack {
			t.Fatalf("logged %q (stack %v), want %q with the stack once", lines, stack, want)
		}
		cancel()
		<-done
	})
}

func TestSuperviseCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := testBackoff
		opts.Initial, opts.Max = time.Hour, time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		calls := 0
		go func() {
			Supervise(ctx, "failing", func(context.Context) error { calls++; return errors.New("down") }, opts, nil, nil)
			close(done)
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		stopAt := time.Now()
		cancel()
		<-done
		if d := time.Since(stopAt); d != 0 {
			t.Fatalf("Supervise returned %v after cancel, want at once", d)
		}
		if calls != 1 {
			t.Fatalf("%d calls, want 1", calls)
		}
	})
}

func TestSuperviseOthersUnaffected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		bad, good := &SupervisorStats{}, &SupervisorStats{}
		ticks := 0
		wg.Go(func() {
			Supervise(ctx, "bad", func(context.Context) error { panic("always") }, testBackoff, nil, bad)
		})
		wg.Go(func() {
			Supervise(ctx, "good", func(ctx context.Context) error {
				tk := time.NewTicker(time.Second)
				defer tk.Stop()
				for {
					select {
					case <-ctx.Done():
						return nil
					case <-tk.C:
						ticks++
					}
				}
			}, testBackoff, nil, good)
		})
		time.Sleep(30*time.Second + time.Millisecond)
		synctest.Wait()
		if ticks != 30 || good.Restarts() != 0 || !good.Running() {
			t.Fatalf("good task: %d ticks, %d restarts, running %v", ticks, good.Restarts(), good.Running())
		}
		if bad.Panics() < 4 {
			t.Fatalf("bad task panicked %d times", bad.Panics())
		}
		cancel()
		wg.Wait()
	})
}

func TestSuperviseHealthyRunResetsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var starts []time.Time
		run := func(ctx context.Context) error {
			starts = append(starts, time.Now())
			switch len(starts) {
			case 1, 2, 4:
				return errors.New("quick failure")
			case 3:
				time.Sleep(2 * time.Minute) // healthy for longer than HealthyAfter, then fails
				return errors.New("late failure")
			}
			<-ctx.Done()
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { Supervise(ctx, "t", run, testBackoff, nil, nil); close(done) }()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		// 0 fail, +1s fail, +2s (3s) healthy 2 min then fail at 123s, +1s (reset) = 124s fail, +2s = 126s.
		want := []time.Duration{0, time.Second, 3 * time.Second, 124 * time.Second, 126 * time.Second}
		if got := since(t0, starts); !reflect.DeepEqual(got, want) {
			t.Fatalf("starts at %v, want %v", got, want)
		}
		cancel()
		<-done
	})
}

func TestSuperviseNilReturnIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		stats := &SupervisorStats{}
		n := 0
		done := make(chan struct{})
		go func() {
			Supervise(ctx, "quitter", func(ctx context.Context) error {
				n++
				if n == 1 {
					return nil
				}
				<-ctx.Done()
				return ctx.Err() // an error at shutdown is not a failure
			}, testBackoff, nil, stats)
			close(done)
		}()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if stats.Restarts() != 1 || !errors.Is(stats.LastError(), errStoppedEarly) {
			t.Fatalf("restarts %d, last error %v", stats.Restarts(), stats.LastError())
		}
		cancel()
		<-done
		if stats.Restarts() != 1 {
			t.Fatalf("shutdown counted as a failure: %d restarts", stats.Restarts())
		}
	})
}
