package switchable

import (
	"context"
	"errors"
	"fmt"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Defaults of Target.
const (
	// DefaultSettleTimeout bounds the wait for the records the uplink holds.
	DefaultSettleTimeout = 30 * time.Second
	// DefaultMoveBatch is how many records one Put into the new store carries.
	DefaultMoveBatch = 1000
)

// Target is the store a Switch goes to.
type Target struct {
	// Open opens the new store; required. A store holding records already (a durable store's folder used
	// before) is fine: its records go first, then the moved ones.
	Open func(ctx context.Context) (tbgateway.Storage, error)
	// InPlace says the new store uses the current one's files (same type, same folder, other settings): the
	// current store is closed before Open and nothing is moved. Reopen, required then, opens the current store
	// again with its settings when Open fails.
	InPlace bool
	Reopen  func(ctx context.Context) (tbgateway.Storage, error)
	// Commit, when set, runs once every record is in the new store and before it takes over (for instance to save
	// the configuration that names it). An error ends the switch with nothing changed.
	Commit func(ctx context.Context) error
	// SettleTimeout bounds the wait for the records the uplink holds; zero means DefaultSettleTimeout.
	SettleTimeout time.Duration
	// MoveBatch is how many records one Put into the new store carries; zero means DefaultMoveBatch.
	MoveBatch int
}

// Result describes a switch.
type Result struct {
	// Moved is how many records were moved from the old store into the new one.
	Moved int
	// Held is how many records the new store held already when it was opened (delivered before the moved ones).
	Held int
	// Took is how long the switch took, from the gate to the swap (Puts waited that long at most); Settle is the
	// part spent waiting for the records the uplink held.
	Took, Settle time.Duration
	// Kept is how many moved records the old store still holds after the switch because acknowledging them
	// there failed (they are logged; its files are kept).
	Kept int
}

// Errors of Switch, wrapped with the details.
var (
	// ErrNotSettled: the uplink did not acknowledge (or give back) the records it held within SettleTimeout.
	ErrNotSettled = errors.New("the records being sent to ThingsBoard were not acknowledged in time")
	// ErrNewStoreTooSmall: the new store refused or dropped records of the backlog.
	ErrNewStoreTooSmall = errors.New("the new storage cannot hold the backlog")
)

// Switch makes the store of t the current one, moving every record not yet acknowledged into it in order (see
// the package documentation for the steps). On error nothing has changed: the current store keeps all its
// records and goes on (except an in-place switch whose reopen failed too, which leaves a store that fails every
// call; the error says so). ctx bounds the whole switch; Puts wait at most that long.
func (s *Store) Switch(ctx context.Context, t Target) (res Result, err error) {
	if t.Open == nil || (t.InPlace && t.Reopen == nil) {
		return res, errors.New("switchable storage: switch: Target.Open (and Reopen in place) required")
	}
	settle, batch := t.SettleTimeout, t.MoveBatch
	if settle <= 0 {
		settle = DefaultSettleTimeout
	}
	if batch <= 0 {
		batch = DefaultMoveBatch
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	start := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return res, fmt.Errorf("switchable storage: switch: %w", tbgateway.ErrStorageClosed)
	}
	if s.gen >= maxGen {
		s.mu.Unlock()
		return res, fmt.Errorf("switchable storage: switch: %d switches done, the most one run makes; restart the gateway", s.gen)
	}
	old := s.cur
	s.gate = make(chan struct{})
	s.stopCancel()
	s.mu.Unlock()
	swapped := false
	var moved []uint64 // the old store's sequence numbers of the records moved
	defer func() {
		s.mu.Lock()
		s.moving = false
		s.stop, s.stopCancel = context.WithCancel(context.Background())
		close(s.gate)
		s.gate = nil
		s.signalLocked()
		s.mu.Unlock()
		res.Took = time.Since(start)
		if swapped {
			res.Kept = s.retire(old, moved)
		}
	}()

	err = s.settle(ctx, settle)
	res.Settle = time.Since(start)
	if err != nil {
		return res, err
	}
	if t.InPlace {
		nw, err := s.reopenInPlace(ctx, old, t)
		if err != nil {
			return res, err
		}
		s.swap(old, nw)
		return res, nil
	}
	nw, err := t.Open(ctx)
	if err != nil {
		return res, fmt.Errorf("opening the new storage: %w", err)
	}
	res.Held = nw.Stats().Count
	s.mu.Lock()
	s.moving = true
	s.mu.Unlock()
	// Rewind ends the old store's live lane, so that Next hands out every record it holds, in Put order.
	old.Rewind()
	moved, err = move(ctx, old, nw, batch)
	if err == nil && t.Commit != nil {
		if cerr := t.Commit(ctx); cerr != nil {
			err = fmt.Errorf("the storage was not switched: %w", cerr)
		}
	}
	if err != nil {
		s.discard(nw, len(moved))
		old.Rewind() // what the move read goes to the uplink again
		moved = nil
		return res, err
	}
	res.Moved = len(moved)
	s.swap(old, nw)
	swapped = true
	return res, nil
}

// settle waits, with the gate closed, until no call runs on the current store and the uplink holds none of its
// records.
func (s *Store) settle(ctx context.Context, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s.mu.Lock()
		idle := s.puts == 0 && s.reads == 0 && s.acks == 0
		held := len(s.handed)
		changed := s.changed
		s.mu.Unlock()
		if idle && held == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-tctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for the records being sent to ThingsBoard: %w", ctx.Err())
			}
			return fmt.Errorf("%w (%d records still unacknowledged after %v); the storage was not switched", ErrNotSettled, held, timeout)
		}
	}
}

