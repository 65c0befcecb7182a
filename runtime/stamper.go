package runtime

import (
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
// timestamp, so one incoming message gets one timestamp.
func (s *Stamper) Stamp(rec *tbgateway.Record, now time.Time) {
	need := false
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			need = true
			break
		}
	}
	if !need {
		return
	}
	ts := now.UnixMilli()
	s.mu.Lock()
	if prev := s.last[rec.Device]; ts <= prev {
		ts = prev + 1
	}
	s.last[rec.Device] = ts
	s.mu.Unlock()
	for i := range rec.Telemetry {
		if rec.Telemetry[i].TS == 0 {
			rec.Telemetry[i].TS = ts
		}
	}
}

// Forget drops the state kept for a device (after it was deleted or renamed).
func (s *Stamper) Forget(device string) {
	s.mu.Lock()
	delete(s.last, device)
	s.mu.Unlock()
}
