package logging

import (
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// timedWriter is timed rotation (Python's TimedRotatingFileHandler) on top of lumberjack, which keeps the size
// limit and the number of backups: a write at or after the next rotation time first rotates the file
// (lumberjack's Rotate renames it to name-<timestamp>.ext and removes backups beyond backupCount), then the next
// rotation time moves on by the period. MIDNIGHT and D rotate at local midnight (D every interval days),
// W0..W6 every 7×interval days, S, M and H every interval seconds, minutes or hours from the start.
type timedWriter struct {
	mu     sync.Mutex
	w      *lumberjack.Logger
	period time.Duration
	daily  bool
	now    func() time.Time
	next   time.Time
}

func newTimedWriter(w *lumberjack.Logger, when string, interval int, now func() time.Time) *timedWriter {
	if now == nil {
		now = time.Now
	}
	t := &timedWriter{w: w, now: now}
	n := time.Duration(max(interval, 1))
	switch when {
	case "S":
		t.period = n * time.Second
	case "M":
		t.period = n * time.Minute
	case "H":
		t.period = n * time.Hour
	case "MIDNIGHT":
		t.period, t.daily = 24*time.Hour, true
	case "D":
		t.period, t.daily = n*24*time.Hour, true
	default: // W0..W6
		t.period, t.daily = n*7*24*time.Hour, true
	}
	t.next = t.after(now())
	return t
}

// after is the first rotation time after from.
func (t *timedWriter) after(from time.Time) time.Time {
	if !t.daily {
		return from.Add(t.period)
	}
	y, m, d := from.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, from.Location())
	return midnight.Add(t.period)
}

// Write rotates when the period is over, then writes p.
func (t *timedWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.now(); !now.Before(t.next) {
		if err := t.w.Rotate(); err != nil {
			return 0, err
		}
		t.next = t.after(now)
	}
	return t.w.Write(p)
}