// move reads every record of old not yet acknowledged, oldest first, and puts it into nw in batches. It returns
// old's sequence numbers of the records moved.
func move(ctx context.Context, old, nw tbgateway.Storage, batch int) ([]uint64, error) {
	total := old.Stats().Count
	dropped := nw.Stats().Dropped
	seqs := make([]uint64, 0, total)
	recs := make([]tbgateway.Record, 0, batch)
	for len(seqs) < total {
		es, err := old.Next(ctx, min(batch, total-len(seqs)))
		if err != nil {
			return seqs, fmt.Errorf("reading the old storage after %d of %d records: %w", len(seqs), total, err)
		}
		recs = recs[:0]
		for _, e := range es {
			recs = append(recs, e.Record)
		}
		if err := nw.Put(ctx, recs); err != nil {
			if errors.Is(err, tbgateway.ErrStorageFull) {
				err = fmt.Errorf("%w: it refused records after %d of %d: %w", ErrNewStoreTooSmall, len(seqs), total, err)
			}
			return seqs, fmt.Errorf("moving records to the new storage: %w", err)
		}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if d := nw.Stats().Dropped; d != dropped {
			return seqs, fmt.Errorf("%w: it dropped %d records to make room after %d of %d were moved", ErrNewStoreTooSmall, d-dropped, len(seqs), total)
		}
	}
	return seqs, nil
}

// discard removes the copies a failed switch put into nw, then closes it: they are its newest n records (fewer
// if it dropped some, oldest first). What it cannot remove is logged: a later switch to that location delivers it
// again.
func (s *Store) discard(nw tbgateway.Storage, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultSettleTimeout)
	defer cancel()
	total := nw.Stats().Count
	left := min(n, total)
	skip := total - left
	for left > 0 {
		es, err := nw.Next(ctx, DefaultMoveBatch)
		if err != nil {
			break
		}
		acks := make([]uint64, 0, len(es))
		for _, e := range es {
			if skip > 0 {
				skip--
				continue
			}
			acks = append(acks, e.Seq)
		}
		if err := nw.Ack(acks...); err != nil {
			break
		}
		left -= len(acks)
	}
	if left > 0 {
		s.log.Warn("storage switch failed: a copy of records stays in the new storage's folder; running on that folder later sends them again",
			"records", left)
	}
	if err := nw.Close(); err != nil {
		s.log.Warn("storage switch failed: closing the new storage", "err", err)
	}
}

// reopenInPlace closes old and opens the new settings on its files; when that fails it opens old's settings
// again.
func (s *Store) reopenInPlace(ctx context.Context, old tbgateway.Storage, t Target) (tbgateway.Storage, error) {
	s.mu.Lock()
	s.moving = true
	s.mu.Unlock()
	if err := old.Close(); err != nil {
		s.log.Warn("storage switch: closing the storage to reopen it with new settings", "err", err)
	}
	nw, err := t.Open(ctx)
	if err == nil {
		return nw, nil
	}
	again, rerr := t.Reopen(context.WithoutCancel(ctx))
	if rerr != nil {
		s.swap(old, failed{fmt.Errorf("the storage could be opened neither with the new settings (%v) nor with the old ones: %w", err, rerr)})
		return nil, fmt.Errorf("opening the storage with the new settings: %w; reopening it with the old settings failed too, so nothing can be stored until the gateway restarts: %w", err, rerr)
	}
	s.swap(old, again)
	return nil, fmt.Errorf("opening the storage with the new settings: %w (the old settings are back)", err)
}

// swap installs nw as the current store. The gate stays closed; Switch opens it.
func (s *Store) swap(old, nw tbgateway.Storage) {
	st := old.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base.Dropped += st.Dropped
	s.base.Refused += st.Refused
	s.base.Redelivered += st.Redelivered
	s.cur = nw
	s.gen++
	clear(s.handed)
}

// retire acknowledges the moved records in the old store and closes it. It returns how many stay there.
func (s *Store) retire(old tbgateway.Storage, seqs []uint64) int {
	kept := 0
	for len(seqs) > 0 {
		n := min(len(seqs), 10*DefaultMoveBatch)
		if err := old.Ack(seqs[:n]...); err != nil {
			kept = len(seqs)
			s.log.Warn("storage switched, but the old storage keeps records already moved: its files are kept; running on them later sends those records again",
				"records", kept, "err", err)
			break
		}
		seqs = seqs[n:]
	}
	if err := old.Close(); err != nil {
		s.log.Warn("storage switched: closing the old storage", "err", err)
	}
	return kept
}

// failed is the store left when neither the new nor the old settings could be opened: every call fails.
type failed struct{ err error }

func (f failed) Put(context.Context, []tbgateway.Record) error { return f.wrap("put") }
func (f failed) Next(ctx context.Context, _ int) ([]tbgateway.Entry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (f failed) Ack(...uint64) error           { return f.wrap("ack") }
func (f failed) Rewind()                       {}
func (f failed) Stats() tbgateway.StorageStats { return tbgateway.StorageStats{} }
func (f failed) Close() error                  { return nil }
func (f failed) wrap(op string) error          { return fmt.Errorf("storage %s: %w", op, f.err) }
