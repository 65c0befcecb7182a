package sqlite

import (
	"context"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestDiskFullDropOldestTmpfs fills a 2 MB tmpfs under drop-oldest with bounds far above what the disk holds: no
// Put fails, the oldest records are dropped to make room and counted, and the rest comes out in order, ending
// with the newest; after the backlog is acknowledged the reserve is back.
func TestDiskFullDropOldestTmpfs(t *testing.T) {
	dir := mountTmpfs(t)
	s, err := Open(context.Background(), Options{Dir: dir, Policy: tbgateway.DropOldest}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const total = 12000 // about 3 MB of records
	for n := 0; n < total; n += 50 {
		batch := recs("drop", n, n+50)
		for j := range batch {
			batch[j].Attributes = map[string]any{"pad": strings.Repeat("x", 200)}
		}
		if err := s.Put(context.Background(), batch); err != nil {
			t.Fatalf("Put of records %d.. under drop-oldest on a full disk: %v", n, err)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Refused != 0 || st.Count+int(st.Dropped) != total {
		t.Fatalf("Stats %+v: want drops, no refusals, Count+Dropped = %d", st, total)
	}
	if n := reserveSize(t, dir); n != -1 {
		t.Fatalf("reserve file of %d bytes on a full disk, want it released", n)
	}
	es := drain(t, s, st.Count)
	got := nums(t, es)
	for i, n := range got {
		if n != int64(int(st.Dropped)+i) {
			t.Fatalf("record %d is number %d, want %d (the oldest dropped, the rest in order)", i, n, int(st.Dropped)+i)
		}
	}
	assertDrained(t, s)
	for len(es) > 0 {
		k := min(len(es), 100)
		seqs := make([]uint64, k)
		for i, e := range es[:k] {
			seqs[i] = e.Seq
		}
		if err := s.Ack(seqs...); err != nil {
			t.Fatalf("Ack on a full disk: %v", err)
		}
		es = es[k:]
	}
	if err := s.Put(context.Background(), recs("after", 0, 5)); err != nil {
		t.Fatal(err)
	}
	if n := reserveSize(t, dir); n != ReserveBytes {
		t.Fatalf("reserve file of %d bytes after the backlog was acknowledged, want %d", n, ReserveBytes)
	}
	t.Logf("%d records put on a 2 MB disk: %d dropped, %d kept", total, st.Dropped, st.Count)
	if err := s.Close(); err != nil { // before the unmount
		t.Fatal(err)
	}
}
