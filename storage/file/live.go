package file

import (
	"context"
	"encoding/binary"
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
)

// The live lane (tbgateway.LiveReader). Its state lives in memory only: the records are durable in the segments
// like any other, and after a restart every unacknowledged record comes from Next again, in order. The writer
// classifies each committed record under mu, in sequence order, so that the lane's start (also under mu) cuts the
// log at one sequence number: records committed before it are backlog, live-eligible records after it belong to
// the lane.

var _ tbgateway.LiveReader = (*Store)(nil)

// liveLane is the state of the live lane; guarded by Store.mu.
type liveLane struct {
	from  uint64              // the lane owns the live records from this sequence number on; 0: not running
	queue []tbgateway.Entry   // live records of the lane not yet handed out, oldest first
	owned map[uint64]struct{} // every live record of the running lane that is not acknowledged: Next skips them
	sent  map[uint64]struct{} // records handed out by NextLive (of any lane) and not acknowledged
	fresh map[uint64]struct{} // records of an ended lane never handed out: Next does not count them as redelivered
	devs  map[string][]uint64 // device → sequence numbers of its connect and disconnect records, maybe acknowledged
	wake  chan struct{}       // closed (and set to nil) when the lane gets records or ends
	drops uint64              // Stats.Dropped when pruneLive last ran
}

// unacked reports whether the committed record seq is neither acknowledged nor dropped. Callers hold mu.
func (s *Store) unacked(seq uint64) bool {
	if seq <= s.prefix {
		return false
	}
	_, a := s.acked[seq]
	return !a
}

// sessionPending reports whether an unacknowledged connect or disconnect of dev is stored, forgetting the
// acknowledged ones. Callers hold mu.
func (s *Store) sessionPending(dev string) bool {
	seqs := s.lane.devs[dev]
	keep := seqs[:0]
	for _, seq := range seqs {
		if s.unacked(seq) {
			keep = append(keep, seq)
		}
	}
	if len(keep) == 0 {
		delete(s.lane.devs, dev)
		return false
	}
	s.lane.devs[dev] = keep
	return true
}

// classify notes the committed records recs, whose sequence numbers start at first: session events are
// remembered, and live-eligible records go to the running lane. Callers hold mu.
func (s *Store) classify(recs []tbgateway.Record, first uint64) {
	added := false
	for i := range recs {
		r, seq := &recs[i], first+uint64(i)
		switch {
		case r.IsSessionEvent():
			if s.lane.devs == nil {
				s.lane.devs = map[string][]uint64{}
			}
			s.lane.devs[r.Device] = append(s.lane.devs[r.Device], seq)
		case r.TelemetryOnly() && s.lane.from != 0 && !s.sessionPending(r.Device):
			s.lane.queue = append(s.lane.queue, tbgateway.Entry{Seq: seq, Record: *r})
			s.lane.owned[seq] = struct{}{}
			added = true
		}
	}
	if added && s.lane.wake != nil {
		close(s.lane.wake)
		s.lane.wake = nil
	}
}

// noteSessionFrames remembers the connect and disconnect records of valid, a segment's checked frames, for Open.
// Only the kind byte of the other records is looked at (a payload starts with the codec version and the kind).
func (s *Store) noteSessionFrames(valid []byte) {
	for off := 0; off+frameHeader <= len(valid); {
		n := frameHeader + int(binary.LittleEndian.Uint32(valid[off:]))
		if off+n > len(valid) {
			return // cannot happen: scanSegment checked every frame
		}
		seq, payload := binary.LittleEndian.Uint64(valid[off+8:]), valid[off+frameHeader:off+n]
		off += n
		if len(payload) < 2 {
			continue
		}
		if k := tbgateway.Kind(payload[1]); k != tbgateway.KindConnect && k != tbgateway.KindDisconnect {
			continue
		}
		var r tbgateway.Record
		if r.UnmarshalBinary(payload) != nil || !r.IsSessionEvent() {
			continue // Next drops and counts an undecodable record
		}
		if s.lane.devs == nil {
			s.lane.devs = map[string][]uint64{}
		}
		s.lane.devs[r.Device] = append(s.lane.devs[r.Device], seq)
	}
}

