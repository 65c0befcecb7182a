package report

import (
	"bytes"
	"container/heap"
	"context"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// EmitFunc takes the records of periodic re-sends (to the same place Apply's output goes: storage).
type EmitFunc func(ctx context.Context, recs []tbgateway.Record) error

// Stats are a Filter's counters.
type Stats struct {
	// Filtered counts values Apply held back (unchanged, or cached for the next period).
	Filtered uint64
	// Resent counts values re-sent by the periodic loop.
	Resent uint64
	// EmitErrors counts failed emit calls; their values are re-sent at the next period.
	EmitErrors uint64
	// Cached is the number of values in the cache.
	Cached int
}

type cacheKey struct {
	connector, device, key string
	attr                   bool
}

type entry struct {
	key        cacheKey
	deviceType string
	strategy   Strategy
	value      any
	seen       time.Time // last time a value was received
	due        time.Time // next periodic re-send
	index      int       // in the due heap; -1 when not queued
}

// Filter applies report strategies to records and re-sends cached values periodically. Apply may be called
// concurrently with itself and with Run.
type Filter struct {
	emit EmitFunc
	log  *slog.Logger
	kick chan struct{} // wakes Run when an earlier re-send is scheduled

	mu       sync.Mutex
	resolver *Resolver
	cache    map[cacheKey]*entry
	due      dueHeap
	stats    Stats
	failing  bool
	swept    time.Time // last sweep of expired values
}

// New returns a filter using r (nil forwards everything). emit receives the periodic re-sends made by Run; log
// receives one line when re-sends start failing and one when they work again.
func New(r *Resolver, emit EmitFunc, log *slog.Logger) *Filter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Filter{emit: emit, log: log, kick: make(chan struct{}, 1), resolver: r, cache: map[cacheKey]*entry{}}
}

// SetResolver replaces the strategies (after a configuration change). Cached values whose strategy changed
// start over: their next value counts as a first value.
func (f *Filter) SetResolver(r *Resolver) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resolver = r
}

// Stats returns the filter's counters.
func (f *Filter) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stats
	st.Cached = len(f.cache)
	return st
}

// Apply filters the values of rec received at now and updates the filter at once. It returns the record holding
// only the values to forward now, and false when nothing is left. Records other than KindData pass unchanged.
// rec itself is not modified. A caller that may fail to store what Apply forwards uses Begin instead.
func (f *Filter) Apply(now time.Time, rec tbgateway.Record) (tbgateway.Record, bool) {
	tx := f.Begin()
	out, ok := tx.Apply(now, rec)
	tx.Commit()
	return out, ok
}

func (f *Filter) forget(e *entry) {
	delete(f.cache, e.key)
	if e.index >= 0 {
		heap.Remove(&f.due, e.index)
	}
}

// equal compares two values the way the Python gateway does: numbers are equal when they differ by less than
// 0.001, other values when they are identical.
func equal(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum && bNum {
		return math.Abs(fa-fb) < 0.001
	}
	if ra, ok := a.(tbgateway.RawJSON); ok {
		rb, ok := b.(tbgateway.RawJSON)
		return ok && bytes.Equal(ra, rb)
	}
	if aNum != bNum {
		return false
	}
	switch a.(type) {
	case bool, string:
		return a == b
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// Run re-sends cached values when their period comes, stamped with the time of the re-send, and forgets values
// older than their TTL. Values of one device due at the same moment go out as one record. Run returns nil when
// ctx is done.
func (f *Filter) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		recs, wait := f.collect(now)
		if len(recs) > 0 {
			err := f.emit(ctx, recs)
			f.noteEmit(err, len(recs))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-f.kick:
		}
	}
}

// idleWait is how long Run sleeps when nothing is scheduled (a new schedule wakes it earlier); it is also how
// often expired values that have no schedule are swept from the cache.
const idleWait = 30 * time.Second

// collect pops every re-send due at now and returns them as records, and how long to wait for the next one.
func (f *Filter) collect(now time.Time) ([]tbgateway.Record, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byDevice := map[[2]string]*tbgateway.Record{}
	var order [][2]string
	ts := now.UnixMilli()
	for len(f.due) > 0 && !f.due[0].due.After(now) {
		e := f.due[0]
		if e.strategy.TTL > 0 && now.Sub(e.seen) >= e.strategy.TTL {
			f.forget(e)
			continue
		}
		e.due = e.due.Add(e.strategy.Period)
		if !e.due.After(now) { // Run fell behind by more than a period: skip the missed ones
			e.due = now.Add(e.strategy.Period)
		}
		heap.Fix(&f.due, 0)
		dk := [2]string{e.key.connector, e.key.device}
		r := byDevice[dk]
		if r == nil {
			r = &tbgateway.Record{Device: e.key.device, DeviceType: e.deviceType, Connector: e.key.connector}
			byDevice[dk] = r
			order = append(order, dk)
		}
		if e.key.attr {
			if r.Attributes == nil {
				r.Attributes = map[string]any{}
			}
			r.Attributes[e.key.key] = e.value
		} else {
			if r.Telemetry == nil {
				r.Telemetry = []tbgateway.Telemetry{{TS: ts, Values: map[string]any{}}}
			}
			r.Telemetry[0].Values[e.key.key] = e.value
		}
		f.stats.Resent++
	}
	f.sweep(now)
	wait := idleWait
	if len(f.due) > 0 {
		wait = f.due[0].due.Sub(now)
	}
	sort.Slice(order, func(i, j int) bool {
		return order[i][0] < order[j][0] || order[i][0] == order[j][0] && order[i][1] < order[j][1]
	})
	recs := make([]tbgateway.Record, 0, len(order))
	for _, dk := range order {
		recs = append(recs, *byDevice[dk])
	}
	return recs, wait
}

// sweep forgets, at most once per idleWait, non-periodic cached values past their TTL (to bound memory; Apply
// checks the TTL itself). Periodic ones are checked when they fall due.
func (f *Filter) sweep(now time.Time) {
	if now.Sub(f.swept) < idleWait {
		return
	}
	f.swept = now
	for _, e := range f.cache {
		if e.index < 0 && e.strategy.TTL > 0 && now.Sub(e.seen) >= e.strategy.TTL {
			delete(f.cache, e.key)
		}
	}
}

func (f *Filter) noteEmit(err error, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.stats.EmitErrors++
		if !f.failing {
			f.failing = true
			f.log.Warn("report strategy: periodic re-send failed; values are re-sent next period", "records", n, "err", err)
		}
		return
	}
	if f.failing {
		f.failing = false
		f.log.Info("report strategy: periodic re-send works again")
	}
}

// dueHeap orders periodic entries by their next re-send.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
