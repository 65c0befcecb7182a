package logging

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Remote logging defaults (the Python gateway's queue of 1000 lines and batches of 20).
const (
	DefaultQueueLines        = 1000
	DefaultBatchLines        = 20
	DefaultMessagesPerSecond = 10
	// MaxLineBytes bounds one remote line; a longer one is cut and ends with "…".
	MaxLineBytes = 4096
)

// The error counters' periods, as in the Python gateway: sent every 5 s when changed, reset every minute.
const (
	errorsSendPeriod  = 5 * time.Second
	errorsResetPeriod = time.Minute
)

// remote modes: RemoteLoggingLevel never received, NONE, or a level.
const (
	modeUnset int32 = iota
	modeOff
	modeOn
)

// remote is the state of remote logging: the level, the bounded queue of lines and the error counters.
type remote struct {
	now  func() time.Time
	mode atomic.Int32
	lvl  atomic.Int64 // the service loggers' remote level while modeOn

	mu     sync.Mutex
	q      []entry // ring buffer of cap lines
	head   int
	n      int
	lastTS int64
	wake   chan struct{}

	lines, sent, dropped atomic.Uint64

	errMu   sync.Mutex
	errs    map[string]int64
	errsAll int64
}

// entry is one queued remote line.
type entry struct {
	ts   int64
	key  string
	logs bool // also sent as "LOGS" (the service loggers' lines, as in the Python gateway)
	line string
}

func newRemote(now func() time.Time) *remote {
	return &remote{now: now, q: make([]entry, DefaultQueueLines), wake: make(chan struct{}, 1), errs: map[string]int64{}}
}

// level is the service loggers' remote level (LevelNone unless RemoteLoggingLevel names a level).
func (r *remote) level() slog.Level {
	if r.mode.Load() != modeOn {
		return LevelNone
	}
	return slog.Level(r.lvl.Load())
}

// connectorsOn reports whether connectors with enableRemoteLogging stream: always, unless RemoteLoggingLevel is
// NONE (as in the Python gateway, whose connector loggers stream at their own level until it is).
func (r *remote) connectorsOn() bool { return r.mode.Load() != modeOff }

// enqueue adds a line; when the queue is full the oldest line is dropped and counted. Timestamps are made
// strictly increasing, since ThingsBoard keeps one value per key and millisecond.
func (r *remote) enqueue(key string, logs bool, line string) {
	if len(line) > MaxLineBytes {
		line = cutUTF8(line, MaxLineBytes-len("…")) + "…"
	}
	ts := r.now().UnixMilli()
	r.mu.Lock()
	ts = max(ts, r.lastTS+1)
	r.lastTS = ts
	if r.n == len(r.q) {
		r.q[r.head] = entry{}
		r.head = (r.head + 1) % len(r.q)
		r.n--
		r.dropped.Add(1)
	}
	r.q[(r.head+r.n)%len(r.q)] = entry{ts: ts, key: key, logs: logs, line: line}
	r.n++
	r.mu.Unlock()
	r.lines.Add(1)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take removes and returns up to max queued lines, oldest first.
func (r *remote) take(max int) []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]entry, min(max, r.n))
	for i := range out {
		out[i] = r.q[r.head]
		r.q[r.head] = entry{}
		r.head = (r.head + 1) % len(r.q)
		r.n--
	}
	return out
}

// putBack returns taken lines to the front of the queue; those that no longer fit (the oldest) are dropped and
// counted.
func (r *remote) putBack(batch []entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(batch) - 1; i >= 0; i-- {
		if r.n == len(r.q) {
			r.dropped.Add(uint64(i + 1))
			return
		}
		r.head = (r.head - 1 + len(r.q)) % len(r.q)
		r.q[r.head] = batch[i]
		r.n++
	}
}

// clear empties the queue.
func (r *remote) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.q)
	r.head, r.n = 0, 0
}

func (r *remote) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// countError counts one error-level record of a logger.
func (r *remote) countError(key string) {
	r.errMu.Lock()
	r.errs[key]++
	r.errsAll++
	r.errMu.Unlock()
}

// SetRemoteLevel applies RemoteLoggingLevel: LevelNone stops remote logging (and empties its queue: those lines
// are neither sent nor counted as dropped), any other
// level streams the service, tb_connection, storage and extension loggers at that level.
func (l *Logs) SetRemoteLevel(lv slog.Level) {
	r := l.remote
	if lv >= LevelNone {
		r.mode.Store(modeOff)
		r.clear()
		return
	}
	r.lvl.Store(int64(lv))
	r.mode.Store(modeOn)
}

// RemoteStats are remote logging's counters.
type RemoteStats struct {
	Lines   uint64 // lines queued since the start
	Queued  int    // lines waiting now
	Sent    uint64 // lines ThingsBoard acknowledged
	Dropped uint64 // lines dropped: the queue was full, or ThingsBoard refused their message
}

// RemoteStats returns remote logging's counters.
func (l *Logs) RemoteStats() RemoteStats {
	return RemoteStats{Lines: l.remote.lines.Load(), Queued: l.remote.pending(), Sent: l.remote.sent.Load(), Dropped: l.remote.dropped.Load()}
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
