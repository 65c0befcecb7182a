// Package switchable is a tbgateway.Storage that delegates to a current store and can switch to another one
// while connectors write and the uplink reads, without losing, reordering or repeating a record: what lets the
// gateway apply a storage_configuration pushed from ThingsBoard (another type, another folder) while it runs.
//
// # Switching
//
// Switch (see there) runs these steps, each one bounded by its context:
//
//  1. Gate: new Puts, Nexts and NextLives wait (connectors block in Send); the Next calls in progress on the
//     current store are interrupted and the Puts in progress finish.
//  2. Settle: the records the uplink holds (handed out by Next and not acknowledged) are awaited until they are
//     acknowledged, or until a Rewind (the link dropped) gives them back to the store.
//  3. Open the new store. A failure ends the switch here: the current store goes on as before.
//  4. Move: every unacknowledged record of the current store is read in order and Put into the new one in
//     batches (durable before Put returns). A new store that refuses or drops records ends the switch: the copies
//     it took are removed again, and the current store goes on with all its records.
//  5. Commit (optional, for instance saving the configuration that names the new store); an error ends the
//     switch as in step 4.
//  6. Swap: the new store becomes the current one, and the gate opens.
//  7. Retire the old store: the moved records are acknowledged in it, and it is closed.
//
// A change of settings at the same location (Target.InPlace) closes the current store after step 2 and opens
// the new one on the same files, with nothing to move; if that fails, the current settings are opened again.
//
// # Crash safety
//
// Nothing is lost at any step; a crash leaves at most a second copy of the backlog, which is delivered again only
// if the gateway later runs on that copy's location:
//   - during steps 1 to 3: nothing changed;
//   - during step 4 or 5: the old store still holds every record and stays the configured one (the configuration
//     is saved at step 5 at the earliest); the new location holds a partial or full copy;
//   - after step 5 and before step 7 ends: the new store holds everything and is the configured one; the old
//     location keeps the records not yet acknowledged there (logged as kept when its Ack fails).
//
// # Sequence numbers
//
// Entries carry the store's generation (the number of switches done) in the top 16 bits of Seq and the current
// store's own sequence number in the low 48, so that numbers keep increasing across a switch and an Ack of a
// retired store's record is recognised (and ignored) instead of acknowledging another record of the new store.
package switchable

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	tbgateway "github.com/tbgateway/tbgateway"
)

const (
	genShift = 48
	seqMask  = 1<<genShift - 1
	// maxGen is the most switches a Store makes in its life (the generation must fit in 16 bits).
	maxGen = 1<<(64-genShift) - 1
)

// Store is a switchable tbgateway.Storage. It is a tbgateway.LiveReader: NextLive reads the current store's
// live lane when it has one, and hands out nothing otherwise. All methods are safe for concurrent use.
type Store struct {
	log *slog.Logger

	switchMu sync.Mutex // serialises Switch and Close

	mu     sync.Mutex
	cur    tbgateway.Storage
	gen    uint64
	closed bool
	// gate is non-nil while a switch runs: Put, Next and NextLive wait until it is closed.
	gate chan struct{}
	// stop is cancelled when a switch begins or the store closes: it interrupts the reads in progress.
	stop       context.Context
	stopCancel context.CancelFunc
	// Calls in progress on cur, and the records of cur handed out and neither acknowledged nor rewound.
	puts, reads, acks int
	handed            map[uint64]struct{}
	changed           chan struct{} // closed and replaced whenever the counters above or handed shrink
	// moving is set while the switch reads the current store: Rewind and Ack leave it alone.
	moving bool
	// base holds the counters of the retired stores, so that Stats never goes back.
	base tbgateway.StorageStats
	// staleAcks counts acknowledgements of records of a retired store, ignored.
	staleAcks uint64
}

var (
	_ tbgateway.Storage    = (*Store)(nil)
	_ tbgateway.LiveReader = (*Store)(nil)
)

// New returns a Store delegating to cur, which it owns from now on (Close closes it). log may be nil.
func New(cur tbgateway.Storage, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, cur: cur, handed: map[uint64]struct{}{}, changed: make(chan struct{})}
	s.stop, s.stopCancel = context.WithCancel(context.Background())
	return s
}

// Current returns the store that runs now (for its own statistics); callers must not Put, read or close it.
func (s *Store) Current() tbgateway.Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// StaleAcks returns how many acknowledgements named a record of a retired store and were ignored (the record
// had been moved, so it is delivered again from the new store: only an uplink that acknowledges after a Rewind
// makes such acknowledgements).
func (s *Store) StaleAcks() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.staleAcks
}

