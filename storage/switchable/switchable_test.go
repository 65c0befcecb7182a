package switchable

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/file"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/storage/sqlite"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds a test that would otherwise hang; it paces nothing.
const testTimeout = 2 * time.Minute

func rec(dev string, n int) tbgateway.Record {
	return tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: int64(1000 + n), Values: map[string]any{"n": int64(n)}}}}
}

func num(e tbgateway.Entry) int { return int(e.Record.Telemetry[0].Values["n"].(int64)) }

func openFile(t testing.TB, dir string, maxRecords int) tbgateway.Storage {
	t.Helper()
	s, err := file.Open(file.Options{Dir: dir, MaxSegments: 100, RecordsPerSegment: 1000, MaxRecords: maxRecords}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSQLite(t testing.TB, dir string) tbgateway.Storage {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Synchronous: "NORMAL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// to is a Target opening s.
func to(s tbgateway.Storage) Target {
	return Target{Open: func(context.Context) (tbgateway.Storage, error) { return s, nil }}
}

// TestConformance runs the storage suite on a switchable store, before any switch and after one (whose
// sequence numbers carry the generation).
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, dir string) tbgateway.Storage { return New(memory.New(memory.Options{}), nil) },
			storagetest.Options{OpenFull: func(t *testing.T, dir string, limit int, p tbgateway.FullPolicy) tbgateway.Storage {
				return New(memory.New(memory.Options{MaxRecords: limit, Policy: p}), nil)
			}})
	})
	t.Run("switched", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, dir string) tbgateway.Storage {
			s := New(memory.New(memory.Options{}), nil)
			if _, err := s.Switch(context.Background(), to(memory.New(memory.Options{}))); err != nil {
				t.Fatal(err)
			}
			return s
		}, storagetest.Options{})
	})
	t.Run("file", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, dir string) tbgateway.Storage { return New(openFile(t, dir, 0), nil) },
			storagetest.Options{Durable: true})
	})
}

// uplink plays the uplink: it reads with Next, checks and acknowledges every record, and counts each one.
type uplink struct {
	t    *testing.T
	s    *Store
	mu   sync.Mutex
	got  map[string][]int // per device, the values in the order they were handed out
	n    int
	stop context.CancelFunc
	done chan struct{}
}

func startUplink(t *testing.T, s *Store) *uplink {
	ctx, cancel := context.WithCancel(context.Background())
	u := &uplink{t: t, s: s, got: map[string][]int{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		for {
			es, err := s.Next(ctx, 37)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Next: %v", err)
				}
				return
			}
			u.mu.Lock()
			for _, e := range es {
				u.got[e.Record.Device] = append(u.got[e.Record.Device], num(e))
			}
			u.n += len(es)
			u.mu.Unlock()
			if err := s.Ack(seqsOf(es)...); err != nil {
				t.Errorf("Ack: %v", err)
				return
			}
		}
	}()
	return u
}

func (u *uplink) received() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *uplink) halt() {
	u.stop()
	<-u.done
}

