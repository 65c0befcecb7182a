package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"syscall"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"modernc.org/sqlite"
)

type requestKind uint8

const (
	reqPut requestKind = iota
	reqAck
	reqPurge
)

// request is one call waiting for the writer goroutine; done receives its outcome once the transaction that
// covers it has committed or failed.
type request struct {
	kind  requestKind
	ctx   context.Context
	blobs [][]byte  // reqPut: encoded records
	metas []recMeta // reqPut: what the live lane needs to know of each record
	size  int64     // reqPut: total bytes of blobs
	ids   []uint64  // reqAck
	drop  bool      // reqAck: the records are dropped (count them), not delivered
	room  int       // reqPut: drop this many oldest records first, in the same transaction (full disk, drop-oldest)
	done  chan error
}

// tally is the writer's view of the store, changed by a transaction and published when it commits.
type tally struct {
	count    int
	bytes    int64
	dropped  uint64 // records dropped in this transaction (policy, TTL, undecodable)
	byPolicy uint64 // of which by the drop-oldest policy
	expired  uint64 // of which by the TTL
	forSpace uint64 // of which by the drop-oldest policy on a full disk
	refused  uint64
	inserted int
}

// Put stores recs durably, in order, in one transaction: it returns after the commit. A batch that does not fit
// is refused whole under RefuseNew (an error wrapping tbgateway.ErrStorageFull). If ctx ends before the writer
// takes the batch, nothing is stored and ctx.Err() is returned; once taken, Put waits for the commit even if ctx
// ends. So a nil error always means stored and an error always means not stored.
func (s *Store) Put(ctx context.Context, recs []tbgateway.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	r := &request{kind: reqPut, ctx: ctx, blobs: make([][]byte, len(recs)), metas: make([]recMeta, len(recs))}
	for i := range recs {
		r.blobs[i] = recs[i].AppendBinary(nil)
		r.size += int64(len(r.blobs[i]))
		r.metas[i] = recMeta{device: recs[i].Device, telemetryOnly: recs[i].TelemetryOnly(), session: sessionDevice(&recs[i])}
	}
	return s.submit(ctx, r)
}

// Ack deletes the records with the given sequence numbers and returns after the commit. Numbers the store does
// not hold are ignored.
func (s *Store) Ack(seqs ...uint64) error {
	if s.isClosed() {
		return fmt.Errorf("sqlite storage %s: ack: %w", s.path, tbgateway.ErrStorageClosed)
	}
	if len(seqs) == 0 {
		return nil
	}
	return s.submit(context.Background(), &request{kind: reqAck, ctx: context.Background(), ids: seqs})
}

// purge runs the TTL check now and returns after its commit.
func (s *Store) purge(ctx context.Context) error {
	return s.submit(ctx, &request{kind: reqPurge, ctx: ctx})
}

// submit hands r to the writer goroutine and waits for its outcome.
func (s *Store) submit(ctx context.Context, r *request) error {
	r.done = make(chan error, 1)
	s.sendMu.RLock()
	if s.isClosed() {
		s.sendMu.RUnlock()
		return fmt.Errorf("sqlite storage %s: %w", s.path, tbgateway.ErrStorageClosed)
	}
	select {
	case s.reqs <- r:
		s.sendMu.RUnlock()
	case <-ctx.Done():
		s.sendMu.RUnlock()
		return ctx.Err()
	case <-s.closed:
		s.sendMu.RUnlock()
		return fmt.Errorf("sqlite storage %s: %w", s.path, tbgateway.ErrStorageClosed)
	}
	return <-r.done
}

