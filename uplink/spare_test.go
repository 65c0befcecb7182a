package uplink

import (
	"testing"
	"time"
)

// Best-effort traffic takes from a bucket only while it stays half full, so data, which drains it, always wins.
func TestReserveSpareKeepsHalfTheBucket(t *testing.T) {
	now := time.Now()
	r := newRateSet(rateSpec{msgs: []RateWindow{{10, time.Second}}}, now)
	got := 0
	for r.reserveSpare(1, 1, 1, now) {
		got++
	}
	if got != 5 {
		t.Fatalf("spare reservations from a full bucket of 10: %d, want 5", got)
	}
	// Data takes what is left: the spare path never made it wait.
	if w := r.reserve(5, 0, 0, now); w != 0 {
		t.Fatalf("data had to wait %v after best-effort reservations", w)
	}
	if r.reserveSpare(1, 1, 1, now.Add(400*time.Millisecond)) {
		t.Fatal("a spare reservation succeeded while data keeps the bucket below half")
	}
	if !(*rateSet)(nil).reserveSpare(1, 1, 1, now) {
		t.Fatal("no limits configured, yet no spare room")
	}
}
