package connectortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Attempt is one Send call as the Sink saw it.
type Attempt struct {
	// Records are copies of the records passed (telemetry stamped as the runtime would, see Sink).
	Records []tbgateway.Record
	// Err is what Send returned: nil when the records were stored.
	Err error
}

// Sink is a recording tbgateway.Sink for connector tests. It stores what Send is given, in order, and fails or
// blocks on cue. It is safe for concurrent use; the zero value is not: use NewSink.
//
// Like the runtime's sink, Send stamps telemetry whose TS is 0 (strictly increasing per Sink) and validates every
// record; an invalid record fails the whole call with an error wrapping tbgateway.ErrInvalidRecord and nothing of
// the call is stored. Waiters (WaitRecords, WaitAttempts, WaitBlocked, Await) wake on every change: no sleeps.
type Sink struct {
	log *slog.Logger

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	attempts []Attempt
	stored   []tbgateway.Record
	failures []error       // the next Sends return these, in turn
	failAll  error         // every Send returns this while set
	gate     chan struct{} // while non-nil, Sends wait for it to close
	blocked  int           // Sends waiting at the gate
	stamp    int64
	attrs    map[string]map[string]any
}

// NewSink returns an empty Sink whose Logger discards, or writes to stderr at debug level when the environment
// variable CONNECTORTEST_LOG is set.
func NewSink() *Sink {
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CONNECTORTEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return &Sink{log: log, changed: make(chan struct{}), stamp: 1_700_000_000_000, attrs: map[string]map[string]any{}}
}

// notify wakes every waiter; the caller holds mu.
func (s *Sink) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Send implements tbgateway.Sink: it waits while the Sink is blocked (returning ctx.Err() if ctx ends first),
// then fails as cued (FailNext, FailAll) or validates and stores the records.
func (s *Sink) Send(ctx context.Context, recs ...tbgateway.Record) error {
	s.mu.Lock()
	for s.gate != nil {
		gate := s.gate
		s.blocked++
		s.notify()
		s.mu.Unlock()
		var err error
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.blocked--
		if err != nil {
			s.attempts = append(s.attempts, Attempt{Records: copyRecords(recs), Err: err})
			s.notify()
			s.mu.Unlock()
			return err
		}
	}
	defer s.mu.Unlock()
	defer s.notify()
	copies := copyRecords(recs)
	err := s.failAll
	if err == nil && len(s.failures) > 0 {
		err = s.failures[0]
		s.failures = s.failures[1:]
	}
	if err == nil {
		for i := range copies {
			s.stampRecord(&copies[i])
			if verr := copies[i].Validate(); verr != nil {
				err = verr
				break
			}
		}
	}
	s.attempts = append(s.attempts, Attempt{Records: copies, Err: err})
	if err != nil {
		return err
	}
	s.stored = append(s.stored, copies...)
	return nil
}

func (s *Sink) stampRecord(r *tbgateway.Record) {
	for i := range r.Telemetry {
		if r.Telemetry[i].TS == 0 {
			s.stamp++
			r.Telemetry[i].TS = s.stamp
		}
	}
}

// copyRecords copies records with their maps, so a connector reusing its maps cannot change what was recorded.
func copyRecords(recs []tbgateway.Record) []tbgateway.Record {
	out := make([]tbgateway.Record, len(recs))
	for i, r := range recs {
		r.Attributes = maps.Clone(r.Attributes)
		tel := make([]tbgateway.Telemetry, len(r.Telemetry))
		for j, t := range r.Telemetry {
			tel[j] = tbgateway.Telemetry{TS: t.TS, Values: maps.Clone(t.Values)}
		}
		if r.Telemetry != nil {
			r.Telemetry = tel
		}
		out[i] = r
	}
	return out
}

// RequestAttributes implements tbgateway.Sink with the attributes given to SetAttributes; a device without any
// fails with tbgateway.ErrNotConnected, as a gateway offline would.
func (s *Sink) RequestAttributes(_ context.Context, device string, _ bool, keys []string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, ok := s.attrs[device]
	if !ok {
		return nil, tbgateway.ErrNotConnected
	}
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// SetAttributes sets what RequestAttributes answers for device.
func (s *Sink) SetAttributes(device string, values map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attrs[device] = maps.Clone(values)
}

// Logger implements tbgateway.Sink.
func (s *Sink) Logger() *slog.Logger { return s.log }

// FailNext makes the next len(errs) Sends return errs in turn (storing nothing), e.g.
// FailNext(tbgateway.ErrStorageFull). Wrap an error with StorageFull or InvalidRecord for a realistic text.
func (s *Sink) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, errs...)
}

// FailAll makes every Send return err until FailAll(nil).
func (s *Sink) FailAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = err
	s.notify()
}

// StorageFull is the error the runtime's sink returns when storage refuses new records.
func StorageFull() error { return fmt.Errorf("storage: %w", tbgateway.ErrStorageFull) }

// InvalidRecord is an error like the one the runtime's sink returns for a record it refuses.
func InvalidRecord() error { return fmt.Errorf("%w: refused on cue", tbgateway.ErrInvalidRecord) }

// Block makes Sends wait until the returned release is called (each Send also ends when its ctx does, with
// ctx.Err()). release is idempotent. Use WaitBlocked to know a Send is parked.
func (s *Sink) Block() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate := make(chan struct{})
	s.gate = gate
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.gate == gate {
				s.gate = nil
			}
			close(gate)
			s.notify()
		})
	}
}

// Records returns copies of the stored records, in the order stored.
func (s *Sink) Records() []tbgateway.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyRecords(s.stored)
}

// Attempts returns every Send call so far, failed ones included, in order.
func (s *Sink) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Attempt, len(s.attempts))
	for i, a := range s.attempts {
		out[i] = Attempt{Records: copyRecords(a.Records), Err: a.Err}
	}
	return out
}

// Blocked returns how many Sends are waiting at the Block gate.
func (s *Sink) Blocked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked
}

// ErrWait is wrapped by the wait functions' error when ctx ends before the condition holds.
var ErrWait = errors.New("connectortest: condition not reached")

// Await waits until cond holds for the Sink's state (checked at once and after every change) or ctx ends.
// cond runs with the Sink locked: it must not call the Sink.
func (s *Sink) Await(ctx context.Context, cond func(stored []tbgateway.Record, attempts []Attempt, blocked int) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.stored, s.attempts, s.blocked)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrWait, ctx.Err())
		}
	}
}

// WaitRecords waits until at least n records are stored and returns copies of all stored records.
func (s *Sink) WaitRecords(ctx context.Context, n int) ([]tbgateway.Record, error) {
	err := s.Await(ctx, func(stored []tbgateway.Record, _ []Attempt, _ int) bool { return len(stored) >= n })
	if err != nil {
		return s.Records(), fmt.Errorf("waiting for %d records (have %d): %w", n, len(s.Records()), err)
	}
	return s.Records(), nil
}

// WaitAttempts waits until at least n Send calls have returned (stored or failed).
func (s *Sink) WaitAttempts(ctx context.Context, n int) error {
	return s.Await(ctx, func(_ []tbgateway.Record, a []Attempt, _ int) bool { return len(a) >= n })
}

// WaitBlocked waits until at least n Sends are parked at the Block gate.
func (s *Sink) WaitBlocked(ctx context.Context, n int) error {
	return s.Await(ctx, func(_ []tbgateway.Record, _ []Attempt, b int) bool { return b >= n })
}