// writer owns the writing connection: it gathers the requests waiting in the channel into one transaction,
// commits it and answers them all; every TTLCheckPeriod it runs the TTL check.
func (s *Store) writer() {
	defer close(s.done)
	var tick <-chan time.Time
	if s.opts.TTL > 0 {
		t := time.NewTicker(s.opts.TTLCheckPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r := <-s.reqs:
			s.commit(s.gather(r))
		case <-tick:
			r := &request{kind: reqPurge, ctx: context.Background(), done: make(chan error, 1)}
			s.commit([]*request{r})
			if err := <-r.done; err != nil {
				s.log.Error("sqlite storage: TTL check failed", "file", s.path, "err", err)
			}
		case <-s.stop:
			// No sender is left: finish what was queued before Close.
			for {
				select {
				case r := <-s.reqs:
					s.commit(s.gather(r))
				default:
					return
				}
			}
		}
	}
}

// gather returns first and the requests queued behind it, up to MaxBatchRecords records.
func (s *Store) gather(first *request) []*request {
	batch := []*request{first}
	n := len(first.blobs)
	for n < s.opts.MaxBatchRecords && len(batch) < cap(s.reqs) {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			n += len(r.blobs)
		default:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction. When it fails, each request is retried in a transaction of its own, so
// that an error reaches only the requests it belongs to.
//
// While the disk is full (see reserve.go), Puts are refused unless space is back; acknowledgements still run,
// and one that fails for lack of space is retried once after the WAL was checkpointed and truncated.
func (s *Store) commit(batch []*request) {
	if s.diskFull {
		if batch = s.refuseWhileFull(batch); len(batch) == 0 {
			return
		}
	}
	errs, t, err := s.runTx(batch)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			s.commit([]*request{r})
		}
		return
	}
	if err != nil && isDiskFull(err) {
		s.diskFullHit(err)
		switch {
		case batch[0].kind != reqPut:
			_ = s.reclaim(context.Background()) // the retry's error tells whether it helped
			errs, t, err = s.runTx(batch)
			if r := batch[0]; err != nil && isDiskFull(err) && r.kind == reqAck && len(r.ids) > 1 {
				r.done <- s.ackInHalves(r)
				return
			}
		case s.opts.Policy == tbgateway.DropOldest:
			errs, t, err = s.putDroppingOldest(batch[0], errs, t, err)
		}
	}
	if err == nil && s.diskFull && t.count < s.count+t.inserted { // records were deleted
		s.freed = true
	}
	if err != nil {
		errs[0] = err
		if r := batch[0]; r.kind == reqPut && isDiskFull(err) {
			t.refused += uint64(len(r.blobs))
		}
	}
	s.publish(t, err == nil)
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// ackInHalves commits the acknowledgement r in two transactions of half its records each (halving again while a
// half does not fit): the deletes of one transaction go to the WAL, so a large acknowledgement on a full disk may
// need more space than there is, while its parts, with the WAL checkpointed and truncated between them, fit. An
// acknowledgement that failed would leave delivered records in the store until the next reconnect.
func (s *Store) ackInHalves(r *request) error {
	half := len(r.ids) / 2
	var errs []error
	for _, ids := range [][]uint64{r.ids[:half], r.ids[half:]} {
		part := &request{kind: reqAck, ctx: r.ctx, ids: ids, drop: r.drop, done: make(chan error, 1)}
		s.commit([]*request{part})
		errs = append(errs, <-part.done)
	}
	return errors.Join(errs...)
}

// publish makes the outcome of a transaction visible to the readers.
func (s *Store) publish(t tally, committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Refused += t.refused
	if !committed {
		return
	}
	s.count, s.bytes = t.count, t.bytes
	s.stats.Dropped += t.dropped
	if t.inserted > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	if t.byPolicy > 0 {
		s.log.Warn("sqlite storage full: dropped the oldest records", "file", s.path, "dropped", t.byPolicy,
			"max_records", s.opts.MaxRecords, "max_bytes", s.opts.MaxBytes)
	}
	if t.forSpace > 0 {
		s.log.Warn("sqlite storage: disk full: dropped the oldest records", "file", s.path, "dropped", t.forSpace,
			"dropped_total", s.stats.Dropped)
	}
	if t.expired > 0 {
		s.log.Warn("sqlite storage: dropped records older than the TTL", "file", s.path, "dropped", t.expired,
			"ttl", s.opts.TTL)
	}
}

// runTx applies batch in one transaction and commits it. It returns each request's own error (a refused or
// cancelled Put), the tally after the transaction, and the error that failed the whole transaction.
func (s *Store) runTx(batch []*request) ([]error, tally, error) {
	errs := make([]error, len(batch))
	s.mu.Lock()
	t := tally{count: s.count, bytes: s.bytes}
	s.mu.Unlock()
	ctx := context.Background()
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return errs, t, s.wrapErr("begin transaction", err)
	}
	for i, r := range batch {
		if err := s.apply(ctx, tx, r, &t); err != nil {
			var sk skipped
			if errors.As(err, &sk) {
				errs[i] = sk.err
				continue
			}
			_ = tx.Rollback()
			return errs, t, err
		}
	}
	if s.opts.Policy == tbgateway.DropOldest && (t.count > s.opts.MaxRecords || t.bytes > s.opts.MaxBytes) {
		if err := s.dropOldest(ctx, tx, &t); err != nil {
			_ = tx.Rollback()
			return errs, t, err
		}
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT (SQLITE_FULL among others) may leave the transaction open on the connection.
		_, _ = s.wconn.ExecContext(ctx, `ROLLBACK`)
		if len(batch) == 1 && batch[0].kind == reqPut {
			return errs, t, s.putErr(len(batch[0].blobs), err)
		}
		return errs, t, s.wrapErr("commit", err)
	}
	return errs, t, nil
}

