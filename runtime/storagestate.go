package runtime

import (
	"context"
	"errors"
	"sync"

	"github.com/tbgateway/tbgateway"
)

// StorageState is the storage's fullness as the gateway last saw it, served in gateway_stats.
type StorageState struct {
	// Full is true while Puts fail because the store (or its disk) is full (policy refuse-new, or a full disk).
	Full bool `json:"full"`
	// Dropping is true while Puts make room by dropping the oldest records (policy drop-oldest).
	Dropping bool `json:"dropping"`
	// FullEpisodes and DropEpisodes count how often the storage became full, and began dropping.
	FullEpisodes uint64 `json:"fullEpisodes"`
	DropEpisodes uint64 `json:"dropEpisodes"`
}

// storageWatch turns the outcome of each Put into state changes, so that a full storage is logged once when it
// fills and once when it accepts records again (or stops dropping), never per record.
type storageWatch struct {
	mu          sync.Mutex
	state       StorageState
	lastDropped uint64
}

// put stores recs, tracking and logging the storage's state changes. Its error is Put's, wrapped by the caller.
func (g *Gateway) put(ctx context.Context, recs []tbgateway.Record) error {
	err := g.store.Put(ctx, recs)
	full := errors.Is(err, tbgateway.ErrStorageFull)
	if err != nil && !full {
		return err
	}
	w := &g.storageWatch
	w.mu.Lock()
	defer w.mu.Unlock()
	st := g.store.Stats()
	dropped := st.Dropped
	switch {
	case full && !w.state.Full:
		w.state.Full = true
		w.state.FullEpisodes++
		g.log.Warn("storage is full: new records are refused and their connectors get an error until ThingsBoard takes the backlog",
			"type", g.config().Storage.Type, "policy", g.config().Storage.FullPolicy, "stored", st.Count, "refused", st.Refused, "err", err)
	case !full && w.state.Full:
		w.state.Full = false
		g.log.Info("storage accepts new records again", "type", g.config().Storage.Type, "stored", st.Count, "refused", st.Refused)
	}
	switch grew := dropped > w.lastDropped; {
	case grew && !w.state.Dropping:
		w.state.Dropping = true
		w.state.DropEpisodes++
		g.log.Warn("storage is full: the oldest records are dropped to make room for new ones",
			"type", g.config().Storage.Type, "policy", g.config().Storage.FullPolicy, "stored", st.Count, "dropped", dropped)
	case !grew && w.state.Dropping && !full:
		w.state.Dropping = false
		g.log.Info("storage has room again: no more records are dropped", "type", g.config().Storage.Type, "stored", st.Count, "dropped", dropped)
	}
	w.lastDropped = max(w.lastDropped, dropped)
	return err
}

// storageState returns the current storage state.
func (g *Gateway) storageState() StorageState {
	g.storageWatch.mu.Lock()
	defer g.storageWatch.mu.Unlock()
	return g.storageWatch.state
}
