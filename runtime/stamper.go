package runtime

import (
	"slices"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
)

// Stamper gives telemetry without a device timestamp the gateway's receive time, once per incoming message, and
// keeps those timestamps strictly increasing per device: two readings of one device that arrive within the same
// millisecond get consecutive milliseconds instead of overwriting each other at ThingsBoard (which keys telemetry
// by key and ts). Timestamps a device sent itself are never changed. Safe for concurrent use.
type Stamper struct {
	mu   sync.Mutex
	last map[string]int64
}

// NewStamper returns an empty Stamper.
func NewStamper() *Stamper { return &Stamper{last: make(map[string]int64)} }

// Stamp sets TS on every telemetry entry of rec whose TS is zero. All such entries of one record share one
// timestamp, so one incoming message gets one timestamp. rec.Telemetry is replaced by a stamped copy, so that
// records sharing the slice are not changed.
func (s *Stamper) Stamp(rec *tbgateway.Record, now time.Time) { s.stamp(rec, now) }

// stamp is Stamp returning what Unstamp needs to take the timestamp back; ok is false when nothing was stamped.
func (s *Stamper) stamp(rec *tbgateway.Record, now time.Time) (st stamp, ok bool) {
	need := false
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			need = true
			break
		}
	}
	if !need {
		return stamp{}, false
	}
	ts := now.UnixMilli()
	s.mu.Lock()
	prev, had := s.last[rec.Device]
	if had && ts <= prev {
		ts = prev + 1
	}
	s.last[rec.Device] = ts
	s.mu.Unlock()
	rec.Telemetry = slices.Clone(rec.Telemetry) // the caller's records stay as they were
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			rec.Telemetry[i].TS = ts
		}
	}
	return stamp{device: rec.Device, ts: ts, prev: prev, had: had}, true
}

// stamp is one timestamp given by the Stamper and the device's state before it.
type stamp struct {
	device   string
	ts, prev int64
	had      bool
}

// unstamp takes back timestamps whose records were not stored, latest first, so that a retry gets the same
// timestamps at the same time. A timestamp given out later by another call stays: the device's next timestamp
// is still above every one handed out.
func (s *Stamper) unstamp(sts []stamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(sts) - 1; i >= 0; i-- {
		st := sts[i]
		if s.last[st.device] != st.ts {
			continue
		}
		if st.had {
			s.last[st.device] = st.prev
		} else {
			delete(s.last, st.device)
		}
	}
}

// Forget drops the state kept for a device (after it was deleted or renamed).
func (s *Stamper) Forget(device string) {
	s.mu.Lock()
	delete(s.last, device)
	s.mu.Unlock()
}
