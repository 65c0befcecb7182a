package file

import (
	"context"
	"errors"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// The live lane beyond the conformance cases: what it must know across a restart, drops and Rewind.

// liveNow calls NextLive with a done context: it returns what the lane has at once (starting the lane if needed).
func liveNow(t *testing.T, s *Store) []tbgateway.Entry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	es, err := s.NextLive(ctx, 1000)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("NextLive: %v", err)
	}
	return es
}

func numsOf(t *testing.T, es []tbgateway.Entry) []int {
	t.Helper()
	var out []int
	for _, e := range es {
		out = append(out, numOf(t, e))
	}
	return out
}

// TestLiveSessionEventSurvivesRestart: a connect stored before a restart and still unacknowledged keeps its
// device's telemetry out of the lane after the restart, until it is acknowledged.
func TestLiveSessionEventSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	mustPut(t, s, tbgateway.Record{Kind: tbgateway.KindConnect, Device: "dev", DeviceType: "default"})
	closeT(t, s)

	s = openT(t, Options{Dir: dir})
	defer closeT(t, s)
	if es := liveNow(t, s); len(es) != 0 {
		t.Fatalf("lane started with %d records", len(es))
	}
	mustPut(t, s, rec(1))
	if es := liveNow(t, s); len(es) != 0 {
		t.Fatalf("telemetry behind an unacknowledged connect went live: %v", numsOf(t, es))
	}
	es := drainEntries(t, s)
	if len(es) != 2 || es[0].Record.Kind != tbgateway.KindConnect || numOf(t, es[1]) != 1 {
		t.Fatalf("Next handed out %v, want the connect, then record 1", es)
	}
	if err := s.Ack(es[0].Seq); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, rec(2))
	if got := numsOf(t, liveNow(t, s)); len(got) != 1 || got[0] != 2 {
		t.Fatalf("live after the connect's ack: %v, want [2]", got)
	}
}

// TestLiveDropOldest: records of the lane dropped by drop-oldest are not handed out.
func TestLiveDropOldest(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir(), MaxRecords: 3, Policy: tbgateway.DropOldest})
	defer closeT(t, s)
	liveNow(t, s)
	mustPut(t, s, recRange(0, 5)...)
	if got := numsOf(t, liveNow(t, s)); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("live after drops: %v, want [2 3 4]", got)
	}
	if st := s.Stats(); st.Dropped != 2 || st.Count != 3 {
		t.Fatalf("stats %+v, want 2 dropped and 3 held", st)
	}
	if es := drainEntries(t, s); len(es) != 0 {
		t.Fatalf("Next handed out %d records of the lane", len(es))
	}
}

// TestLiveRewindCountsOnlyHandedOut: after Rewind, a record of the lane that NextLive never handed out is not
// counted as redelivered, even below Next's highest handed-out record.
func TestLiveRewindCountsOnlyHandedOut(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	defer closeT(t, s)
	liveNow(t, s)
	mustPut(t, s, rec(0))
	if got := numsOf(t, liveNow(t, s)); len(got) != 1 || got[0] != 0 {
		t.Fatalf("live: %v, want [0]", got)
	}
	mustPut(t, s, rec(1)) // live, never handed out
	mustPut(t, s, tbgateway.Record{Device: "dev", Attributes: map[string]any{"a": int64(1)}})
	if es := drainEntries(t, s); len(es) != 1 || len(es[0].Record.Attributes) != 1 {
		t.Fatalf("Next handed out %v, want the attribute record", es)
	}
	s.Rewind()
	es := drainEntries(t, s)
	if len(es) != 3 || numOf(t, es[0]) != 0 || numOf(t, es[1]) != 1 || len(es[2].Record.Attributes) != 1 {
		t.Fatalf("Next after Rewind handed out %v, want 0, 1, the attribute record", es)
	}
	// Record 0 (NextLive) and the attribute record (Next) are redelivered; record 1 was never handed out.
	if r := s.Stats().Redelivered; r != 2 {
		t.Fatalf("Redelivered = %d, want 2", r)
	}
}

// TestLiveRewindRestartsBlockedLane: a NextLive blocked across a Rewind starts the next lane and gets its records.
func TestLiveRewindRestartsBlockedLane(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	defer closeT(t, s)
	liveNow(t, s)
	mustPut(t, s, rec(0))
	if got := numsOf(t, liveNow(t, s)); len(got) != 1 {
		t.Fatalf("live: %v, want [0]", got)
	}
	laneFrom := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lane.from
	}
	first := laneFrom()
	got := make(chan []tbgateway.Entry, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a failure bound only
	defer cancel()
	go func() {
		es, _ := s.NextLive(ctx, 10)
		got <- es
	}()
	s.Rewind()
	waitFor(t, "the next lane", func() bool { f := laneFrom(); return f != 0 && f != first })
	mustPut(t, s, rec(1))
	if es := <-got; len(es) != 1 || numOf(t, es[0]) != 1 {
		t.Fatalf("blocked NextLive returned %v, want record 1", es)
	}
	if nums, _ := drainAll(t, s); len(nums) != 1 || nums[0] != 0 {
		t.Fatalf("Next after Rewind: %v, want the first lane's record 0", nums)
	}
}
