package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	tbgateway "github.com/tbgateway/tbgateway"
)

// The live lane (tbgateway.LiveReader). Each row carries two columns for it, set when the row is inserted:
// "live" is 1 when the record is telemetry only and no connect or disconnect of its device was in the table at
// that moment (in the same transaction included), and "session" holds the device of a connect or disconnect
// record, with a partial index, so that this check is one index lookup. The running lane owns the live rows from
// its first id on: NextLive reads them above its cursor, and Next skips them.

// recMeta is what insert needs to know of a record besides its bytes.
type recMeta struct {
	device        string
	telemetryOnly bool
	session       any // the device name of a connect or disconnect (string), else nil (NULL)
}

// sessionDevice returns the value of the "session" column for r.
func sessionDevice(r *tbgateway.Record) any {
	if r.IsSessionEvent() {
		return r.Device
	}
	return nil
}

// liveLane is the state of the live lane; guarded by Store.mu.
type liveLane struct {
	from   int64     // the lane owns the live rows from this id on; 0 while the lane is not running
	cursor int64     // next id the lane examines
	past   []idRange // ranges of earlier lanes, until a rewound Next has passed them: their live rows were handed out
}

// idRange is the ids from..to-1.
type idRange struct{ from, to int64 }

// handedBefore reports whether a live row with this id was handed out by an earlier lane (so handing it out again
// is a redelivery). Caller holds s.mu.
func (l *liveLane) handedBefore(id int64) bool {
	for _, r := range l.past {
		if id >= r.from && id < r.to {
			return true
		}
	}
	return false
}

// owns reports whether the live row id belongs to the running lane (Next skips it). Caller holds s.mu.
func (l *liveLane) owns(id int64) bool {
	return l.from != 0 && id >= l.from
}

// rewind ends the lane, remembering its range for the redelivery count. Caller holds s.mu.
func (l *liveLane) rewind() {
	if l.from != 0 && l.cursor > l.from {
		l.past = append(l.past, idRange{l.from, l.cursor})
	}
	l.from, l.cursor = 0, 0
}

// prune forgets the earlier lanes' ranges that Next has passed. Caller holds s.mu.
func (l *liveLane) prune(cursor int64) {
	keep := l.past[:0]
	for _, r := range l.past {
		if r.to > cursor+1 {
			keep = append(keep, r)
		}
	}
	l.past = keep
}

// liveEligible returns the "live" column of each record of a Put. Runs in the writer's transaction.
func (s *Store) liveEligible(ctx context.Context, tx *sql.Tx, metas []recMeta) ([]int, error) {
	out := make([]int, len(metas))
	var pending map[string]bool // device → a session event is in the table (cache of index lookups)
	for i, m := range metas {
		if m.session != nil {
			if pending == nil {
				pending = map[string]bool{}
			}
			pending[m.device] = true // rows of this transaction count too
			continue
		}
		if !m.telemetryOnly {
			continue
		}
		has, ok := pending[m.device]
		if !ok {
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM records WHERE session = ?)`, m.device).Scan(&has); err != nil {
				return nil, fmt.Errorf("look up session events of %q: %w", m.device, err)
			}
			if pending == nil {
				pending = map[string]bool{}
			}
			pending[m.device] = has
		}
		if !has {
			out[i] = 1
		}
	}
	return out, nil
}

// migrateLive adds the live-lane columns to a table made before they existed, marking its session events (its
// rows stay non-live: they are backlog), and creates the index.
func (s *Store) migrateLive(ctx context.Context) error {
	var hasSession bool
	if err := s.wconn.QueryRowContext(ctx,
		`SELECT EXISTS(SELECT 1 FROM pragma_table_info('records') WHERE name = 'session')`).Scan(&hasSession); err != nil {
		return fmt.Errorf("sqlite storage %s: read schema: %w", s.path, err)
	}
	if !hasSession {
		if err := s.addLiveColumns(ctx); err != nil {
			return fmt.Errorf("sqlite storage %s: add live columns: %w", s.path, err)
		}
	}
	if _, err := s.wconn.ExecContext(ctx,
		`CREATE INDEX IF NOT EXISTS records_session ON records(session) WHERE session IS NOT NULL`); err != nil {
		return fmt.Errorf("sqlite storage %s: create index: %w", s.path, err)
	}
	return nil
}

func (s *Store) addLiveColumns(ctx context.Context) error {
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{
		`ALTER TABLE records ADD COLUMN live INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE records ADD COLUMN session TEXT`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, data FROM records`)
	if err != nil {
		return err
	}
	var ids []int64
	var devs []string
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return err
		}
		var r tbgateway.Record
		if r.UnmarshalBinary(data) == nil && r.IsSessionEvent() {
			ids, devs = append(ids, id), append(devs, r.Device)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE records SET session = ? WHERE id = ?`, devs[i], id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// NextLive hands out up to limit live records (at least one) not yet handed out, oldest first, starting the live
// lane above the newest stored record when it is not running; see tbgateway.LiveReader. It blocks until one is
// available, ctx is done or the store is closed.
func (s *Store) NextLive(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	if s.isClosed() {
		return nil, fmt.Errorf("sqlite storage %s: next live: %w", s.path, tbgateway.ErrStorageClosed)
	}
	select {
	case s.liveSem <- struct{}{}: // free: take it even when ctx is done, so that the lane starts
	default:
		select {
		case s.liveSem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
			return nil, fmt.Errorf("sqlite storage %s: next live: %w", s.path, tbgateway.ErrStorageClosed)
		}
	}
	defer func() { <-s.liveSem }()
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("sqlite storage %s: next live: %w", s.path, tbgateway.ErrStorageClosed)
		}
		started := s.lane.from != 0
		from, gen, wake := s.lane.cursor, s.gen, s.wake
		s.mu.Unlock()
		if !started {
			// The lane starts even when ctx is already done (a quick query).
			var top int64
			if err := s.rdb.QueryRowContext(context.WithoutCancel(ctx), `SELECT coalesce(max(id), 0) FROM records`).Scan(&top); err != nil {
				return nil, s.readErr(ctx, err)
			}
			s.mu.Lock()
			if s.gen == gen && s.lane.from == 0 {
				s.lane.from, s.lane.cursor = top+1, top+1
			}
			s.mu.Unlock()
			continue
		}
		out, last, err := s.readLive(ctx, from, limit)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.gen != gen || s.lane.from == 0 {
			s.mu.Unlock() // rewound while reading: start a new lane
			continue
		}
		if last >= s.lane.cursor {
			s.lane.cursor = last + 1
		}
		s.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		if last >= from {
			continue // only rows that do not decode (Next drops them); look further
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
		}
	}
}

// readLive returns the live records from id from on, up to limit, and the highest id read (from-1 if none).
// A live row that does not decode is left to Next, which drops and counts it.
func (s *Store) readLive(ctx context.Context, from int64, limit int) (out []tbgateway.Entry, last int64, err error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, data FROM records WHERE id >= ? AND live = 1 ORDER BY id LIMIT ?`, from, limit)
	if err != nil {
		return nil, 0, s.readErr(ctx, err)
	}
	defer rows.Close()
	last = from - 1
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, 0, s.readErr(ctx, err)
		}
		last = id
		var r tbgateway.Record
		if err := r.UnmarshalBinary(data); err != nil {
			continue
		}
		out = append(out, tbgateway.Entry{Seq: uint64(id), Record: r})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.readErr(ctx, err)
	}
	return out, last, nil
}