// signalLocked wakes a switch waiting for the calls in progress to end.
func (s *Store) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// enter waits for a switch in progress to end, then counts a call on the current store in counter and returns
// that store, its generation and the context that is cancelled when the next switch begins.
func (s *Store) enter(ctx context.Context, counter *int, op string) (tbgateway.Storage, uint64, context.Context, error) {
	s.mu.Lock()
	for s.gate != nil && !s.closed {
		gate := s.gate
		s.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 0, nil, fmt.Errorf("switchable storage: %s while the storage is being switched: %w", op, ctx.Err())
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, nil, fmt.Errorf("switchable storage: %s: %w", op, tbgateway.ErrStorageClosed)
	}
	*counter++
	return s.cur, s.gen, s.stop, nil
}

// leave ends a call counted by enter.
func (s *Store) leave(counter *int) {
	s.mu.Lock()
	*counter--
	s.signalLocked()
	s.mu.Unlock()
}

// Put stores recs in the current store. During a switch it waits (bounded by ctx) and then stores them in the
// store that runs after it.
func (s *Store) Put(ctx context.Context, recs []tbgateway.Record) error {
	cur, _, _, err := s.enter(ctx, &s.puts, "put")
	if err != nil {
		return err
	}
	defer s.leave(&s.puts)
	return cur.Put(ctx, recs)
}

// Next hands out up to max records of the current store, oldest first. A switch interrupts it; it then waits for
// the switch to end and reads the store that runs after it.
func (s *Store) Next(ctx context.Context, max int) ([]tbgateway.Entry, error) {
	return s.read(ctx, max, false)
}

// NextLive is tbgateway.LiveReader's NextLive on the current store. When the current store has no live lane it
// hands out nothing: it blocks until ctx is done, or until a switch installs a store that has one.
func (s *Store) NextLive(ctx context.Context, max int) ([]tbgateway.Entry, error) {
	return s.read(ctx, max, true)
}

func (s *Store) read(ctx context.Context, max int, live bool) ([]tbgateway.Entry, error) {
	op := "next"
	if live {
		op = "next live"
	}
	for {
		cur, gen, stop, err := s.enter(ctx, &s.reads, op)
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithCancel(ctx)
		unhook := context.AfterFunc(stop, cancel)
		var es []tbgateway.Entry
		if !live {
			es, err = cur.Next(rctx, max)
		} else if lr, ok := cur.(tbgateway.LiveReader); ok {
			es, err = lr.NextLive(rctx, max)
		} else {
			<-rctx.Done()
			err = rctx.Err()
		}
		unhook()
		cancel()
		s.mu.Lock()
		s.reads--
		for i := range es {
			inner := es[i].Seq
			if inner > seqMask {
				// Never in practice (2^48 records); refusing beats handing out a number Ack could not route.
				err = fmt.Errorf("switchable storage: %s: sequence number %d of the current store exceeds 2^48", op, inner)
				es = nil
				break
			}
			s.handed[inner] = struct{}{}
			es[i].Seq = gen<<genShift | inner
		}
		s.signalLocked()
		s.mu.Unlock()
		if len(es) > 0 || err == nil {
			return es, err
		}
		if ctx.Err() == nil && stop.Err() != nil {
			continue // interrupted by a switch (or Close): read what runs after it
		}
		return nil, err
	}
}

// Ack acknowledges records of the current store. Records of a retired store are ignored (counted in
// StaleAcks): the switch moved them, and the new store delivers them.
func (s *Store) Ack(seqs ...uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("switchable storage: ack: %w", tbgateway.ErrStorageClosed)
	}
	cur, gen := s.cur, s.gen
	inner := make([]uint64, 0, len(seqs))
	for _, seq := range seqs {
		if seq>>genShift != gen || s.moving {
			s.staleAcks++
			continue
		}
		inner = append(inner, seq&seqMask)
	}
	if len(inner) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.acks++
	s.mu.Unlock()
	err := cur.Ack(inner...)
	s.mu.Lock()
	s.acks--
	if err == nil {
		for _, seq := range inner {
			delete(s.handed, seq)
		}
	}
	s.signalLocked()
	s.mu.Unlock()
	return err
}

// Rewind makes the current store's handed-out, unacknowledged records available to Next again.
func (s *Store) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.moving {
		return // while moving, the uplink holds nothing of the store
	}
	s.cur.Rewind()
	clear(s.handed)
	s.signalLocked()
}

// Stats returns the current store's counters; Dropped, Refused and Redelivered include those of the stores
// switched away from.
func (s *Store) Stats() tbgateway.StorageStats {
	s.mu.Lock()
	cur, base := s.cur, s.base
	s.mu.Unlock()
	st := cur.Stats()
	st.Dropped += base.Dropped
	st.Refused += base.Refused
	st.Redelivered += base.Redelivered
	return st
}

// Close closes the current store, after a switch in progress ended. Records not acknowledged stay in a durable
// store.
func (s *Store) Close() error {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stopCancel()
	s.signalLocked()
	cur := s.cur
	s.mu.Unlock()
	return cur.Close()
}
