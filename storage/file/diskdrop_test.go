package file

import (
	"context"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

// TestDiskFullDropOldestTmpfs fills a real 1 MiB tmpfs under drop-oldest with a record bound far above what the
// disk holds: no Put fails, the oldest segments are deleted to make room and their records counted as dropped,
// and what is left comes out in order, ending with the newest record, also after reopening.
func TestDiskFullDropOldestTmpfs(t *testing.T) {
	dir := storagetest.MountTmpfs(t, "1m")
	opts := Options{Dir: dir, MaxRecords: 1 << 20, SegmentBytes: 64 << 10, Policy: tbgateway.DropOldest}
	s := openT(t, opts)
	big := func(n int) tbgateway.Record {
		r := rec(n)
		r.Telemetry[0].Values["pad"] = strings.Repeat("x", 1000)
		return r
	}
	const total = 3000 // about 3 MB of records on a 1 MiB disk
	for n := 0; n < total; n += 10 {
		batch := make([]tbgateway.Record, 10)
		for i := range batch {
			batch[i] = big(n + i)
		}
		if err := s.Put(context.Background(), batch); err != nil {
			t.Fatalf("Put of records %d.. under drop-oldest on a full disk: %v", n, err)
		}
	}
	st, fst := s.Stats(), s.FileStats()
	if st.Dropped == 0 || st.Refused != 0 || st.Count+int(st.Dropped) != total || fst.DiskFull == 0 {
		t.Fatalf("Stats %+v, FileStats %+v: want drops, no refusals, Count+Dropped = %d, disk-full events", st, fst, total)
	}
	// Close may drop one more segment to make room for the read position: after reopening, the records are a
	// shorter run that still ends with the newest.
	check := func(s *Store, first int) {
		t.Helper()
		nums, _ := drainAll(t, s)
		if len(nums) != total-first || nums[0] != first || nums[len(nums)-1] != total-1 {
			t.Fatalf("drained %d records from %v to %v, want %d from %d to %d", len(nums), nums[0],
				nums[len(nums)-1], total-first, first, total-1)
		}
		for i := 1; i < len(nums); i++ {
			if nums[i] != nums[i-1]+1 {
				t.Fatalf("record %d follows %d", nums[i], nums[i-1])
			}
		}
	}
	check(s, int(st.Dropped))
	closeT(t, s)
	s = openT(t, opts)
	defer closeT(t, s)
	if c := s.Stats().Count; c > st.Count || c < st.Count/2 {
		t.Fatalf("after reopening: %d records, want at most the %d before Close, less at most one segment", c, st.Count)
	}
	check(s, total-s.Stats().Count)
	t.Logf("%d records put on a 1 MiB disk: %d dropped, %d kept", total, st.Dropped, st.Count)
}
