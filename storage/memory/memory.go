// Package memory is the bounded in-memory tbgateway.Storage, the equivalent of the Python gateway's "memory"
// storage. Records live only as long as the process: Put returns as soon as a record is in the queue, and a
// restart loses whatever was not acknowledged.
//
// The queue is a ring buffer of slots in sequence order. Next hands out slots from a cursor without copying the
// queue; Ack marks a slot acknowledged and the buffer's head advances over the acknowledged prefix, so acks may
// arrive in any order and only the gap up to the oldest unacknowledged record is kept.
//
// The store is a tbgateway.LiveReader: NextLive hands out live telemetry from a second cursor that starts at the
// queue's end, and Next skips the records of that lane (see tbgateway.LiveReader for the contract).
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
	live  bool // live-eligible: telemetry only, and no session event of the device was pending at Put
	sent  bool // handed out at least once: handing it out again is a redelivery
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
	unacked int
	// sessions counts, per device, the unacknowledged connect and disconnect records, which live telemetry of
	// the device must not overtake.
	sessions map[string]int
	// The live lane owns the live records from liveFrom on (Next skips them) and has scanned up to liveCursor.
	// liveFrom is zero while the lane is not running.
	liveFrom, liveCursor uint64
	stats                tbgateway.StorageStats
	wake                 chan struct{} // closed and replaced when records arrive
	closed               chan struct{}
}

var (
	_ tbgateway.Storage    = (*Store)(nil)
	_ tbgateway.LiveReader = (*Store)(nil)
)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.Policy == "" {
		opts.Policy = tbgateway.RefuseNew
	}
	return &Store{
		max:      opts.MaxRecords,
		policy:   opts.Policy,
		buf:      make([]slot, min(opts.MaxRecords, 1024)),
		headSeq:  1,
		cursor:   1,
		sessions: map[string]int{},
		wake:     make(chan struct{}),
		closed:   make(chan struct{}),
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
		live := r.TelemetryOnly() && s.sessions[r.Device] == 0
		if r.IsSessionEvent() {
			s.sessions[r.Device]++
		}
		s.buf[(s.head+s.n)%len(s.buf)] = slot{rec: r, live: live}
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
	s.release(&s.buf[s.head])
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

// release forgets an unacknowledged slot that leaves the queue (acknowledged or dropped).
func (s *Store) release(sl *slot) {
	if !sl.rec.IsSessionEvent() {
		return
	}
	if n := s.sessions[sl.rec.Device] - 1; n > 0 {
		s.sessions[sl.rec.Device] = n
	} else {
		delete(s.sessions, sl.rec.Device)
	}
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
			if sl.acked || (sl.live && s.liveFrom != 0 && s.cursor >= s.liveFrom) {
				continue // acknowledged, or the live lane's
			}
			if out == nil {
				out = make([]tbgateway.Entry, 0, min(limit, int(end-s.cursor)))
			}
			out = append(out, tbgateway.Entry{Seq: s.cursor, Record: sl.rec})
			s.markSent(sl)
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

// markSent notes that a slot is handed out, counting a redelivery when it was handed out before.
func (s *Store) markSent(sl *slot) {
	if sl.sent {
		s.stats.Redelivered++
	}
	sl.sent = true
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
		s.release(sl)
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
	s.cursor = s.headSeq
	s.liveFrom, s.liveCursor = 0, 0
}

// NextLive hands out up to limit live records (at least one) not yet handed out, oldest first, starting the live
// lane at the queue's end when it is not running; see tbgateway.LiveReader. It blocks until one is available,
// ctx is done or the store is closed.
func (s *Store) NextLive(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("memory storage: next live: %w", tbgateway.ErrStorageClosed)
		}
		end := s.headSeq + uint64(s.n)
		if s.liveFrom == 0 {
			s.liveFrom, s.liveCursor = end, end
		}
		seq := max(s.liveCursor, s.headSeq)
		var out []tbgateway.Entry
		for ; seq < end && len(out) < limit; seq++ {
			sl := s.at(seq)
			if sl.acked || !sl.live {
				continue
			}
			out = append(out, tbgateway.Entry{Seq: seq, Record: sl.rec})
			s.markSent(sl)
		}
		s.liveCursor = seq
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
