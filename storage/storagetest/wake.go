package storagetest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	tbgateway "github.com/tbgateway/tbgateway"
)

// nextResult is what a Next call returned.
type nextResult struct {
	es  []tbgateway.Entry
	err error
}

// parkNext starts Next(ctx, 10) in a goroutine and returns once that goroutine is durably blocked inside the store
// (synctest.Wait), so what the test does next happens to a parked reader, not to one still on its way in. It must
// run inside a synctest bubble, with the store opened in that bubble.
func parkNext(t *testing.T, ctx context.Context, s tbgateway.Storage) <-chan nextResult {
	t.Helper()
	out := make(chan nextResult, 1)
	go func() {
		es, err := s.Next(ctx, 10)
		out <- nextResult{es, err}
	}()
	synctest.Wait()
	select {
	case r := <-out:
		t.Fatalf("Next on an empty store returned %d entries, %v; want it to block", len(r.es), r.err)
	default:
	}
	return out
}

// returned reports what a parked Next returned once every goroutine of the bubble has settled again, failing
// the test when it is still blocked.
func returned(t *testing.T, what string, res <-chan nextResult) nextResult {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-res:
		return r
	default:
		t.Fatalf("a Next parked before %s is still blocked after it", what)
		return nextResult{}
	}
}

// testPutWakesParkedNext parks a reader on the empty store, then Puts: the reader must return the record.
func testPutWakesParkedNext(t *testing.T, open opener) {
	synctest.Test(t, func(t *testing.T) {
		s := openClosed(t, open)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res := parkNext(t, ctx, s)
		put(t, s, rec("a", 0))
		r := returned(t, "a Put", res)
		if r.err != nil {
			t.Fatalf("parked Next after a Put: %v", r.err)
		}
		assertNums(t, "parked Next", r.es, 0)
	})
}

// testCloseWakesParkedNext parks a reader on a store whose records were all handed out, then closes the store:
// the reader must return ErrStorageClosed.
func testCloseWakesParkedNext(t *testing.T, open opener) {
	synctest.Test(t, func(t *testing.T) {
		s := openClosed(t, open)
		put(t, s, rec("a", 0))
		drain(t, s, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res := parkNext(t, ctx, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if r := returned(t, "Close", res); !errors.Is(r.err, tbgateway.ErrStorageClosed) {
			t.Fatalf("parked Next after Close: %d entries, %v; want ErrStorageClosed", len(r.es), r.err)
		}
	})
}
