package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

// fillUntilFull Puts batches until a Put fails and returns that error and the number of records stored.
func fillUntilFull(t *testing.T, s *Store) (int, error) {
	t.Helper()
	stored := 0
	for i := 0; i < 100000; i++ {
		batch := recs("full", stored, stored+50)
		for j := range batch {
			batch[j].Attributes = map[string]any{"pad": strings.Repeat("x", 200)}
		}
		if err := s.Put(context.Background(), batch); err != nil {
			return stored, err
		}
		stored += len(batch)
	}
	t.Fatal("the store never filled up")
	return 0, nil
}

func assertDiskFullErr(t *testing.T, s *Store, err error) {
	t.Helper()
	if !errors.Is(err, tbgateway.ErrStorageFull) || !strings.Contains(err.Error(), s.Path()) ||
		!strings.Contains(err.Error(), "full") {
		t.Fatalf("Put on a full disk: %v, want an error naming %s and wrapping ErrStorageFull", err, s.Path())
	}
	t.Logf("Put on a full disk: %v", err)
}

// TestDatabaseFull limits the database with PRAGMA max_page_count, which makes SQLite fail exactly as on a
// full disk (SQLITE_FULL).
func TestDatabaseFull(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), pragmas: []string{"max_page_count(64)"}})
	stored, err := fillUntilFull(t, s)
	assertDiskFullErr(t, s, err)
	st := s.Stats()
	if st.Count != stored || st.Refused != 50 {
		t.Fatalf("Stats = %+v, want Count %d (the failed Put stored nothing), Refused 50", st, stored)
	}
	// Still usable: everything stored comes out, and acknowledging makes room again.
	es := drain(t, s, stored)
	seqs := make([]uint64, len(es))
	for i, e := range es {
		seqs[i] = e.Seq
	}
	if err := s.Ack(seqs...); err != nil {
		t.Fatalf("Ack on a full database: %v", err)
	}
	if err := s.Put(context.Background(), recs("after", 0, 50)); err != nil {
		t.Fatalf("Put after room was made: %v", err)
	}
	if got := drain(t, s, 50); got[0].Record.Device != "after" {
		t.Fatalf("got device %q", got[0].Record.Device)
	}
}

// mountTmpfs mounts a 2 MB tmpfs on a new directory until the test ends (storagetest.MountTmpfs: it fails in CI
// when it cannot). Stores in it must be closed before the test ends.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	return storagetest.MountTmpfs(t, "2m")
}

// reserveSize returns the size of the reserve file, -1 when there is none.
func reserveSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, ReserveFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestDiskFullRecoversByAcks lets the store alone fill a 2 MB tmpfs (its WAL included): Puts are refused from the
// first failure on (no flapping while nothing is acknowledged), the reserve is released so that every Ack of
// the backlog succeeds, and once the acknowledged space is back the reserve is recreated and Puts succeed.
func TestDiskFullRecoversByAcks(t *testing.T) {
	dir := mountTmpfs(t)
	s, err := Open(context.Background(), Options{Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := reserveSize(t, dir); n != ReserveBytes {
		t.Fatalf("reserve file of %d bytes after Open, want %d", n, ReserveBytes)
	}
	stored, err := fillUntilFull(t, s)
	assertDiskFullErr(t, s, err)
	if n := reserveSize(t, dir); n != -1 {
		t.Fatalf("reserve file of %d bytes on a full disk, want it released", n)
	}
	for range 3 {
		if err := s.Put(context.Background(), recs("refused", 0, 5)); !errors.Is(err, tbgateway.ErrStorageFull) {
			t.Fatalf("Put on a full disk before any ack: %v, want ErrStorageFull", err)
		}
	}
	if st := s.Stats(); st.Count != stored || st.Refused != 50+15 {
		t.Fatalf("Stats = %+v, want Count %d, Refused %d", st, stored, 50+15)
	}
	es := drain(t, s, stored)
	for len(es) > 0 { // acks of 100 records, as the uplink sends them
		k := min(len(es), 100)
		seqs := make([]uint64, k)
		for i, e := range es[:k] {
			seqs[i] = e.Seq
		}
		if err := s.Ack(seqs...); err != nil {
			t.Fatalf("Ack on a full disk with %d records left: %v", len(es), err)
		}
		es = es[k:]
	}
	if err := s.Put(context.Background(), recs("after", 0, 50)); err != nil {
		t.Fatalf("Put after the backlog was acknowledged: %v", err)
	}
	if n := reserveSize(t, dir); n != ReserveBytes {
		t.Fatalf("reserve file of %d bytes after the recovery, want %d", n, ReserveBytes)
	}
	if got := drain(t, s, 50); got[0].Record.Device != "after" || s.Stats().Count != 50 {
		t.Fatalf("after the recovery: device %q, stats %+v", got[0].Record.Device, s.Stats())
	}
	if err := s.Close(); err != nil { // before the unmount
		t.Fatal(err)
	}
}

// TestDiskFullTmpfs fills a 2 MB tmpfs, which needs root; it skips otherwise.
func TestDiskFullTmpfs(t *testing.T) {
	dir := mountTmpfs(t)
	s, err := Open(context.Background(), Options{Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			chunk = chunk[:len(chunk)/2] // fill the last pages too
		}
	}
	f.Close()

	stored, err := fillUntilFull(t, s)
	assertDiskFullErr(t, s, err)
	if c := s.Stats().Count; c != stored {
		t.Fatalf("Count = %d, want %d", c, stored)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), recs("after", 0, 5)); err != nil {
		t.Fatalf("Put after space returned: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: dir})
	if c := s2.Stats().Count; c != stored+5 {
		t.Fatalf("after reopening: Count = %d, want %d", c, stored+5)
	}
	es := drain(t, s2, stored+5)
	if es[len(es)-1].Record.Device != "after" {
		t.Fatalf("last record is of device %q, want after", es[len(es)-1].Record.Device)
	}
	if err := s2.Close(); err != nil { // before the unmount
		t.Fatal(err)
	}
}