// skipLive reports whether Next must leave the record seq to the live lane, and whether handing it out is a
// redelivery when it does not: true for a record NextLive handed out in a lane that has ended, false for one
// that was never handed out; ok is false when the live lane has no say. Callers hold mu.
func (s *Store) skipLive(seq uint64) (skip, redelivered, ok bool) {
	if _, own := s.lane.owned[seq]; own {
		return true, false, true
	}
	if _, sent := s.lane.sent[seq]; sent {
		delete(s.lane.sent, seq)
		return false, true, true
	}
	if _, fresh := s.lane.fresh[seq]; fresh {
		delete(s.lane.fresh, seq)
		return false, false, true
	}
	return false, false, false
}

// forgetAcked drops the lane's bookkeeping of an acknowledged record. Callers hold mu.
func (s *Store) forgetAcked(seq uint64) {
	delete(s.lane.owned, seq)
	delete(s.lane.sent, seq)
	delete(s.lane.fresh, seq)
}

// pruneLive forgets the acknowledged session events, and after drops (which move the prefix without an Ack)
// what the lane keeps of dropped records. The checkpoint calls it. Callers hold mu.
func (s *Store) pruneLive() {
	for dev := range s.lane.devs {
		s.sessionPending(dev)
	}
	if s.lane.drops == s.stats.Dropped {
		return
	}
	s.lane.drops = s.stats.Dropped
	for _, m := range []map[uint64]struct{}{s.lane.owned, s.lane.sent, s.lane.fresh} {
		for seq := range m {
			if !s.unacked(seq) {
				delete(m, seq)
			}
		}
	}
	q := s.lane.queue[:0]
	for _, e := range s.lane.queue {
		if s.unacked(e.Seq) {
			q = append(q, e)
		}
	}
	clear(s.lane.queue[len(q):])
	s.lane.queue = q
}

// endLane ends the running lane at Rewind: its records go back to Next, which counts those NextLive handed out
// as redelivered. Callers hold mu.
func (s *Store) endLane() {
	if s.lane.from == 0 {
		return
	}
	for _, e := range s.lane.queue {
		if s.unacked(e.Seq) && e.Seq < s.redeliv {
			if s.lane.fresh == nil {
				s.lane.fresh = map[uint64]struct{}{}
			}
			s.lane.fresh[e.Seq] = struct{}{}
		}
	}
	s.lane.from, s.lane.queue, s.lane.owned = 0, nil, nil
	if s.lane.wake != nil { // a blocked NextLive starts the next lane
		close(s.lane.wake)
		s.lane.wake = nil
	}
}

// NextLive hands out up to limit live records (at least one) not yet handed out, oldest first, starting the live
// lane after the newest committed record when it is not running (even when ctx is done); see
// tbgateway.LiveReader. It blocks until one is available, ctx is done or the store is closed.
func (s *Store) NextLive(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("file storage %s: next live: %w", s.opts.Dir, tbgateway.ErrStorageClosed)
		}
		if s.lane.from == 0 {
			s.lane.from = s.nextSeq
			s.lane.owned = map[uint64]struct{}{}
		}
		out := s.takeLive(limit)
		if len(out) > 0 {
			s.mu.Unlock()
			return out, nil
		}
		if s.lane.wake == nil {
			s.lane.wake = make(chan struct{})
		}
		wake := s.lane.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
		}
	}
}

// takeLive takes up to limit unacknowledged records off the lane's queue. Callers hold mu.
func (s *Store) takeLive(limit int) []tbgateway.Entry {
	var out []tbgateway.Entry
	n := 0
	for n < len(s.lane.queue) && len(out) < limit {
		e := s.lane.queue[n]
		n++
		if !s.unacked(e.Seq) {
			continue // dropped by drop-oldest
		}
		if s.lane.sent == nil {
			s.lane.sent = map[uint64]struct{}{}
		}
		s.lane.sent[e.Seq] = struct{}{}
		out = append(out, e)
	}
	clear(s.lane.queue[:n])
	s.lane.queue = s.lane.queue[n:]
	if len(s.lane.queue) == 0 {
		s.lane.queue = nil // let the backing array go
	}
	return out
}
