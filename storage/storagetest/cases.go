package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

type opener = func(t *testing.T, dir string) tbgateway.Storage

func testOrder(t *testing.T, open opener) {
	s := openClosed(t, open)
	put(t, s, recs("a", 0, 3)...)
	put(t, s, rec("b", 3))
	put(t, s, recs("a", 4, 7)...)
	count(t, s, 7)
	first := next(t, s, 2)
	assertNums(t, "Next(2)", first, 0, 1)
	rest := drain(t, s, 5)
	assertNums(t, "rest", rest, 2, 3, 4, 5, 6)
	assertIncreasing(t, append(first, rest...))
	assertEmpty(t, s)
	count(t, s, 7)

	one := next2(t, s, 0)
	if one != nil {
		t.Fatalf("Next(0) on a drained store returned %v", nums(t, one))
	}
	put(t, s, rec("a", 7))
	if es := next(t, s, 0); len(es) != 1 || num(t, es[0]) != 7 {
		t.Fatalf("Next(0) must hand out one record, got %v", nums(t, es))
	}
}

// next2 is Next with an already cancelled context: the entries it returns, or nil when the store has none.
func next2(t *testing.T, s tbgateway.Storage, max int) []tbgateway.Entry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	es, err := s.Next(ctx, max)
	if err != nil {
		return nil
	}
	return es
}

func testFidelity(t *testing.T, open opener) {
	s := openClosed(t, open)
	in := tbgateway.Record{
		Kind:       tbgateway.KindData,
		Device:     "Fidelity Device ü",
		DeviceType: "thermostat",
		Connector:  "conn",
		Attributes: map[string]any{"model": "T-1000", "big": int64(1) << 60, "on": true, "obj": tbgateway.RawJSON(`{"a":[1,2]}`)},
		Telemetry: []tbgateway.Telemetry{
			{TS: 1700000000000, Values: map[string]any{"t": 21.5, "n": int64(-3), "s": "x\ny", "b": false}},
			{TS: 1700000000001, Values: map[string]any{"t": 0.1}},
		},
		ReceivedTS: 1700000000002,
	}
	conn := tbgateway.Record{Kind: tbgateway.KindConnect, Device: "D2", DeviceType: "default"}
	disc := tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: "D2"}
	put(t, s, in, conn, disc)
	out := drain(t, s, 3)
	for i, want := range []tbgateway.Record{in, conn, disc} {
		if !reflect.DeepEqual(out[i].Record, want) {
			t.Fatalf("record %d came out as\n%#v\nwant\n%#v", i, out[i].Record, want)
		}
	}
}

func testAck(t *testing.T, open opener) {
	s := openClosed(t, open)
	put(t, s, recs("a", 0, 4)...)
	es := drain(t, s, 4)
	ack(t, s, es[0], es[1])
	count(t, s, 2)
	ack(t, s, es[0]) // a second ack of the same record is a no-op
	if err := s.Ack(es[3].Seq + 1000); err != nil {
		t.Fatalf("Ack of an unknown sequence number: %v, want nil", err)
	}
	count(t, s, 2)
	s.Rewind()
	assertNums(t, "after Rewind", drain(t, s, 2), 2, 3)
	ack(t, s, es[2], es[3])
	count(t, s, 0)
	s.Rewind()
	assertEmpty(t, s)
}

func testPartialAck(t *testing.T, open opener) {
	s := openClosed(t, open)
	put(t, s, recs("a", 0, 6)...)
	es := drain(t, s, 5)
	ack(t, s, es[4], es[1], es[3])
	count(t, s, 3)
	before := s.Stats().Redelivered
	s.Rewind()
	again := drain(t, s, 3)
	assertNums(t, "after out-of-order acks and Rewind", again, 0, 2, 5)
	if d := s.Stats().Redelivered - before; d != 2 {
		t.Fatalf("Redelivered grew by %d, want 2", d)
	}
	if again[0].Seq != es[0].Seq || again[1].Seq != es[2].Seq {
		t.Fatalf("redelivered records changed sequence numbers: %v, were %v and %v", seqs(again), es[0].Seq, es[2].Seq)
	}
	ack(t, s, again...)
	count(t, s, 0)
}

