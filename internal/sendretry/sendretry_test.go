package sendretry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/sendretry"
)

// scripted is a Sink that fails its Sends with errs in turn, then stores; it records when each Send came and
// what it carried.
type scripted struct {
	*connectortest.Sink
	errs  []error
	at    []time.Duration
	recs  [][]tbgateway.Record
	start time.Time
}

func (s *scripted) Send(ctx context.Context, recs ...tbgateway.Record) error {
	s.at = append(s.at, time.Since(s.start))
	s.recs = append(s.recs, recs)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

var policy = backoff.Policy{Initial: 100 * time.Millisecond, Max: 250 * time.Millisecond, Multiplier: 2, Jitter: -1}

func TestSend(t *testing.T) {
	full, invalid, disk := connectortest.StorageFull(), connectortest.InvalidRecord(), errors.New("disk: write failed")
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		fullOnly bool
		errs     []error
		wantErr  error
		wantAt   []time.Duration // when each Send came
		wantRefs []int           // Refused's n, in order
	}{
		{"stored at once", false, nil, nil, []time.Duration{0}, nil},
		{"storage full, then stored: the same records again after each delay", false, []error{full, full, full}, nil,
			[]time.Duration{0, 100 * ms, 300 * ms, 550 * ms}, []int{1, 2, 3}},
		{"another storage error is retried the same way", false, []error{disk}, nil, []time.Duration{0, 100 * ms}, []int{1}},
		{"FullOnly: storage full is retried", true, []error{full}, nil, []time.Duration{0, 100 * ms}, []int{1}},
		{"FullOnly: another storage error is returned", true, []error{full, disk}, disk, []time.Duration{0, 100 * ms}, []int{1}},
		{"invalid record: returned, not sent again", false, []error{invalid}, tbgateway.ErrInvalidRecord, []time.Duration{0}, nil},
		{"invalid after full: returned", false, []error{full, invalid}, tbgateway.ErrInvalidRecord, []time.Duration{0, 100 * ms}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sink := &scripted{Sink: connectortest.NewSink(), errs: tc.errs, start: time.Now()}
				var refs []int
				s := sendretry.Sender{Policy: policy, FullOnly: tc.fullOnly, Refused: func(err error, n int) {
					if errors.Is(err, tbgateway.ErrInvalidRecord) {
						t.Errorf("Refused called for %v", err)
					}
					refs = append(refs, n)
				}}
				rec := tbgateway.Record{Device: "d", Attributes: map[string]any{"k": 1}}
				err := s.Send(t.Context(), sink, rec)
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
					t.Errorf("Send = %v, want %v", err, tc.wantErr)
				}
				if !slices.Equal(sink.at, tc.wantAt) {
					t.Errorf("Sends at %v, want %v", sink.at, tc.wantAt)
				}
				if !slices.Equal(refs, tc.wantRefs) {
					t.Errorf("Refused n %v, want %v", refs, tc.wantRefs)
				}
				for i, recs := range sink.recs {
					if len(recs) != 1 || recs[0].Device != "d" || recs[0].Attributes["k"] != 1 {
						t.Errorf("Send %d carried %+v, want the same record every time", i, recs)
					}
				}
			})
		})
	}
}

// TestSendStopsOnCancel: while storage refuses, Send returns ctx.Err() once ctx ends, and sends no more.
func TestSendStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := connectortest.NewSink()
		sink.FailAll(connectortest.StorageFull())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- sendretry.Sender{Policy: policy}.Send(ctx, sink, tbgateway.Record{Device: "d", Attributes: map[string]any{"k": 1}})
		}()
		time.Sleep(time.Second) // fake clock: the Sender retries every 250 ms meanwhile
		synctest.Wait()
		n := len(sink.Attempts())
		if n < 2 {
			t.Fatalf("%d attempts while storage was full, want retries", n)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Send = %v, want context.Canceled", err)
		}
		if got := len(sink.Attempts()); got != n {
			t.Errorf("%d attempts after cancel, want %d", got, n)
		}
	})
}

// TestSendNothing: no records, no call.
func TestSendNothing(t *testing.T) {
	sink := connectortest.NewSink()
	if err := (sendretry.Sender{}).Send(t.Context(), sink); err != nil || len(sink.Attempts()) != 0 {
		t.Errorf("Send() = %v with %d attempts, want nil and none", err, len(sink.Attempts()))
	}
}
