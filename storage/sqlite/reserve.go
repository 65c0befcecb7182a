package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	tbgateway "github.com/tbgateway/tbgateway"
)

// ReserveFileName is the reserve file inside Options.Dir: ReserveBytes of disk space the store holds while it
// works, and gives back when the disk is full so that acknowledgements (DELETEs, which need WAL space) and WAL
// checkpoints can still run and the store can empty itself.
const ReserveFileName = "tbgateway-storage.reserve"

const (
	// ReserveBytes is the size of the reserve file.
	ReserveBytes = 256 << 10
	// spaceBackMargin is the free space beyond the reserve that must exist before a full store accepts records
	// again: without it, a store would flap between full and not full a few Puts at a time.
	spaceBackMargin = 1 << 20
)

var reserveChunk = make([]byte, 64<<10)

func (s *Store) reservePath() string { return filepath.Join(s.opts.Dir, ReserveFileName) }

// writeReserve creates the reserve file with size bytes written and synced (a sparse file would reserve
// nothing), then cuts it to ReserveBytes. Probing with more than ReserveBytes proves that much space is free.
// On failure no reserve file is left.
func (s *Store) writeReserve(size int) error {
	p := s.reservePath()
	if fi, err := os.Stat(p); err == nil && fi.Size() == ReserveBytes && size == ReserveBytes {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("sqlite storage: create reserve %s: %w", p, err)
	}
	for n := 0; n < size && err == nil; n += len(reserveChunk) {
		_, err = f.Write(reserveChunk[:min(len(reserveChunk), size-n)])
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil && size > ReserveBytes {
		err = f.Truncate(ReserveBytes)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return fmt.Errorf("sqlite storage: create reserve %s: %w", p, err)
	}
	return nil
}

// releaseReserve deletes the reserve file, giving its space to SQLite.
func (s *Store) releaseReserve() error {
	if err := os.Remove(s.reservePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite storage: release reserve %s: %w", s.reservePath(), err)
	}
	return nil
}

// diskFullHit handles a write that failed for lack of space: the store enters the disk-full state, in which it
// refuses Puts (under DropOldest: drops the oldest records for them), and releases the reserve so that acknowledgements and checkpoints can go on. The writer calls it.
func (s *Store) diskFullHit(cause error) {
	if s.diskFull {
		return
	}
	s.diskFull = true
	if err := s.releaseReserve(); err != nil {
		cause = errors.Join(cause, err)
	}
	// Checkpoint now, while the reserve's space is free: the WAL's committed pages go into the database file, which
	// may have to grow for them. Later, a failed transaction's frames may fill the disk up to the WAL's end, and a
	// checkpoint that must grow the database would then fail and leave the WAL as it is.
	_ = s.reclaim(context.Background())
	if s.opts.Policy == tbgateway.DropOldest {
		s.log.Warn("sqlite storage: disk full; dropping the oldest records to make room", "file", s.path, "err", cause)
		return
	}
	s.log.Warn("sqlite storage: disk full; refusing records until acknowledgements free space", "file", s.path,
		"err", cause)
}

// reclaim gives the space of deleted records back to the file system: it checkpoints the WAL and truncates it,
// and cuts the free pages off the end of the database file. The writer calls it; errors only mean that less
// space came back.
func (s *Store) reclaim(ctx context.Context) error {
	var busy, logPages, done int
	err := s.wconn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done)
	if _, verr := s.wconn.ExecContext(ctx, `PRAGMA incremental_vacuum`); verr != nil {
		err = errors.Join(err, verr)
	}
	if cerr := s.wconn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return s.wrapErr("reclaim space", err)
	}
	return nil
}

// spaceBack is called by the writer before Puts while the store is in the disk-full state: it reclaims space and
// leaves the state when the reserve can be recreated with spaceBackMargin to spare.
func (s *Store) spaceBack(ctx context.Context) bool {
	_ = s.reclaim(ctx) // what matters is the space probed below
	if err := s.writeReserve(ReserveBytes + spaceBackMargin); err != nil {
		return false
	}
	s.diskFull = false
	s.log.Info("sqlite storage: disk space is back; accepting records again", "file", s.path)
	return true
}

// refuseWhileFull answers the Puts of batch with a disk-full error unless space is back, and returns the rest.
func (s *Store) refuseWhileFull(batch []*request) []*request {
	hasPut := false
	for _, r := range batch {
		hasPut = hasPut || r.kind == reqPut
	}
	if !hasPut {
		return batch
	}
	if s.opts.Policy == tbgateway.DropOldest {
		// Puts go ahead and make room by dropping; the reserve is probed for only after records were freed.
		if s.freed {
			s.freed = false
			if s.spaceBack(context.Background()) {
				return batch
			}
		}
		for _, r := range batch {
			if r.kind == reqPut {
				r.room = len(r.blobs)
			}
		}
		return batch
	}
	if s.spaceBack(context.Background()) {
		return batch
	}
	rest := batch[:0:0]
	for _, r := range batch {
		if r.kind != reqPut {
			rest = append(rest, r)
			continue
		}
		s.publish(tally{refused: uint64(len(r.blobs))}, false)
		r.done <- fmt.Errorf("sqlite storage %s: put %d records: disk full, waiting for acknowledgements to free space: %w",
			s.path, len(r.blobs), tbgateway.ErrStorageFull)
	}
	return rest
}

// putDroppingOldest applies DropOldest to a full disk: r failed for lack of space (errs, t and err are that
// outcome), so it is tried again in a transaction that first drops the oldest records, twice as many each time,
// until it fits or nothing is left to drop. SQLite reuses the pages so freed for r's records, so the database
// does not grow and its WAL stays checkpointable. The writer calls it.
func (s *Store) putDroppingOldest(r *request, errs []error, t tally, err error) ([]error, tally, error) {
	for n := max(len(r.blobs), 16); err != nil && isDiskFull(err); n *= 2 {
		r.room = n
		errs, t, err = s.runTx([]*request{r})
		if n > s.count {
			break // everything was dropped, and r still does not fit
		}
	}
	return errs, t, err
}

// dropForSpace deletes the n oldest records, handed out or not, counting them as dropped by the policy.
func (s *Store) dropForSpace(ctx context.Context, tx *sql.Tx, n int, t *tally) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, length(data) FROM records ORDER BY id LIMIT ?`, n)
	if err != nil {
		return s.wrapErr("find oldest records", err)
	}
	last, k, size := int64(-1), 0, int64(0)
	for rows.Next() {
		var sz int64
		if err := rows.Scan(&last, &sz); err != nil {
			rows.Close()
			return s.wrapErr("find oldest records", err)
		}
		k, size = k+1, size+sz
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.wrapErr("find oldest records", err)
	}
	if k == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id <= ?`, last); err != nil {
		return s.wrapErr("drop oldest records", err)
	}
	t.count -= k
	t.bytes -= size
	t.dropped += uint64(k)
	t.forSpace += uint64(k)
	return nil
}