func testRewind(t *testing.T, open opener) {
	s := openClosed(t, open)
	put(t, s, recs("a", 0, 3)...)
	first := drain(t, s, 3)
	put(t, s, recs("a", 3, 6)...)
	ack(t, s, first[1])
	before := s.Stats().Redelivered
	s.Rewind()
	s.Rewind() // twice in a row changes nothing
	assertNums(t, "first Next after Rewind", next(t, s, 1), 0)
	assertNums(t, "rest after Rewind", drain(t, s, 4), 2, 3, 4, 5)
	assertEmpty(t, s)
	if d := s.Stats().Redelivered - before; d != 2 {
		t.Fatalf("Redelivered grew by %d, want 2 (records 0 and 2)", d)
	}
	// Nothing handed out since: a Rewind right after a full read hands out the same five again, counted again.
	s.Rewind()
	assertNums(t, "second Rewind", drain(t, s, 5), 0, 2, 3, 4, 5)
	if d := s.Stats().Redelivered - before; d != 7 {
		t.Fatalf("Redelivered grew by %d, want 7", d)
	}
}

func testNextBlocks(t *testing.T, open opener) {
	s := openClosed(t, open)
	got := make(chan []tbgateway.Entry, 1)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		es, err := s.Next(ctx, 10)
		if err != nil {
			errc <- err
			return
		}
		got <- es
	}()
	// The reader may or may not be blocked yet; either way it must see the record.
	put(t, s, rec("a", 0))
	select {
	case es := <-got:
		assertNums(t, "blocked Next", es, 0)
	case err := <-errc:
		t.Fatalf("blocked Next: %v", err)
	}
}

func testNextContext(t *testing.T, open opener) {
	s := openClosed(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(ctx, 10)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past deadline: %v, want context.DeadlineExceeded", err)
	}
}

func testConcurrent(t *testing.T, open opener) {
	const writers, perWriter, batch = 4, 500, 5
	s := openClosed(t, open)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			dev := fmt.Sprintf("w%d", w)
			for n := 0; n < perWriter; n += batch {
				if err := s.Put(context.Background(), recs(dev, n, n+batch)); err != nil {
					errs <- fmt.Errorf("writer %s: %w", dev, err)
					return
				}
			}
		})
	}
	last := map[string]int{}
	total := 0
	for total < writers*perWriter {
		es := next(t, s, 64)
		for _, e := range es {
			n := num(t, e)
			prev, seen := last[e.Record.Device]
			if seen && n != prev+1 || !seen && n != 0 {
				t.Fatalf("device %s: record %d after %d (seen=%v): lost, duplicated or reordered", e.Record.Device, n, prev, seen)
			}
			last[e.Record.Device] = n
		}
		total += len(es)
		// Ack in reverse to exercise out-of-order acks under concurrency.
		for i := len(es) - 1; i >= 0; i-- {
			ack(t, s, es[i])
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	assertEmpty(t, s)
	count(t, s, 0)
}

func testClosed(t *testing.T, open opener) {
	s := open(t, t.TempDir())
	put(t, s, rec("a", 0))
	es := drain(t, s, 1)
	blocked := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background(), 10)
		blocked <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, tbgateway.ErrStorageClosed) {
			t.Fatalf("Next blocked during Close: %v, want ErrStorageClosed", err)
		}
	case <-time.After(10 * time.Second): // a failure bound only
		t.Fatal("Next blocked during Close did not return")
	}
	if err := s.Put(context.Background(), recs("a", 1, 2)); !errors.Is(err, tbgateway.ErrStorageClosed) {
		t.Fatalf("Put after Close: %v, want ErrStorageClosed", err)
	}
	if _, err := s.Next(context.Background(), 1); !errors.Is(err, tbgateway.ErrStorageClosed) {
		t.Fatalf("Next after Close: %v, want ErrStorageClosed", err)
	}
	if err := s.Ack(es[0].Seq); !errors.Is(err, tbgateway.ErrStorageClosed) {
		t.Fatalf("Ack after Close: %v, want ErrStorageClosed", err)
	}
	s.Rewind()
	_ = s.Stats()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
}