func seqsOf(es []tbgateway.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// checkExactlyOnce checks that each device's values 0..want-1 were handed out once each, in order.
func checkExactlyOnce(t *testing.T, got map[string][]int, want map[string]int) {
	t.Helper()
	for dev, n := range want {
		vals := got[dev]
		if len(vals) != n {
			t.Errorf("%s: %d records handed out, want %d", dev, len(vals), n)
		}
		for i, v := range vals {
			if v != i {
				t.Errorf("%s: record %d is value %d (lost, repeated or out of order)", dev, i, v)
				break
			}
		}
	}
}

// TestSwitchUnderLoad switches between memory, file and sqlite stores while four writers Put and a reader reads
// and acknowledges: every record is handed out exactly once, in order per device.
func TestSwitchUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	s := New(memory.New(memory.Options{MaxRecords: 1_000_000}), nil)
	defer s.Close()
	u := startUplink(t, s)
	defer u.halt()

	const writers, perWriter = 4, 3000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			dev := fmt.Sprintf("dev-%d", w)
			for n := 0; n < perWriter; n += 10 {
				batch := make([]tbgateway.Record, 0, 10)
				for k := n; k < n+10; k++ {
					batch = append(batch, rec(dev, k))
				}
				if err := s.Put(ctx, batch); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	targets := []func() tbgateway.Storage{
		func() tbgateway.Storage { return openFile(t, filepath.Join(dir, "f1"), 0) },
		func() tbgateway.Storage { return openSQLite(t, filepath.Join(dir, "sq")) },
		func() tbgateway.Storage { return memory.New(memory.Options{MaxRecords: 1_000_000}) },
		func() tbgateway.Storage { return openFile(t, filepath.Join(dir, "f2"), 0) },
	}
	moved := 0
	for i, open := range targets {
		res, err := s.Switch(ctx, Target{Open: func(context.Context) (tbgateway.Storage, error) { return open(), nil }, MoveBatch: 100})
		if err != nil {
			t.Fatalf("switch %d: %v", i, err)
		}
		moved += res.Moved
	}
	wg.Wait()
	for u.received() < writers*perWriter && ctx.Err() == nil {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	u.halt()
	want := map[string]int{}
	for w := range writers {
		want[fmt.Sprintf("dev-%d", w)] = perWriter
	}
	checkExactlyOnce(t, u.got, want)
	if st := s.Stats(); st.Count != 0 {
		t.Errorf("Count = %d after everything was acknowledged", st.Count)
	}
	t.Logf("moved %d records over %d switches", moved, len(targets))
}

// TestSwitchMovesBacklog: with nothing read, the whole backlog goes to the new store in order and leaves the
// old one; records Put after the switch come after it.
func TestSwitchMovesBacklog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	oldDir, newDir := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	s := New(openFile(t, oldDir, 0), nil)
	for from := 0; from < 2500; from += 100 {
		var batch []tbgateway.Record
		for n := from; n < from+100; n++ {
			batch = append(batch, rec(fmt.Sprintf("d%d", n%3), n/3))
		}
		if err := s.Put(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	old, nw := s.Current(), openSQLite(t, newDir)
	target := to(nw)
	committed := false
	// The commit (saving the configuration) comes once the new store holds everything, before it takes over.
	target.Commit = func(context.Context) error {
		committed = true
		if n := nw.Stats().Count; n != 2500 || s.Current() != old {
			t.Errorf("at the commit the new store holds %d records, the old one runs: %v", n, s.Current() == old)
		}
		return nil
	}
	res, err := s.Switch(ctx, target)
	if err != nil || !committed {
		t.Fatalf("switch: %v (committed %v)", err, committed)
	}
	if res.Moved != 2500 || res.Held != 0 || res.Kept != 0 {
		t.Fatalf("result %+v, want 2500 moved", res)
	}
	for n := 2500; n < 2600; n++ {
		if err := s.Put(ctx, []tbgateway.Record{rec(fmt.Sprintf("d%d", n%3), n/3)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]int{}
	for total := 0; total < 2600; {
		es, err := s.Next(ctx, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got[e.Record.Device] = append(got[e.Record.Device], num(e))
		}
		total += len(es)
		if err := s.Ack(seqsOf(es)...); err != nil {
			t.Fatal(err)
		}
	}
	checkExactlyOnce(t, got, map[string]int{"d0": 867, "d1": 867, "d2": 866})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The old folder holds nothing to send any more; the new one nothing once acknowledged.
	for _, d := range []string{oldDir, newDir} {
		var st tbgateway.Storage
		if d == oldDir {
			st = openFile(t, d, 0)
		} else {
			st = openSQLite(t, d)
		}
		if c := st.Stats().Count; c != 0 {
			t.Errorf("%s holds %d records after the switch", d, c)
		}
		st.Close()
	}
}

// TestSwitchWaitsForHandedOutRecords: records the uplink holds are awaited (their Ack goes to the old store)
// and are not moved, so nothing repeats.
func TestSwitchWaitsForHandedOutRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(memory.New(memory.Options{}), nil)
		defer s.Close()
		for n := range 10 {
			s.Put(ctx, []tbgateway.Record{rec("d", n)})
		}
		held, err := s.Next(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			res, err := s.Switch(ctx, to(memory.New(memory.Options{})))
			if err == nil && res.Moved != 6 {
				err = fmt.Errorf("moved %d, want the 6 not handed out", res.Moved)
			}
			done <- err
		}()
		synctest.Wait() // the switch waits for the records handed out
		// A Put during the switch waits for it.
		putDone := make(chan error, 1)
		go func() { putDone <- s.Put(ctx, []tbgateway.Record{rec("d", 10)}) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("the switch ended (%v) while 4 records were handed out", err)
		case err := <-putDone:
			t.Fatalf("a Put ended (%v) during the switch", err)
		default:
		}
		if err := s.Ack(seqsOf(held)...); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := <-putDone; err != nil {
			t.Fatal(err)
		}
		var got []int
		for len(got) < 7 {
			es, err := s.Next(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				got = append(got, num(e))
			}
		}
		if want := []int{4, 5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
			t.Errorf("after the switch Next handed out %v, want %v", got, want)
		}
		// A late ack of a record of the old store is ignored.
		if err := s.Ack(held[0].Seq); err != nil || s.StaleAcks() != 1 {
			t.Errorf("stale ack: %v, StaleAcks %d", err, s.StaleAcks())
		}
	})
}

// TestSwitchRewindSettles: when the link drops during the wait (Rewind), the records it held are moved too.
func TestSwitchRewindSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(memory.New(memory.Options{}), nil)
		defer s.Close()
		for n := range 5 {
			s.Put(ctx, []tbgateway.Record{rec("d", n)})
		}
		if _, err := s.Next(ctx, 3); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		var res Result
		go func() {
			var err error
			res, err = s.Switch(ctx, to(memory.New(memory.Options{})))
			done <- err
		}()
		synctest.Wait()
		s.Rewind()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		es, err := s.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := numsOf(es); res.Moved != 5 || !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
			t.Errorf("moved %d, then handed out %v; want all 5 in order", res.Moved, got)
		}
	})
}

