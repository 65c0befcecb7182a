package runtime

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
)

// Stamper gives telemetry without a device timestamp the gateway's receive time, once per incoming message, and
// keeps those timestamps strictly increasing per device: two readings of one device that arrive within the same
// millisecond get consecutive milliseconds instead of overwriting each other at ThingsBoard (which keys telemetry
// by key and ts). Timestamps a device sent itself are never changed. Safe for concurrent use.
//
// A burst of more than one message per millisecond of one device pushes its timestamps ahead of the clock. A
// Stamper opened with OpenStamper keeps the highest such timestamp in a state file, so that after a restart
// (a crash and kill -9 included) every device's timestamps start above every timestamp given out before.
type Stamper struct {
	mu   sync.Mutex
	last map[string]int64
	// floor is the lowest timestamp the Stamper may give out: one above the state file's at start.
	floor int64
	// state is the state file, nil without one; saved is the timestamp it holds (only ever grows).
	state *stamperState
	saved int64
}

// NewStamper returns an empty Stamper that keeps its state in memory only.
func NewStamper() *Stamper { return &Stamper{last: make(map[string]int64)} }

// OpenStamper returns a Stamper keeping its high-water mark in the file at path (see StamperStateFile): its
// timestamps are all above the one saved there. A missing file is the first start; a corrupt one is logged and
// the Stamper starts from the clock; a file that cannot be opened is logged and the Stamper keeps its state in
// memory only. Close it when done.
func OpenStamper(path string, log *slog.Logger) *Stamper {
	s := NewStamper()
	st, saved, ok, err := openStamperState(path)
	if err != nil {
		log.Warn("stamper state unusable: timestamps start from the clock", "file", path, "err", err)
	}
	s.state = st
	if ok {
		s.saved, s.floor = saved, saved+1
	}
	return s
}

// Close closes the state file, if any; later stamps ahead of the clock fail.
func (s *Stamper) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		return nil
	}
	return s.state.close()
}

// Stamp sets TS on every telemetry entry of rec whose TS is zero. All such entries of one record share one
// timestamp, so one incoming message gets one timestamp. rec.Telemetry is replaced by a stamped copy, so that
// records sharing the slice are not changed.
// It fails, leaving rec and the Stamper unchanged, only when a timestamp ahead of the clock cannot be saved.
func (s *Stamper) Stamp(rec *tbgateway.Record, now time.Time) error {
	_, _, err := s.stamp(rec, now)
	return err
}

// stamp is Stamp returning what unstamp needs to take the timestamp back; ok is false when nothing was stamped.
func (s *Stamper) stamp(rec *tbgateway.Record, now time.Time) (st stamp, ok bool, err error) {
	need := false
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			need = true
			break
		}
	}
	if !need {
		return stamp{}, false, nil
	}
	clock := now.UnixMilli()
	ts := clock
	s.mu.Lock()
	prev, had := s.last[rec.Device]
	if had && ts <= prev {
		ts = prev + 1
	}
	ts = max(ts, s.floor)
	// Only a timestamp ahead of the clock is saved: a restarted gateway's clock is past every other one.
	if s.state != nil && ts > clock && ts > s.saved {
		if err := s.state.save(ts); err != nil {
			s.mu.Unlock()
			return stamp{}, false, err
		}
		s.saved = ts
	}
	s.last[rec.Device] = ts
	s.mu.Unlock()
	rec.Telemetry = slices.Clone(rec.Telemetry) // the caller's records stay as they were
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			rec.Telemetry[i].TS = ts
		}
	}
	return stamp{device: rec.Device, ts: ts, prev: prev, had: had}, true, nil
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
