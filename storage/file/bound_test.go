package file

import (
	"context"
	"errors"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestByteBoundRefuseNew fills a store bounded by bytes: Put fails whole with ErrStorageFull, and the live
// segments never exceed the bound.
func TestByteBoundRefuseNew(t *testing.T) {
	const maxBytes = 4096
	s := openT(t, Options{Dir: t.TempDir(), MaxBytes: maxBytes, MaxRecords: 1 << 20})
	defer closeT(t, s)
	stored := 0
	var err error
	for ; stored < 1000; stored++ {
		if err = s.Put(context.Background(), []tbgateway.Record{rec(stored)}); err != nil {
			break
		}
	}
	if !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("after %d records: %v, want ErrStorageFull", stored, err)
	}
	st, fs := s.Stats(), s.FileStats()
	if st.Count != stored || st.Refused != 1 || fs.LiveBytes > maxBytes || stored == 0 {
		t.Fatalf("Stats %+v FileStats %+v after %d stored: want Count %d, Refused 1, LiveBytes <= %d",
			st, fs, stored, stored, maxBytes)
	}
}

// TestByteBoundDropOldest overfills a store bounded by bytes under DropOldest: whole oldest segments are dropped
// and counted, the newest records stay in order, and the live segments stay within the bound.
func TestByteBoundDropOldest(t *testing.T) {
	const maxBytes, n = 4096, 300
	s := openT(t, Options{Dir: t.TempDir(), MaxBytes: maxBytes, MaxRecords: 1 << 20, Policy: tbgateway.DropOldest})
	defer closeT(t, s)
	for i := range n {
		mustPut(t, s, rec(i))
	}
	st, fs := s.Stats(), s.FileStats()
	if st.Dropped == 0 || st.Count+int(st.Dropped) != n || fs.LiveBytes > maxBytes {
		t.Fatalf("Stats %+v FileStats %+v: want drops, Count+Dropped = %d, LiveBytes <= %d", st, fs, n, maxBytes)
	}
	nums, _ := drainAll(t, s)
	if len(nums) != st.Count || nums[len(nums)-1] != n-1 || nums[0] != int(st.Dropped) {
		t.Fatalf("kept %v, want the newest %d records in order", nums, st.Count)
	}
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("kept records not contiguous: %v", nums)
		}
	}
}

// TestRecordsPerSegmentFloor checks that the Python default of 3 records per file means the floor, and that the
// capacity follows from it.
func TestRecordsPerSegmentFloor(t *testing.T) {
	log, buf := logBuffer()
	s, err := Open(Options{Dir: t.TempDir(), RecordsPerSegment: 3, MaxSegments: 5}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeT(t, s)
	if s.opts.RecordsPerSegment != MinRecordsPerSegment || s.opts.MaxRecords != 5*MinRecordsPerSegment {
		t.Fatalf("RecordsPerSegment %d, MaxRecords %d; want %d and %d", s.opts.RecordsPerSegment, s.opts.MaxRecords,
			MinRecordsPerSegment, 5*MinRecordsPerSegment)
	}
	if !strings.Contains(buf.String(), "raised to the floor") {
		t.Fatalf("floor not logged; log:\n%s", buf)
	}
}
