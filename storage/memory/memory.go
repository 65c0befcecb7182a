// Package memory is the bounded in-memory tbgateway.Storage, the equivalent of the Python gateway's "memory"
// storage. Records live only as long as the process: Put returns as soon as a record is in the queue, and a
// restart loses whatever was not acknowledged.
//
// The queue is a ring buffer of slots in sequence order. Next hands out slots from a cursor without copying the
// queue; Ack marks a slot acknowledged and the buffer's head advances over the acknowledged prefix, so acks may
// arrive in any order and only the gap up to the oldest unacknowledged record is kept.
package memory

import (
	"context"
	"fmt"
	"sync"

	tbgateway "github.com/tbgateway/tbgateway"
)

// DefaultMaxRecords is the default bound, the Python memory storage's max_records_count code default.
const DefaultMaxRecords = 10000

// Options configure a Store.
type Options struct {
	// MaxRecords is the most unacknowledged records the store holds; zero or less means DefaultMaxRecords.
	MaxRecords int
	// Policy is what a full store does with new records; empty means tbgateway.RefuseNew.
	Policy tbgateway.FullPolicy
}

type slot struct {
	rec   tbgateway.Record
	acked bool
}

// Store is a bounded in-memory queue of records. It implements tbgateway.Storage and is safe for concurrent use.
type Store struct {
	max    int
	policy tbgateway.FullPolicy

	mu sync.Mutex
	// buf is a ring: slot i of the queue (sequence number headSeq+i) sits at buf[(head+i)%len(buf)].
	buf     []slot
	head    int
	n       int    // slots in the queue, acknowledged ones not yet trimmed included
	headSeq uint64 // sequence number of the slot at head; the first record gets 1
	cursor  uint64 // sequence number of the next slot to hand out
	redeliv uint64 // slots below this sequence number were handed out before a Rewind
	unacked int
	stats   tbgateway.StorageStats
	wake    chan struct{} // closed and replaced when records arrive
	closed  chan struct{}
}

var _ tbgateway.Storage = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.Policy == "" {
		opts.Policy = tbgateway.RefuseNew
	}
	return &Store{
		max:     opts.MaxRecords,
		policy:  opts.Policy,
		buf:     make([]slot, min(opts.MaxRecords, 1024)),
		headSeq: 1,
		cursor:  1,
		redeliv: 1,
		wake:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Store) at(seq uint64) *slot {
	return &s.buf[(s.head+int(seq-s.headSeq))%len(s.buf)]
}

// Put appends recs in order. Under RefuseNew a batch that does not fit whole is refused whole with an error
// wrapping tbgateway.ErrStorageFull; under DropOldest the oldest unacknowledged records make room. The caller
// must not modify the records' maps afterwards.
func (s *Store) Put(ctx context.Context, recs []tbgateway.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return fmt.Errorf("memory storage: put: %w", tbgateway.ErrStorageClosed)
	}
	if s.policy != tbgateway.DropOldest && s.unacked+len(recs) > s.max {
		s.stats.Refused += uint64(len(recs))
		return fmt.Errorf("memory storage: %d records do not fit (%d of %d held): %w",
			len(recs), s.unacked, s.max, tbgateway.ErrStorageFull)
	}
	for _, r := range recs {
		if s.n == len(s.buf) {
			s.grow()
		}
		s.buf[(s.head+s.n)%len(s.buf)] = slot{rec: r}
		s.n++
		s.unacked++
	}
	for s.unacked > s.max {
		s.dropHead()
	}
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

// grow doubles the ring. The ring holds more slots than MaxRecords only while acknowledged slots wait behind an
// unacknowledged one.
func (s *Store) grow() {
	nb := make([]slot, 2*len(s.buf))
	for i := 0; i < s.n; i++ {
		nb[i] = s.buf[(s.head+i)%len(s.buf)]
	}
	s.buf, s.head = nb, 0
}

// dropHead removes the oldest slot, which trim keeps unacknowledged.
func (s *Store) dropHead() {
	s.popHead()
	s.unacked--
	s.stats.Dropped++
	s.trim()
}

func (s *Store) popHead() {
	s.buf[s.head] = slot{}
	s.head = (s.head + 1) % len(s.buf)
	s.n--
	s.headSeq++
	s.cursor = max(s.cursor, s.headSeq)
}

// trim removes the acknowledged prefix of the queue.
func (s *Store) trim() {
	for s.n > 0 && s.buf[s.head].acked {
		s.popHead()
	}
}

// Next hands out up to limit records (at least one) not yet handed out, oldest first. It blocks until one is
// available, ctx is done or the store is closed.
func (s *Store) Next(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("memory storage: next: %w", tbgateway.ErrStorageClosed)
		}
		var out []tbgateway.Entry
		end := s.headSeq + uint64(s.n)
		for ; s.cursor < end && len(out) < limit; s.cursor++ {
			sl := s.at(s.cursor)
			if sl.acked {
				continue
			}
			if out == nil {
				out = make([]tbgateway.Entry, 0, min(limit, int(end-s.cursor)))
			}
			out = append(out, tbgateway.Entry{Seq: s.cursor, Record: sl.rec})
			if s.cursor < s.redeliv {
				s.stats.Redelivered++
			}
		}
		wake := s.wake
		s.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
		}
	}
}

// Ack removes the records with the given sequence numbers. Numbers the store does not hold are ignored.
func (s *Store) Ack(seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return fmt.Errorf("memory storage: ack: %w", tbgateway.ErrStorageClosed)
	}
	end := s.headSeq + uint64(s.n)
	for _, seq := range seqs {
		if seq < s.headSeq || seq >= end {
			continue
		}
		sl := s.at(seq)
		if sl.acked {
			continue
		}
		// Release the record's memory now; the slot itself goes when the prefix before it is acknowledged.
		*sl = slot{acked: true}
		s.unacked--
	}
	s.trim()
	return nil
}

// Rewind makes every handed-out, unacknowledged record available to Next again, first and in order.
func (s *Store) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redeliv = max(s.redeliv, s.cursor)
	s.cursor = s.headSeq
}

// Stats returns the store's counters.
func (s *Store) Stats() tbgateway.StorageStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Count = s.unacked
	return st
}

// Close discards the store's records and wakes a blocked Next. Closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isClosed() {
		close(s.closed)
	}
	return nil
}