func (s *Store) apply(ctx context.Context, tx *sql.Tx, r *request, t *tally) error {
	switch r.kind {
	case reqPut:
		return s.insert(ctx, tx, r, t)
	case reqAck:
		return s.deleteIDs(ctx, tx, r, t)
	case reqPurge:
		return s.expire(ctx, tx, t)
	}
	return fmt.Errorf("sqlite storage: unknown request kind %d", r.kind)
}

// skipped is the error of a Put left out of a transaction before any of its records were inserted (refused by
// the policy or cancelled); the transaction goes on without it.
type skipped struct{ err error }

func (e skipped) Error() string { return e.err.Error() }

// insert adds r's records, or returns skipped when the policy refuses them or r's context is done.
// deleteIDs deletes the records of an ack in one statement, the ids passed as one JSON array.
func (s *Store) deleteIDs(ctx context.Context, tx *sql.Tx, r *request, t *tally) error {
	list := make([]byte, 0, 1+len(r.ids)*8)
	list = append(list, '[')
	for _, id := range r.ids {
		if id > math.MaxInt64 {
			continue // never issued
		}
		if len(list) > 1 {
			list = append(list, ',')
		}
		list = strconv.AppendUint(list, id, 10)
	}
	list = append(list, ']')
	rows, err := tx.QueryContext(ctx,
		`DELETE FROM records WHERE id IN (SELECT value FROM json_each(?)) RETURNING length(data)`, string(list))
	if err != nil {
		return s.wrapErr("delete acknowledged records", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return s.wrapErr("delete acknowledged records", err)
		}
		t.count--
		t.bytes -= n
		if r.drop {
			t.dropped++
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrapErr("delete acknowledged records", err)
	}
	return nil
}

func (s *Store) insert(ctx context.Context, tx *sql.Tx, r *request, t *tally) error {
	if err := r.ctx.Err(); err != nil {
		return skipped{err}
	}
	n := len(r.blobs)
	if s.opts.Policy != tbgateway.DropOldest && (t.count+n > s.opts.MaxRecords || t.bytes+r.size > s.opts.MaxBytes) {
		t.refused += uint64(n)
		return skipped{fmt.Errorf("sqlite storage %s: %d records (%d bytes) do not fit (%d of %d records, %d of %d bytes held): %w",
			s.path, n, r.size, t.count, s.opts.MaxRecords, t.bytes, s.opts.MaxBytes, tbgateway.ErrStorageFull)}
	}
	if r.room > 0 {
		if err := s.dropForSpace(ctx, tx, r.room, t); err != nil {
			return err
		}
	}
	live, err := s.liveEligible(ctx, tx, r.metas)
	if err != nil {
		return s.putErr(n, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO records (put_ms, data, live, session) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return s.putErr(n, err)
	}
	defer stmt.Close()
	now := s.opts.Clock().UnixMilli()
	for i, b := range r.blobs {
		if _, err := stmt.ExecContext(ctx, now, b, live[i], r.metas[i].session); err != nil {
			return s.putErr(n, err)
		}
	}
	t.count += n
	t.bytes += r.size
	t.inserted += n
	return nil
}

// dropOldest deletes the oldest records, handed out or not, until the store is within its bounds.
func (s *Store) dropOldest(ctx context.Context, tx *sql.Tx, t *tally) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, length(data) FROM records ORDER BY id`)
	if err != nil {
		return s.wrapErr("find oldest records", err)
	}
	last, n := int64(-1), 0
	for (t.count-n > s.opts.MaxRecords || t.bytes > s.opts.MaxBytes) && rows.Next() {
		var size int64
		if err := rows.Scan(&last, &size); err != nil {
			rows.Close()
			return s.wrapErr("find oldest records", err)
		}
		n++
		t.bytes -= size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.wrapErr("find oldest records", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id <= ?`, last); err != nil {
		return s.wrapErr("drop oldest records", err)
	}
	t.count -= n
	t.dropped += uint64(n)
	t.byPolicy += uint64(n)
	return nil
}

