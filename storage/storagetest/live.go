package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// The cases of the optional tbgateway.LiveReader capability, run only for stores that implement it.

// runLive runs the live-lane cases as subtests of t.
func runLive(t *testing.T, open opener, durable bool) {
	live := func(t *testing.T, dir string) (tbgateway.Storage, tbgateway.LiveReader) {
		t.Helper()
		s := open(t, dir)
		lr, ok := s.(tbgateway.LiveReader)
		if !ok {
			s.Close()
			t.Skipf("%T does not implement tbgateway.LiveReader", s)
		}
		return s, lr
	}
	t.Run("LaneStartsAtTheEnd", func(t *testing.T) {
		s, lr := live(t, t.TempDir())
		defer closeStore(t, s)
		testLiveLane(t, s, lr)
	})
	t.Run("NeverOvertakesSessionEvents", func(t *testing.T) {
		s, lr := live(t, t.TempDir())
		defer closeStore(t, s)
		testLiveSessions(t, s, lr)
	})
	t.Run("Rewind", func(t *testing.T) {
		s, lr := live(t, t.TempDir())
		defer closeStore(t, s)
		testLiveRewind(t, s, lr)
	})
	t.Run("LaneOwnsItsRecords", func(t *testing.T) {
		s, lr := live(t, t.TempDir())
		defer closeStore(t, s)
		testLiveCaughtUp(t, s, lr)
	})
	t.Run("Concurrent", func(t *testing.T) {
		s, lr := live(t, t.TempDir())
		defer closeStore(t, s)
		testLiveConcurrent(t, s, lr)
	})
	t.Run("Restart", func(t *testing.T) {
		if !durable {
			t.Skip("store is not durable")
		}
		testLiveRestart(t, live)
	})
}

func closeStore(t *testing.T, s tbgateway.Storage) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// startLane starts the live lane with a done context: no record may come back.
func startLane(t *testing.T, lr tbgateway.LiveReader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	es, err := lr.NextLive(ctx, 100)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("NextLive with nothing live: %d entries, error %v; want context.Canceled", len(es), err)
	}
}

// nextLive calls NextLive with a deadline that only bounds a failure.
func nextLive(t *testing.T, lr tbgateway.LiveReader, max int) []tbgateway.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	es, err := lr.NextLive(ctx, max)
	if err != nil {
		t.Fatalf("NextLive(%d): %v", max, err)
	}
	return es
}

func drainLive(t *testing.T, lr tbgateway.LiveReader, want int) []tbgateway.Entry {
	t.Helper()
	var out []tbgateway.Entry
	for len(out) < want {
		out = append(out, nextLive(t, lr, want-len(out))...)
	}
	return out
}

func assertLiveEmpty(t *testing.T, lr tbgateway.LiveReader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if es, err := lr.NextLive(ctx, 100); err == nil {
		t.Fatalf("NextLive returned %v, want nothing live", nums(t, es))
	}
}

func attrRec(dev string, n int) tbgateway.Record {
	return tbgateway.Record{Device: dev, Attributes: map[string]any{"n": int64(n)}}
}

// testLiveLane: records stored before the lane started are backlog (Next only); afterwards telemetry-only records
// go to NextLive, oldest first, and everything else stays with Next, in order.
func testLiveLane(t *testing.T, s tbgateway.Storage, lr tbgateway.LiveReader) {
	put(t, s, recs("a", 0, 3)...)
	startLane(t, lr)
	mixed := rec("b", 4)
	mixed.Attributes = map[string]any{"m": true}
	put(t, s, rec("b", 3), mixed, rec("c", 5))
	put(t, s, rec("c", 6))
	lv := drainLive(t, lr, 3)
	if lv[0].Record.Device != "b" || lv[1].Record.Device != "c" || lv[2].Record.Device != "c" {
		t.Fatalf("live lane handed out %v", lv)
	}
	assertIncreasing(t, lv)
	assertLiveEmpty(t, lr)
	back := drain(t, s, 4)
	if got := []int{num(t, back[0]), num(t, back[1]), num(t, back[2])}; got[0] != 0 || got[1] != 1 || got[2] != 2 ||
		back[3].Record.Device != "b" || len(back[3].Record.Attributes) != 1 {
		t.Fatalf("Next handed out %v, want the backlog 0 1 2, then the mixed record", back)
	}
	assertEmpty(t, s)
	count(t, s, 7)
	ack(t, s, append(lv, back...)...)
	count(t, s, 0)
	if r := s.Stats().Redelivered; r != 0 {
		t.Fatalf("Redelivered = %d without a Rewind", r)
	}
}