func numsOf(es []tbgateway.Entry) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = num(e)
	}
	return out
}

// TestSwitchNotSettledKeepsOld: records the uplink never acknowledges end the switch after SettleTimeout; the
// old store goes on, and the Put that waited lands in it.
func TestSwitchNotSettledKeepsOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		old := memory.New(memory.Options{})
		s := New(old, nil)
		defer s.Close()
		s.Put(ctx, []tbgateway.Record{rec("d", 0), rec("d", 1)})
		held, _ := s.Next(ctx, 1)
		opened := false
		putDone := make(chan error, 1)
		go func() {
			synctest.Wait()
			putDone <- s.Put(ctx, []tbgateway.Record{rec("d", 2)})
		}()
		_, err := s.Switch(ctx, Target{Open: func(context.Context) (tbgateway.Storage, error) {
			opened = true
			return memory.New(memory.Options{}), nil
		}, SettleTimeout: time.Minute})
		if !errors.Is(err, ErrNotSettled) || opened {
			t.Fatalf("switch: %v (new store opened: %v), want ErrNotSettled before opening", err, opened)
		}
		if err := <-putDone; err != nil {
			t.Fatal(err)
		}
		if s.Current() != old || s.Stats().Count != 3 {
			t.Fatalf("after the failed switch: current store changed or Count %d != 3", s.Stats().Count)
		}
		if err := s.Ack(seqsOf(held)...); err != nil || s.StaleAcks() != 0 {
			t.Fatalf("ack of the held record after the failed switch: %v (stale %d)", err, s.StaleAcks())
		}
		es, _ := s.Next(ctx, 10)
		if got := numsOf(es); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("Next = %v, want [1 2]", got)
		}
	})
}

