package report

import (
	"container/heap"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Tx is a set of filter decisions not yet applied to the Filter: the caller decides what to forward with
// Tx.Apply, stores it, and calls Commit only once the store succeeded, so that a failed store leaves the filter as
// it was and a retry of the same values is decided the same way. A Tx is used by one goroutine; several may be
// open at once. Two open Txs do not see each other's decisions, so concurrent Txs may both forward one changed
// value (a duplicate, never a loss).
type Tx struct {
	f        *Filter
	pending  map[cacheKey]*pending
	order    []cacheKey
	filtered uint64
}

// pending is a cached value as a Tx left it.
type pending struct {
	exists     bool // false: the strategy passes the key through, so nothing is cached
	fresh      bool // a first value: it replaces whatever the filter holds at Commit
	strategy   Strategy
	value      any
	seen       time.Time
	due        time.Time // first periodic re-send of a fresh value
	deviceType string
}

// Begin opens a Tx on the filter.
func (f *Filter) Begin() *Tx { return &Tx{f: f} }

// Apply decides the values of rec received at now as Filter.Apply does, seeing the filter as this Tx's earlier
// decisions left it, without changing the filter. It returns the record holding only the values to forward, and
// false when nothing is left. Records other than KindData pass unchanged.
func (tx *Tx) Apply(now time.Time, rec tbgateway.Record) (tbgateway.Record, bool) {
	if rec.Kind != tbgateway.KindData {
		return rec, true
	}
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolver == nil {
		return rec, true
	}
	out := rec
	out.Attributes, out.Telemetry = nil, nil
	for k, v := range rec.Attributes {
		if tx.keep(now, rec, k, v, true) {
			if out.Attributes == nil {
				out.Attributes = make(map[string]any, len(rec.Attributes))
			}
			out.Attributes[k] = v
		}
	}
	for _, t := range rec.Telemetry {
		var vals map[string]any
		for k, v := range t.Values {
			if tx.keep(now, rec, k, v, false) {
				if vals == nil {
					vals = make(map[string]any, len(t.Values))
				}
				vals[k] = v
			}
		}
		if vals != nil {
			out.Telemetry = append(out.Telemetry, tbgateway.Telemetry{TS: t.TS, Values: vals})
		}
	}
	return out, out.Datapoints() > 0
}

// keep decides one value against the Tx's view of the cache and records the outcome; f.mu is held.
func (tx *Tx) keep(now time.Time, rec tbgateway.Record, k string, v any, attr bool) bool {
	s := tx.f.resolver.Resolve(rec.Connector, rec.Device, k)
	ck := cacheKey{rec.Connector, rec.Device, k, attr}
	cur, seen := tx.pending[ck]
	if !seen {
		cur = &pending{}
		if e, ok := tx.f.cache[ck]; ok {
			*cur = pending{exists: true, strategy: e.strategy, value: e.value, seen: e.seen, deviceType: e.deviceType}
		}
		if tx.pending == nil {
			tx.pending = map[cacheKey]*pending{}
		}
		tx.pending[ck] = cur
		tx.order = append(tx.order, ck)
	}
	if s.passThrough() {
		*cur = pending{}
		return true
	}
	if cur.exists && (cur.strategy != s || s.TTL > 0 && now.Sub(cur.seen) >= s.TTL) {
		cur.exists = false
	}
	if !cur.exists {
		*cur = pending{exists: true, fresh: true, strategy: s, value: v, seen: now, deviceType: rec.DeviceType}
		if s.periodic() {
			cur.due = now.Add(s.Period)
		}
		return true
	}
	changed := !equal(cur.value, v)
	cur.value, cur.seen, cur.deviceType = v, now, rec.DeviceType
	if changed && s.Type != OnReportPeriod {
		return true
	}
	tx.filtered++
	return false
}

// Commit applies the Tx's decisions to the filter. A Tx is committed at most once; one that is dropped instead
// changes nothing.
func (tx *Tx) Commit() {
	if len(tx.order) == 0 {
		return
	}
	f := tx.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Filtered += tx.filtered
	for _, ck := range tx.order {
		p := tx.pending[ck]
		e, ok := f.cache[ck]
		switch {
		case !p.exists:
			if ok {
				f.forget(e)
			}
		case !p.fresh && ok && e.strategy == p.strategy:
			e.value, e.seen, e.deviceType = p.value, p.seen, p.deviceType
		default:
			if ok {
				f.forget(e)
			}
			f.insert(ck, p)
		}
	}
	tx.order, tx.pending = nil, nil
}

// insert caches a first value and schedules its periodic re-send; f.mu is held.
func (f *Filter) insert(ck cacheKey, p *pending) {
	e := &entry{key: ck, deviceType: p.deviceType, strategy: p.strategy, value: p.value, seen: p.seen, index: -1}
	f.cache[ck] = e
	if !p.strategy.periodic() {
		return
	}
	e.due = p.due
	if e.due.IsZero() { // a value updated in a Tx whose entry vanished meanwhile: schedule from its time
		e.due = p.seen.Add(p.strategy.Period)
	}
	heap.Push(&f.due, e)
	if f.due[0] == e {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}