// testLiveSessions: telemetry Put while a connect or disconnect of its device is unacknowledged is not live.
func testLiveSessions(t *testing.T, s tbgateway.Storage, lr tbgateway.LiveReader) {
	startLane(t, lr)
	conn := tbgateway.Record{Kind: tbgateway.KindConnect, Device: "x", DeviceType: "default"}
	put(t, s, conn, rec("x", 1), rec("y", 2))
	assertNums(t, "live", drainLive(t, lr, 1), 2)
	assertLiveEmpty(t, lr)
	back := drain(t, s, 2)
	if back[0].Record.Kind != tbgateway.KindConnect || num(t, back[1]) != 1 {
		t.Fatalf("Next handed out %v, want the connect then record 1", back)
	}
	put(t, s, rec("x", 3)) // the connect is still unacknowledged
	assertLiveEmpty(t, lr)
	assertNums(t, "Next", drain(t, s, 1), 3)
	ack(t, s, back[0])
	put(t, s, rec("x", 4)) // the connect is acknowledged: live again
	assertNums(t, "live after the ack", drainLive(t, lr, 1), 4)
	disc := tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: "x"}
	put(t, s, rec("x", 5), disc, rec("x", 6))
	assertNums(t, "live before the disconnect", drainLive(t, lr, 1), 5)
	assertLiveEmpty(t, lr)
	back = drain(t, s, 2)
	if back[0].Record.Kind != tbgateway.KindDisconnect || num(t, back[1]) != 6 {
		t.Fatalf("Next handed out %v, want the disconnect then record 6", back)
	}
	assertEmpty(t, s)
}

// testLiveRewind: Rewind hands the lane's unacknowledged records to Next again, in order and counted, and the
// next lane starts at the end.
func testLiveRewind(t *testing.T, s tbgateway.Storage, lr tbgateway.LiveReader) {
	put(t, s, recs("a", 0, 2)...)
	startLane(t, lr)
	put(t, s, recs("b", 2, 6)...)
	lv := drainLive(t, lr, 4)
	back := drain(t, s, 2)
	ack(t, s, lv[0], lv[1], back[0])
	before := s.Stats().Redelivered
	s.Rewind()
	assertNums(t, "Next after Rewind", drain(t, s, 3), 1, 4, 5)
	if d := s.Stats().Redelivered - before; d != 3 {
		t.Fatalf("Redelivered grew by %d, want 3", d)
	}
	startLane(t, lr)
	put(t, s, rec("b", 6))
	assertNums(t, "new lane", drainLive(t, lr, 1), 6)
	assertEmpty(t, s)
}

// testLiveCaughtUp: once the lane runs, its records are never handed out by Next, even when Next has
// nothing else to hand out.
func testLiveCaughtUp(t *testing.T, s tbgateway.Storage, lr tbgateway.LiveReader) {
	startLane(t, lr)
	put(t, s, recs("a", 0, 4)...)
	put(t, s, attrRec("a", 4))
	es := next(t, s, 10)
	if len(es) != 1 || len(es[0].Record.Attributes) != 1 {
		t.Fatalf("Next handed out %v, want only the attribute record", es)
	}
	assertEmpty(t, s)
	assertNums(t, "live", drainLive(t, lr, 4), 0, 1, 2, 3)
	assertLiveEmpty(t, lr)
}

// testLiveConcurrent: writers Put while Next and NextLive read and acknowledge: every record is handed out
// exactly once, and the records that are not live keep their order per device.
func testLiveConcurrent(t *testing.T, s tbgateway.Storage, lr tbgateway.LiveReader) {
	const writers, perWriter = 4, 300
	startLane(t, lr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	attrOrder := map[string]int{}
	var wg, readers sync.WaitGroup
	total := 0
	done := make(chan struct{})
	reader := func(read func(context.Context, int) ([]tbgateway.Entry, error)) {
		defer readers.Done()
		for {
			es, err := read(ctx, 16)
			if err != nil {
				return
			}
			mu.Lock()
			for _, e := range es {
				key := fmt.Sprintf("%s/%d/%v", e.Record.Device, e.Seq, e.Record.TelemetryOnly())
				seen[key]++
				if !e.Record.TelemetryOnly() {
					n := int(e.Record.Attributes["n"].(int64))
					if prev, ok := attrOrder[e.Record.Device]; ok && n <= prev {
						t.Errorf("device %s: attribute record %d after %d", e.Record.Device, n, prev)
					}
					attrOrder[e.Record.Device] = n
				}
			}
			total += len(es)
			if total == writers*perWriter {
				close(done)
			}
			mu.Unlock()
			if err := s.Ack(seqs(es)...); err != nil {
				t.Errorf("Ack: %v", err)
			}
		}
	}
	readers.Add(2)
	go reader(s.Next)
	go reader(lr.NextLive)
	for w := range writers {
		wg.Go(func() {
			dev := fmt.Sprintf("w%d", w)
			for n := range perWriter {
				r := rec(dev, n)
				if n%10 == 0 {
					r = attrRec(dev, n)
				}
				if err := s.Put(context.Background(), []tbgateway.Record{r}); err != nil {
					t.Errorf("writer %s: %v", dev, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a failure bound only
		t.Errorf("only %d of %d records handed out", total, writers*perWriter)
	}
	cancel()
	readers.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s handed out %d times", k, n)
		}
	}
	count(t, s, 0)
}

// testLiveRestart: the lane's unacknowledged records come back from Next after a reopen.
func testLiveRestart(t *testing.T, live func(*testing.T, string) (tbgateway.Storage, tbgateway.LiveReader)) {
	dir := t.TempDir()
	s, lr := live(t, dir)
	put(t, s, rec("a", 0))
	startLane(t, lr)
	put(t, s, recs("a", 1, 4)...)
	lv := drainLive(t, lr, 3)
	ack(t, s, lv[0])
	closeStore(t, s)
	s, _ = live(t, dir)
	defer closeStore(t, s)
	assertNums(t, "after reopen", drain(t, s, 3), 0, 2, 3)
	assertEmpty(t, s)
}
