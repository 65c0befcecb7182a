package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens a store in dir with opts and closes it when the test ends (a second Close is a no-op).
func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), opts, quiet)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	open := func(t *testing.T, dir string) tbgateway.Storage {
		s, err := Open(context.Background(), Options{Dir: dir}, quiet)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	storagetest.Run(t, open, storagetest.Options{
		Durable: true,
		OpenFull: func(t *testing.T, dir string, limit int, p tbgateway.FullPolicy) tbgateway.Storage {
			s, err := Open(context.Background(), Options{Dir: dir, MaxRecords: limit, Policy: p}, quiet)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		},
	})
}

func TestConformanceSynchronousNormal(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) tbgateway.Storage {
		s, err := Open(context.Background(), Options{Dir: dir, Synchronous: "normal"}, quiet)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}, storagetest.Options{Durable: true})
}

func rec(dev string, n int) tbgateway.Record {
	return tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: int64(1000 + n), Values: map[string]any{"n": int64(n)}}}}
}

func recs(dev string, from, to int) []tbgateway.Record {
	var out []tbgateway.Record
	for n := from; n < to; n++ {
		out = append(out, rec(dev, n))
	}
	return out
}

func nums(t *testing.T, es []tbgateway.Entry) []int64 {
	t.Helper()
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Record.Telemetry[0].Values["n"].(int64)
	}
	return out
}

func drain(t *testing.T, s *Store, want int) []tbgateway.Entry {
	t.Helper()
	var out []tbgateway.Entry
	for len(out) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		es, err := s.Next(ctx, want-len(out))
		cancel()
		if err != nil {
			t.Fatalf("Next after %d of %d: %v", len(out), want, err)
		}
		out = append(out, es...)
	}
	return out
}

func assertDrained(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if es, err := s.Next(ctx, 10); err == nil {
		t.Fatalf("store still hands out %v", nums(t, es))
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{}, {Dir: t.TempDir(), Policy: "keep-all"}, {Dir: t.TempDir(), Synchronous: "OFF"}} {
		if s, err := Open(context.Background(), o, quiet); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded, want an error", o)
		}
	}
}

func TestDirFromDataFilePath(t *testing.T) {
	for in, want := range map[string]string{"./data/data.db": "data", "./data/": "data", "./": ".", "": ".", "/var/tb/x.db": "/var/tb"} {
		if got := DirFromDataFilePath(in); got != want {
			t.Errorf("DirFromDataFilePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPutReturnsAfterCommit holds the writer just before its commit and checks that Put has not returned by
// then, and that once it returns another connection sees the records (they are committed).
func TestPutReturnsAfterCommit(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	reached, release := make(chan struct{}), make(chan struct{})
	var commits int
	s.beforeCommit = func() {
		commits++
		reached <- struct{}{}
		<-release
	}
	putDone := make(chan error, 1)
	go func() { putDone <- s.Put(context.Background(), recs("a", 0, 3)) }()
	<-reached
	select {
	case err := <-putDone:
		t.Fatalf("Put returned (%v) before its transaction committed", err)
	default:
	}
	other, err := sql.Open("sqlite", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var n int
	if err := other.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("before the commit another connection sees %d records (err %v), want 0", n, err)
	}
	close(release)
	if err := <-putDone; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := other.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after Put another connection sees %d records (err %v), want 3", n, err)
	}
	if commits != 1 {
		t.Fatalf("%d commits for one Put, want 1", commits)
	}
}

// TestGroupCommit queues many Puts while the writer is held in a commit and checks that they are then
// committed together in fewer transactions than Puts, each Put returning only after its commit.
func TestGroupCommit(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	const puts = 20
	var mu sync.Mutex
	commits := 0
	reached, release := make(chan struct{}), make(chan struct{})
	first := true
	s.beforeCommit = func() {
		mu.Lock()
		commits++
		f := first
		first = false
		mu.Unlock()
		if f {
			reached <- struct{}{}
			<-release
		}
	}
	errs := make(chan error, puts)
	go func() { errs <- s.Put(context.Background(), recs("first", 0, 1)) }()
	<-reached
	for i := range puts - 1 {
		go func() { errs <- s.Put(context.Background(), recs(fmt.Sprint("w", i), 0, 2)) }()
	}
	// Wait until the other Puts are queued behind the held commit.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.reqs) < puts-1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d Puts queued", len(s.reqs))
		}
		time.Sleep(time.Millisecond) // polling for a state; the deadline only bounds a failure
	}
	close(release)
	for range puts {
		if err := <-errs; err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if commits != 2 {
		t.Fatalf("%d commits for %d Puts, want 2 (one held, then one group)", commits, puts)
	}
	if c := s.Stats().Count; c != 1+2*(puts-1) {
		t.Fatalf("Count = %d, want %d", c, 1+2*(puts-1))
	}
}

func TestByteBound(t *testing.T) {
	one := rec("a", 0)
	size := int64(len(one.AppendBinary(nil)))
	s := openStore(t, Options{Dir: t.TempDir(), MaxBytes: 3 * size})
	if err := s.Put(context.Background(), recs("a", 0, 3)); err != nil {
		t.Fatalf("Put within the byte bound: %v", err)
	}
	if err := s.Put(context.Background(), recs("a", 3, 4)); !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("Put past the byte bound: %v, want ErrStorageFull", err)
	}
	es := drain(t, s, 1)
	if err := s.Ack(es[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), recs("a", 3, 4)); err != nil {
		t.Fatalf("Put after an ack freed room: %v", err)
	}

	d := openStore(t, Options{Dir: t.TempDir(), MaxBytes: 3 * size, Policy: tbgateway.DropOldest})
	if err := d.Put(context.Background(), recs("a", 0, 5)); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Dropped != 2 || st.Count != 3 {
		t.Fatalf("Stats = %+v, want Dropped 2, Count 3", st)
	}
	if got := nums(t, drain(t, d, 3)); fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("kept %v, want [2 3 4]", got)
	}
}

func TestCancelledPutStoresNothing(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, recs("a", 0, 2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	if c := s.Stats().Count; c != 0 {
		t.Fatalf("Count = %d, want 0", c)
	}
}

func TestCorruptRecordDropped(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	if err := s.Put(context.Background(), recs("a", 0, 3)); err != nil {
		t.Fatal(err)
	}
	// Damage the second record behind the store's back.
	if _, err := s.wconn.ExecContext(context.Background(), `UPDATE records SET data = x'ff00' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	es := drain(t, s, 2)
	if got := nums(t, es); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("handed out %v, want [0 2]", got)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Count != 2 {
		t.Fatalf("Stats = %+v, want Dropped 1, Count 2", st)
	}
}
