// Package storagetest is the conformance suite every tbgateway.Storage implementation must pass.
//
// The contract it checks, which refines the doc of tbgateway.Storage:
//
//   - Order: Next hands out records in the order they were Put (across Put calls and within one call). Sequence
//     numbers are unique and strictly increasing in that order, also across Close and reopen of a durable store.
//   - Fidelity: a record comes out of Next equal to what went in (values of every supported type keep their Go type).
//     Callers must not modify a record's maps after Put.
//   - Next(ctx, max) returns between 1 and max entries (max < 1 counts as 1). With nothing to hand out it blocks
//     until a Put, ctx is done (returns ctx.Err()) or the store is closed (returns ErrStorageClosed).
//   - Ack removes records. Acks may come in any order and for any subset of what was handed out. Acking a sequence
//     number the store does not hold (already acknowledged, dropped, or never issued) is a no-op, not an error.
//   - Rewind makes every handed-out, unacknowledged record available again. The next Next calls return exactly those
//     records first, in their original order, followed by the records never handed out. Each record handed out again
//     is counted once in StorageStats.Redelivered.
//   - Bound: StorageStats.Count is the number of records stored and not acknowledged. A Put that would raise it above
//     the limit either fails whole with an error wrapping ErrStorageFull, storing none of its records and adding
//     their number to Refused (policy RefuseNew), or stores all of them and drops the oldest unacknowledged records,
//     handed out or not, adding each to Dropped (policy DropOldest). Acking a dropped record is a no-op.
//   - Concurrency: any number of goroutines may Put while one reads with Next and acknowledges; nothing is lost,
//     nothing is duplicated, and the order of each writer's records is kept.
//   - Restart (durable stores only): after Close and reopen the records not acknowledged are handed out again,
//     in order, and acknowledged ones never come back.
//   - Live lane (stores that implement tbgateway.LiveReader; skipped for the others): the lane starts at the end of
//     the store; telemetry-only records Put afterwards come from NextLive, oldest first, unless a connect or
//     disconnect of their device was unacknowledged at their Put (Next never hands them out while the lane runs);
//     everything else comes from Next, in order; each record is handed out once by one lane; Rewind hands the lane's unacknowledged records to Next again, counted;
//     after a reopen they come from Next.
//   - Close: every call after Close fails with an error wrapping ErrStorageClosed, except Stats, Rewind and
//     Close itself (which returns nil again). A Next blocked in another goroutine returns ErrStorageClosed.
//   - Wake-up: a Next blocked on an empty store returns as soon as a Put stores a record or Close is called. The
//     suite parks the reader first (testing/synctest), so a store must be usable inside a synctest bubble: its
//     goroutines and channels are created by Open, and Close ends them.
package storagetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Options describes the store under test.
type Options struct {
	// OpenFull opens a store at dir that holds at most limit unacknowledged records and applies policy when full.
	// The full-store tests are skipped when it is nil.
	OpenFull func(t *testing.T, dir string, limit int, policy tbgateway.FullPolicy) tbgateway.Storage
	// Durable says the store keeps its records across Close and opening the same dir again; it enables the
	// restart tests.
	Durable bool
}

// Run runs the whole suite as subtests of t. open returns a new store, empty when dir is new, with a limit of at
// least 10000 records; it is called again with the same dir to reopen a durable store. Run closes every store it
// opens.
func Run(t *testing.T, open func(t *testing.T, dir string) tbgateway.Storage, opts Options) {
	t.Run("Order", func(t *testing.T) { testOrder(t, open) })
	t.Run("Fidelity", func(t *testing.T) { testFidelity(t, open) })
	t.Run("AckRemoves", func(t *testing.T) { testAck(t, open) })
	t.Run("PartialAckOutOfOrder", func(t *testing.T) { testPartialAck(t, open) })
	t.Run("RewindRedeliversFirst", func(t *testing.T) { testRewind(t, open) })
	t.Run("NextBlocksUntilPut", func(t *testing.T) { testNextBlocks(t, open) })
	t.Run("PutWakesParkedNext", func(t *testing.T) { testPutWakesParkedNext(t, open) })
	t.Run("CloseWakesParkedNext", func(t *testing.T) { testCloseWakesParkedNext(t, open) })
	t.Run("NextHonoursContext", func(t *testing.T) { testNextContext(t, open) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, open) })
	t.Run("FullRefuseNew", func(t *testing.T) {
		if opts.OpenFull == nil {
			t.Skip("Options.OpenFull is nil")
		}
		testRefuseNew(t, opts.OpenFull)
	})
	t.Run("FullDropOldest", func(t *testing.T) {
		if opts.OpenFull == nil {
			t.Skip("Options.OpenFull is nil")
		}
		testDropOldest(t, opts.OpenFull)
	})
	t.Run("Restart", func(t *testing.T) {
		if !opts.Durable {
			t.Skip("store is not durable")
		}
		testRestart(t, open)
	})
	t.Run("Live", func(t *testing.T) { runLive(t, open, opts.Durable) })
}

