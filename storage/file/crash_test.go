package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

type recID struct {
	w, n int
}

func idOf(t *testing.T, e tbgateway.Entry) recID {
	t.Helper()
	var w int
	if _, err := fmt.Sscanf(e.Record.Device, "w%d", &w); err != nil {
		t.Fatalf("entry %d: device %q", e.Seq, e.Record.Device)
	}
	return recID{w, int(e.Record.Telemetry[0].Values["n"].(int64))}
}

// copyDir copies the regular files of src into dst, as a crash would leave them (files vanishing meanwhile are
// skipped).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashCopy copies the directory in the middle of concurrent Puts, reads and out-of-order acks, without
// Close, and opens the copy: every record whose Put returned before the copy and that was not acknowledged must
// be there, in order per writer, once; records acknowledged since the last checkpoint may come back.
func TestCrashCopy(t *testing.T) {
	dir, crash := t.TempDir(), t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 8 << 10, MaxRecords: 1 << 20, AckBatch: 300, AckInterval: time.Hour}
	s := openT(t, opts)
	var (
		book      sync.Mutex
		returned  = map[recID]bool{}
		ackIntent = map[recID]bool{}
		acks      int
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; {
				k := 1 + n%5
				var rs []tbgateway.Record
				for i := range k {
					rs = append(rs, tbgateway.Record{Device: fmt.Sprintf("w%d", w),
						Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"n": int64(n + i)}}}})
				}
				if err := s.Put(context.Background(), rs); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				book.Lock()
				for i := range k {
					returned[recID{w, n + i}] = true
				}
				book.Unlock()
				n += k
			}
		})
	}
	enough := make(chan struct{})
	signalled := false
	wg.Go(func() {
		var held []tbgateway.Entry
		for {
			es, err := s.Next(ctx, 50)
			if err != nil {
				return
			}
			// Hold back every seventh record for one round so acks come out of order and leave gaps; never
			// acknowledge a third of the records, so some are in flight at the crash.
			var now []tbgateway.Entry
			for i, e := range es {
				if idOf(t, e).n%3 == 0 {
					continue
				}
				if i%7 == 3 {
					now = append(now, held...)
					held = []tbgateway.Entry{e}
				} else {
					now = append(now, e)
				}
			}
			slices.Reverse(now)
			book.Lock()
			for _, e := range now {
				ackIntent[idOf(t, e)] = true
			}
			acks += len(now)
			if acks >= 3000 && !signalled {
				close(enough)
				signalled = true
			}
			book.Unlock()
			var seqs []uint64
			for _, e := range now {
				seqs = append(seqs, e.Seq)
			}
			if err := s.Ack(seqs...); err != nil {
				t.Errorf("Ack: %v", err)
				return
			}
		}
	})
	<-enough
	// The crash: what is on disk now. Holding the book freezes what counts as returned and acknowledged;
	// holding ckMu keeps the checkpointer from moving the read position while the files are copied.
	book.Lock()
	s.ckMu.Lock()
	copyDir(t, dir, crash)
	s.ckMu.Unlock()
	mustReturn := map[recID]bool{}
	for id := range returned {
		if !ackIntent[id] {
			mustReturn[id] = true
		}
	}
	book.Unlock()
	cancel()
	wg.Wait()
	closeT(t, s)

	persisted, err := readAckState(ackPath(crash))
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = crash
	c := openT(t, opts)
	defer closeT(t, c)
	es := drainEntries(t, c)
	seen := map[recID]bool{}
	last := map[int]int{}
	repeats, counted := 0, 0
	for _, e := range es {
		id := idOf(t, e)
		if seen[id] {
			t.Fatalf("record %v handed out twice after the crash", id)
		}
		seen[id] = true
		if prev, ok := last[id.w]; ok && id.n <= prev {
			t.Fatalf("writer %d: record %d after %d", id.w, id.n, prev)
		}
		last[id.w] = id.n
		if ackIntent[id] {
			repeats++
		}
		if e.Seq <= persisted.handed {
			counted++
		}
	}
	for id := range mustReturn {
		if !seen[id] {
			t.Fatalf("record %v: Put returned before the crash, never acknowledged, missing after it", id)
		}
	}
	if r := c.Stats().Redelivered; r != uint64(counted) {
		t.Fatalf("Redelivered = %d, want %d (records at or below the checkpointed hand-out mark)", r, counted)
	}
	t.Logf("%d records after the crash, %d required, %d acknowledged ones repeated, %d counted as redelivered",
		len(es), len(mustReturn), repeats, counted)
}