// expire deletes the records Put longer than TTL ago. Records are scanned in id order and the scan stops at the
// first one within the TTL: Put times follow the ids, except when the clock stepped back, in which case a
// record may outlive its TTL by that step.
func (s *Store) expire(ctx context.Context, tx *sql.Tx, t *tally) error {
	if s.opts.TTL <= 0 {
		return nil
	}
	cutoff := s.opts.Clock().Add(-s.opts.TTL).UnixMilli()
	rows, err := tx.QueryContext(ctx, `SELECT id, put_ms, length(data) FROM records ORDER BY id`)
	if err != nil {
		return s.wrapErr("find expired records", err)
	}
	last, n, size := int64(-1), 0, int64(0)
	for rows.Next() {
		var id, putMS, sz int64
		if err := rows.Scan(&id, &putMS, &sz); err != nil {
			rows.Close()
			return s.wrapErr("find expired records", err)
		}
		if putMS >= cutoff {
			break
		}
		last, n, size = id, n+1, size+sz
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.wrapErr("find expired records", err)
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id <= ?`, last); err != nil {
		return s.wrapErr("delete expired records", err)
	}
	t.count -= n
	t.bytes -= size
	t.dropped += uint64(n)
	t.expired += uint64(n)
	// Give the freed pages back to the file system now and then, as the file does not shrink by itself.
	if _, err := tx.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return s.wrapErr("incremental vacuum", err)
	}
	return nil
}

// sqliteFull is SQLite's primary result code SQLITE_FULL (database or disk is full).
const sqliteFull = 13

// isDiskFull reports whether err says that the disk or the database (max_page_count) is full.
func isDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// putErr wraps a failed insert; a full disk also wraps tbgateway.ErrStorageFull, as it is backpressure too.
func (s *Store) putErr(n int, err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("sqlite storage %s: put %d records: disk or database full: %w (%w)",
			s.path, n, tbgateway.ErrStorageFull, err)
	}
	return fmt.Errorf("sqlite storage %s: put %d records: %w", s.path, n, err)
}

func (s *Store) wrapErr(what string, err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("sqlite storage %s: %s: disk or database full: %w (%w)", s.path, what, tbgateway.ErrStorageFull, err)
	}
	return fmt.Errorf("sqlite storage %s: %s: %w", s.path, what, err)
}