// TestSwitchFailuresKeepOld: a new store that cannot open, refuses the backlog, drops from it, or a commit that
// fails: the old store keeps every record, in order, and the copies made are removed from the new store.
func TestSwitchFailuresKeepOld(t *testing.T) {
	errOpen, errCommit := errors.New("permission denied"), errors.New("saving failed")
	cases := []struct {
		name   string
		target func(dir string) Target
		want   error
	}{
		{"open fails", func(string) Target {
			return Target{Open: func(context.Context) (tbgateway.Storage, error) { return nil, errOpen }}
		}, errOpen},
		{"new store refuses", func(string) Target { return to(memory.New(memory.Options{MaxRecords: 15})) }, ErrNewStoreTooSmall},
		{"new store drops", func(string) Target {
			return to(memory.New(memory.Options{MaxRecords: 15, Policy: tbgateway.DropOldest}))
		}, ErrNewStoreTooSmall},
		{"commit fails", func(dir string) Target {
			tg := to(openFile(t, dir, 0))
			tg.Commit = func(context.Context) error { return errCommit }
			return tg
		}, errCommit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			dir := t.TempDir()
			old := memory.New(memory.Options{})
			s := New(old, nil)
			defer s.Close()
			for n := range 40 {
				s.Put(ctx, []tbgateway.Record{rec("d", n)})
			}
			first, _ := s.Next(ctx, 5)
			if err := s.Ack(seqsOf(first)...); err != nil {
				t.Fatal(err)
			}
			tg := c.target(dir)
			tg.MoveBatch = 10
			_, err := s.Switch(ctx, tg)
			if !errors.Is(err, c.want) {
				t.Fatalf("switch: %v, want %v", err, c.want)
			}
			if s.Current() != old {
				t.Fatal("the current store changed")
			}
			var got []int
			for len(got) < 35 {
				es, err := s.Next(ctx, 100)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, numsOf(es)...)
			}
			if want := seqRange(5, 40); !slices.Equal(got, want) {
				t.Errorf("after the failed switch Next = %v, want %v", got, want)
			}
			if c.name == "commit fails" {
				st := openFile(t, dir, 0)
				defer st.Close()
				if n := st.Stats().Count; n != 0 {
					t.Errorf("the new store's folder keeps %d copies after the failed switch", n)
				}
			}
		})
	}
}

func seqRange(from, to int) []int {
	var out []int
	for n := from; n < to; n++ {
		out = append(out, n)
	}
	return out
}

// TestSwitchInPlace: new settings on the same folder reopen its files (nothing moved); settings that cannot
// open bring the old ones back.
func TestSwitchInPlace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	s := New(openFile(t, dir, 0), nil)
	defer s.Close()
	for n := range 30 {
		s.Put(ctx, []tbgateway.Record{rec("d", n)})
	}
	reopen := func(context.Context) (tbgateway.Storage, error) { return openFile(t, dir, 0), nil }
	_, err := s.Switch(ctx, Target{InPlace: true, Reopen: reopen,
		Open: func(context.Context) (tbgateway.Storage, error) { return nil, errors.New("bad settings") }})
	if err == nil || s.Stats().Count != 30 {
		t.Fatalf("in-place switch to settings that fail: %v, Count %d", err, s.Stats().Count)
	}
	res, err := s.Switch(ctx, Target{InPlace: true, Reopen: reopen,
		Open: func(context.Context) (tbgateway.Storage, error) { return openFile(t, dir, 500), nil }})
	if err != nil || res.Moved != 0 {
		t.Fatalf("in-place switch: %v, moved %d", err, res.Moved)
	}
	es, err := s.Next(ctx, 100)
	if err != nil || !slices.Equal(numsOf(es), seqRange(0, 30)) {
		t.Fatalf("after the in-place switch Next = %v, %v", numsOf(es), err)
	}
}

// TestReadersFollowTheSwitch: a Next and a NextLive blocked on the old store go on reading the new one.
func TestReadersFollowTheSwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(memory.New(memory.Options{}), nil)
		defer s.Close()
		type got struct {
			es  []tbgateway.Entry
			err error
		}
		next, live := make(chan got, 1), make(chan got, 1)
		go func() { es, err := s.Next(ctx, 10); next <- got{es, err} }()
		go func() { es, err := s.NextLive(ctx, 10); live <- got{es, err} }()
		synctest.Wait()
		if _, err := s.Switch(ctx, to(memory.New(memory.Options{}))); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the readers are back, on the new store: its live lane has started
		s.Put(ctx, []tbgateway.Record{{Device: "d", Attributes: map[string]any{"a": int64(1)}}})
		s.Put(ctx, []tbgateway.Record{rec("d", 7)})
		n, l := <-next, <-live
		if n.err != nil || len(n.es) != 1 || n.es[0].Record.Attributes["a"] != int64(1) {
			t.Errorf("Next after the switch: %v %v, want the attribute record", n.es, n.err)
		}
		if l.err != nil || len(l.es) != 1 || num(l.es[0]) != 7 || l.es[0].Seq>>genShift != 1 {
			t.Errorf("NextLive after the switch: %v %v, want the telemetry of generation 1", l.es, l.err)
		}
	})
}
