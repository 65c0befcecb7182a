package sqlite

import (
	"context"
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Next hands out up to limit records (at least one) not yet handed out, oldest first (by id, which is Put
// order). It blocks until one is available, ctx is done or the store is closed. A record whose stored bytes do
// not decode is deleted, counted as dropped and logged instead of being handed out.
func (s *Store) Next(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	if s.isClosed() {
		return nil, fmt.Errorf("sqlite storage %s: next: %w", s.path, tbgateway.ErrStorageClosed)
	}
	select {
	case s.readSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, fmt.Errorf("sqlite storage %s: next: %w", s.path, tbgateway.ErrStorageClosed)
	}
	defer func() { <-s.readSem }()
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("sqlite storage %s: next: %w", s.path, tbgateway.ErrStorageClosed)
		}
		cursor, gen, wake := s.cursor, s.gen, s.wake
		s.mu.Unlock()

		out, live, corrupt, last, err := s.read(ctx, cursor, limit)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.gen != gen {
			// A Rewind came in while reading: read again from the rewound cursor.
			s.mu.Unlock()
			continue
		}
		if last > s.cursor {
			s.cursor = last
		}
		kept := out[:0]
		for i, e := range out {
			id := int64(e.Seq)
			if live[i] && s.lane.owns(id) {
				continue // handed out by the live lane
			}
			if id <= s.handed || (live[i] && s.lane.handedBefore(id)) {
				s.stats.Redelivered++
			}
			kept = append(kept, e)
		}
		out = kept
		if len(s.lane.past) > 0 {
			s.lane.prune(s.cursor)
		}
		s.mu.Unlock()
		if len(corrupt) > 0 {
			if err := s.dropCorrupt(corrupt); err != nil {
				return nil, err
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if last > cursor {
			continue // only corrupt records or the live lane's were read; look further
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
		}
	}
}

// read returns the records above cursor, up to limit of them decoded, whether each is live, the ids of those
// that did not decode and the highest id read.
func (s *Store) read(ctx context.Context, cursor int64, limit int) (out []tbgateway.Entry, live []bool, corrupt []uint64, last int64, err error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, data, live FROM records WHERE id > ? ORDER BY id LIMIT ?`, cursor, limit)
	if err != nil {
		return nil, nil, nil, 0, s.readErr(ctx, err)
	}
	defer rows.Close()
	last = cursor
	for rows.Next() {
		var id int64
		var data []byte
		var isLive bool
		if err := rows.Scan(&id, &data, &isLive); err != nil {
			return nil, nil, nil, 0, s.readErr(ctx, err)
		}
		last = id
		var r tbgateway.Record
		if err := r.UnmarshalBinary(data); err != nil {
			s.log.Error("sqlite storage: dropping a record that does not decode", "file", s.path, "id", id, "err", err)
			corrupt = append(corrupt, uint64(id))
			continue
		}
		if out == nil {
			out = make([]tbgateway.Entry, 0, min(limit, 1024))
		}
		out = append(out, tbgateway.Entry{Seq: uint64(id), Record: r})
		live = append(live, isLive)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, 0, s.readErr(ctx, err)
	}
	return out, live, corrupt, last, nil
}

func (s *Store) readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("sqlite storage %s: read records: %w", s.path, err)
}

// dropCorrupt deletes records that do not decode and counts them as dropped.
func (s *Store) dropCorrupt(ids []uint64) error {
	return s.submit(context.Background(), &request{kind: reqAck, ctx: context.Background(), ids: ids, drop: true})
}

// Rewind makes every handed-out, unacknowledged record available to Next again, first and in order: since
// acknowledged records are deleted, Next simply reads from the first id again.
func (s *Store) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handed = max(s.handed, s.cursor)
	s.cursor = 0
	s.lane.rewind()
	s.gen++
}