func openFull(t *testing.T, of func(*testing.T, string, int, tbgateway.FullPolicy) tbgateway.Storage, limit int, p tbgateway.FullPolicy) tbgateway.Storage {
	s := of(t, t.TempDir(), limit, p)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func testRefuseNew(t *testing.T, of func(*testing.T, string, int, tbgateway.FullPolicy) tbgateway.Storage) {
	s := openFull(t, of, 3, tbgateway.RefuseNew)
	put(t, s, recs("a", 0, 2)...)
	if err := s.Put(context.Background(), recs("a", 2, 4)); !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("Put of 2 into 1 free slot: %v, want ErrStorageFull", err)
	}
	put(t, s, rec("a", 2))
	if err := s.Put(context.Background(), recs("a", 3, 4)); !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("Put into a full store: %v, want ErrStorageFull", err)
	}
	st := s.Stats()
	if st.Refused != 3 || st.Dropped != 0 || st.Count != 3 {
		t.Fatalf("Stats = %+v, want Refused 3, Dropped 0, Count 3", st)
	}
	es := drain(t, s, 3)
	assertNums(t, "stored", es, 0, 1, 2)
	// Handing out frees nothing; acknowledging does.
	if err := s.Put(context.Background(), recs("a", 3, 4)); !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("Put into a full store with all handed out: %v, want ErrStorageFull", err)
	}
	ack(t, s, es[1])
	put(t, s, rec("a", 10))
	s.Rewind()
	assertNums(t, "after ack and put", drain(t, s, 3), 0, 2, 10)
}

func testDropOldest(t *testing.T, of func(*testing.T, string, int, tbgateway.FullPolicy) tbgateway.Storage) {
	s := openFull(t, of, 3, tbgateway.DropOldest)
	put(t, s, recs("a", 0, 5)...)
	st := s.Stats()
	if st.Dropped != 2 || st.Refused != 0 || st.Count != 3 {
		t.Fatalf("Stats = %+v, want Dropped 2, Refused 0, Count 3", st)
	}
	es := drain(t, s, 2)
	assertNums(t, "after drop", es, 2, 3)
	// Handed-out records are dropped too when they are the oldest; their later ack is a no-op.
	put(t, s, recs("a", 5, 7)...)
	if d := s.Stats().Dropped; d != 4 {
		t.Fatalf("Dropped = %d, want 4", d)
	}
	ack(t, s, es...)
	count(t, s, 3)
	assertNums(t, "rest", drain(t, s, 3), 4, 5, 6)
	s.Rewind()
	assertNums(t, "after Rewind", drain(t, s, 3), 4, 5, 6)
}

func testRestart(t *testing.T, open opener) {
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, recs("a", 0, 6)...)
	es := drain(t, s, 4)
	ack(t, s, es[0], es[2])
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, dir)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	count(t, s, 4)
	again := drain(t, s, 4)
	assertNums(t, "after reopen", again, 1, 3, 4, 5)
	assertIncreasing(t, again)
	put(t, s, rec("a", 6))
	newer := drain(t, s, 1)
	if newer[0].Seq <= again[3].Seq || newer[0].Seq <= es[3].Seq {
		t.Fatalf("sequence number %d after reopen is not above earlier ones (%v, %v)", newer[0].Seq, seqs(es), seqs(again))
	}
	ack(t, s, again[0], again[1])
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, dir)
	assertNums(t, "after second reopen", drain(t, s, 3), 4, 5, 6)
}
