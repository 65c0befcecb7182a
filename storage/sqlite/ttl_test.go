package sqlite

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTTLDropsExpiredRecords(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	opts := Options{Dir: dir, TTL: 2 * time.Hour, Clock: clock.Now}
	s := openStore(t, opts)
	ctx := context.Background()
	if err := s.Put(ctx, recs("a", 0, 3)); err != nil {
		t.Fatal(err)
	}
	handed := drain(t, s, 2) // handed out, not acknowledged: expiring drops them too
	clock.Add(time.Hour)
	if err := s.Put(ctx, recs("a", 3, 5)); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour) // the first three are exactly 2h old: not older than the TTL yet
	if err := s.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Count != 5 {
		t.Fatalf("at the TTL: Stats = %+v, want Dropped 0, Count 5", st)
	}
	clock.Add(time.Millisecond)
	if err := s.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Dropped != 3 || st.Count != 2 {
		t.Fatalf("past the TTL: Stats = %+v, want Dropped 3, Count 2", st)
	}
	if err := s.Ack(handed[0].Seq, handed[1].Seq); err != nil {
		t.Fatalf("Ack of expired records: %v", err)
	}
	s.Rewind()
	if got := nums(t, drain(t, s, 2)); got[0] != 3 || got[1] != 4 {
		t.Fatalf("after expiry: %v, want [3 4]", got)
	}
	assertDrained(t, s)

	// Put times survive a restart: the rest expires after reopening.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	s2 := openStore(t, opts)
	if err := s2.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.Dropped != 2 || st.Count != 0 {
		t.Fatalf("after reopening: Stats = %+v, want Dropped 2, Count 0", st)
	}
}

func TestTTLZeroKeepsEverything(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	s := openStore(t, Options{Dir: t.TempDir(), Clock: clock.Now})
	if err := s.Put(context.Background(), recs("a", 0, 2)); err != nil {
		t.Fatal(err)
	}
	clock.Add(1000 * 24 * time.Hour)
	if err := s.purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Count != 2 {
		t.Fatalf("Stats = %+v, want Dropped 0, Count 2", st)
	}
}

// TestTTLPeriodicCheck lets the writer's own ticker run the TTL check, in a synctest bubble whose fake time
// also drives the default clock.
func TestTTLPeriodicCheck(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{Dir: dir, TTL: 2 * time.Hour, TTLCheckPeriod: time.Hour})
		if err := s.Put(context.Background(), recs("a", 0, 3)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Hour + time.Minute) // the check at 2h finds nothing older than 2h
		synctest.Wait()
		if st := s.Stats(); st.Dropped != 0 || st.Count != 3 {
			t.Fatalf("after 2h: Stats = %+v, want nothing dropped", st)
		}
		time.Sleep(time.Hour) // the check at 3h drops them
		synctest.Wait()
		if st := s.Stats(); st.Dropped != 3 || st.Count != 0 {
			t.Fatalf("after 3h: Stats = %+v, want Dropped 3, Count 0", st)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
