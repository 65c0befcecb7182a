package file

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is a logger for tests that do not look at the log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openT opens a store in dir and fails the test on error; the caller closes it.
func openT(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts, quiet)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(t *testing.T, dir string) tbgateway.Storage {
			return openT(t, Options{Dir: dir, MaxRecords: 20000})
		},
		storagetest.Options{
			Durable: true,
			OpenFull: func(t *testing.T, dir string, limit int, p tbgateway.FullPolicy) tbgateway.Storage {
				return openT(t, Options{Dir: dir, MaxRecords: limit, Policy: p})
			},
		})
}

// TestConformanceSmallSegments runs the suite with segments of the floor size, so that the concurrent test
// crosses segment boundaries, and with a batched fsync policy.
func TestConformanceSmallSegments(t *testing.T) {
	storagetest.Run(t,
		func(t *testing.T, dir string) tbgateway.Storage {
			return openT(t, Options{Dir: dir, MaxRecords: 20000, SegmentBytes: 4096, MaxRecordsBetweenFsync: 50,
				SyncInterval: time.Millisecond})
		},
		storagetest.Options{Durable: true})
}

// rec returns a small record whose attribute "n" is n.
func rec(n int) tbgateway.Record {
	return tbgateway.Record{Device: "dev", Telemetry: []tbgateway.Telemetry{
		{TS: int64(1000 + n), Values: map[string]any{"n": int64(n), "s": fmt.Sprintf("value %d", n)}}}}
}

func recRange(from, to int) []tbgateway.Record {
	var out []tbgateway.Record
	for n := from; n < to; n++ {
		out = append(out, rec(n))
	}
	return out
}

func numOf(t *testing.T, e tbgateway.Entry) int {
	t.Helper()
	n, ok := e.Record.Telemetry[0].Values["n"].(int64)
	if !ok {
		t.Fatalf("entry %d has no n", e.Seq)
	}
	return int(n)
}

func mustPut(t *testing.T, s *Store, recs ...tbgateway.Record) {
	t.Helper()
	if err := s.Put(context.Background(), recs); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// drainEntries reads until Next has nothing more.
func drainEntries(t *testing.T, s *Store) []tbgateway.Entry {
	t.Helper()
	var all []tbgateway.Entry
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		es, err := s.Next(ctx, 1000)
		if err != nil {
			return all
		}
		all = append(all, es...)
	}
}

// drainAll reads until Next has nothing more and returns the record numbers (see rec) in order.
func drainAll(t *testing.T, s *Store) ([]int, []tbgateway.Entry) {
	t.Helper()
	all := drainEntries(t, s)
	var nums []int
	for _, e := range all {
		nums = append(nums, numOf(t, e))
	}
	return nums, all
}

func closeT(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