// rec returns a record of device dev whose telemetry value "n" is n, so tests can tell records apart.
func rec(dev string, n int) tbgateway.Record {
	return tbgateway.Record{
		Device:    dev,
		Telemetry: []tbgateway.Telemetry{{TS: int64(1000 + n), Values: map[string]any{"n": int64(n)}}},
	}
}

func recs(dev string, from, to int) []tbgateway.Record {
	var out []tbgateway.Record
	for n := from; n < to; n++ {
		out = append(out, rec(dev, n))
	}
	return out
}

// num returns the value "n" a record made by rec carries.
func num(t *testing.T, e tbgateway.Entry) int {
	t.Helper()
	if len(e.Record.Telemetry) != 1 {
		t.Fatalf("entry %d: %d telemetry sets, want 1", e.Seq, len(e.Record.Telemetry))
	}
	n, ok := e.Record.Telemetry[0].Values["n"].(int64)
	if !ok {
		t.Fatalf("entry %d: value n is %T, want int64", e.Seq, e.Record.Telemetry[0].Values["n"])
	}
	return int(n)
}

func nums(t *testing.T, es []tbgateway.Entry) []int {
	t.Helper()
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = num(t, e)
	}
	return out
}

func seqs(es []tbgateway.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func put(t *testing.T, s tbgateway.Storage, rs ...tbgateway.Record) {
	t.Helper()
	if err := s.Put(context.Background(), rs); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// next calls Next with a deadline that only bounds a failure: the store holds data, so Next must not block.
func next(t *testing.T, s tbgateway.Storage, max int) []tbgateway.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	es, err := s.Next(ctx, max)
	if err != nil {
		t.Fatalf("Next(%d): %v", max, err)
	}
	return es
}

// drain reads until want entries were handed out (failing if Next blocks for long, which means records are missing).
func drain(t *testing.T, s tbgateway.Storage, want int) []tbgateway.Entry {
	t.Helper()
	var out []tbgateway.Entry
	for len(out) < want {
		out = append(out, next(t, s, want-len(out))...)
	}
	if len(out) != want {
		t.Fatalf("drained %d entries, want %d", len(out), want)
	}
	return out
}

// assertEmpty checks that Next has nothing to hand out.
func assertEmpty(t *testing.T, s tbgateway.Storage) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	es, err := s.Next(ctx, 100)
	if err == nil {
		t.Fatalf("Next on a drained store returned %v, want a context error", nums(t, es))
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on a drained store with a cancelled context: %v, want context.Canceled", err)
	}
}

func assertNums(t *testing.T, what string, got []tbgateway.Entry, want ...int) {
	t.Helper()
	if g := nums(t, got); !reflect.DeepEqual(g, want) {
		t.Fatalf("%s: got records %v, want %v", what, g, want)
	}
}

func assertIncreasing(t *testing.T, es []tbgateway.Entry) {
	t.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].Seq <= es[i-1].Seq {
			t.Fatalf("sequence numbers not increasing: %v", seqs(es))
		}
	}
}

func ack(t *testing.T, s tbgateway.Storage, es ...tbgateway.Entry) {
	t.Helper()
	if err := s.Ack(seqs(es)...); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func count(t *testing.T, s tbgateway.Storage, want int) {
	t.Helper()
	if got := s.Stats().Count; got != want {
		t.Fatalf("Stats().Count = %d, want %d", got, want)
	}
}

func openClosed(t *testing.T, open func(t *testing.T, dir string) tbgateway.Storage) tbgateway.Storage {
	t.Helper()
	s := open(t, t.TempDir())
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
