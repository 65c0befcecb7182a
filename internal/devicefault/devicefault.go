// Package devicefault is the connector kit's one way to report device-side faults: a register a Modbus device
// refuses or does not answer for, an OPC-UA node that does not exist, an MQTT topic whose payload cannot be
// converted. A connector keeps one Tracker and tells it, per key (a device, a device's address, a node, a topic),
// whether the last attempt failed (Fail) or worked (OK).
//
// The Tracker logs once per state change: a warning when a key starts failing, an info line when it recovers
// (with how many faults the episode had and how long it lasted), and repeats only at debug level. It counts every
// fault for the statistics (Stats, the connector's tbgateway.DeviceFaultReporter). Other keys are untouched: a
// fault of one key never changes the state of another.
//
// Memory is bounded: only failing keys are remembered, at most Options.MaxKeys of them. When a key starts failing
// while that many are failing already, the key whose last fault is the oldest is forgotten without a recovery
// line (it is still counted in Stats.Faults); should it fail again it is logged again as a new episode. The first
// such eviction of an overflow is logged once as a warning, and again only after the failing keys fell to half
// the cap. OK on a healthy key costs one atomic load, so it can be called for every good message.
//
//	faults := devicefault.New(log, devicefault.Options{})
//	if err != nil {
//		faults.Fail(device+"\x00"+addr, err, "device", device, "address", addr)
//	} else {
//		faults.OK(device + "\x00" + addr)
//	}
package devicefault

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tbgateway/tbgateway"
)

// DefaultMaxKeys is the number of failing keys a Tracker remembers when Options.MaxKeys is 0.
const DefaultMaxKeys = 1024

// Options configure a Tracker.
type Options struct {
	// MaxKeys bounds the failing keys remembered; 0 means DefaultMaxKeys.
	MaxKeys int
}

// Tracker remembers which keys are failing, logs their state changes and counts faults. It is safe for
// concurrent use; the zero value is not usable, use New.
type Tracker struct {
	log    *slog.Logger
	max    int
	faults atomic.Uint64
	active atomic.Int64

	mu       sync.Mutex
	keys     map[string]*list.Element // of *episode
	lru      list.List                // front: the most recent fault
	overflow bool                     // evicting since the failing keys last fell to max/2
}

// episode is one failing key's state.
type episode struct {
	key    string
	attrs  []any // what the start line named, repeated in the recovery line
	since  time.Time
	faults uint64
}

// New returns a Tracker logging to log (nil discards).
func New(log *slog.Logger, opts Options) *Tracker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	max := opts.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	return &Tracker{log: log, max: max, keys: map[string]*list.Element{}}
}

// Fail records a fault of key and reports whether it starts an episode (the key was not failing). The start is
// logged as a warning "device fault" with attrs (slog key-value pairs naming the device and its address, node or
// topic) and err; a repeat only at debug level. attrs are kept for the recovery line.
func (t *Tracker) Fail(key string, err error, attrs ...any) bool {
	t.faults.Add(1)
	t.mu.Lock()
	if el, ok := t.keys[key]; ok {
		ep := el.Value.(*episode)
		ep.faults++
		n := ep.faults
		t.lru.MoveToFront(el)
		t.mu.Unlock()
		if t.log.Enabled(context.Background(), slog.LevelDebug) {
			t.log.Debug("device fault repeats", append(attrs[:len(attrs):len(attrs)], "err", err, "faults", n)...)
		}
		return false
	}
	// state changes are logged under the lock, so a key's start and recovery lines keep their order
	defer t.mu.Unlock()
	if len(t.keys) >= t.max {
		oldest := t.lru.Back()
		t.lru.Remove(oldest)
		delete(t.keys, oldest.Value.(*episode).key)
		t.active.Add(-1)
		if !t.overflow {
			t.overflow = true
			t.log.Warn("more devices, addresses or topics are failing than are tracked; the longest quiet are "+
				"forgotten and logged again if they fail again", "tracked", t.max)
		}
	}
	t.keys[key] = t.lru.PushFront(&episode{key: key, attrs: attrs, since: time.Now(), faults: 1})
	t.active.Add(1)
	t.log.Warn("device fault", append(attrs[:len(attrs):len(attrs)], "err", err)...)
	return true
}

// OK records that key worked and reports whether that ends an episode; the end is logged at info level as
// "device fault cleared" with the attrs of the episode's start, its fault count and its duration.
func (t *Tracker) OK(key string) bool {
	if t.active.Load() == 0 {
		return false
	}
	t.mu.Lock()
	el, ok := t.keys[key]
	if !ok {
		t.mu.Unlock()
		return false
	}
	defer t.mu.Unlock()
	ep := el.Value.(*episode)
	t.lru.Remove(el)
	delete(t.keys, key)
	t.active.Add(-1)
	if len(t.keys) <= t.max/2 {
		t.overflow = false
	}
	t.log.Info("device fault cleared", append(ep.attrs[:len(ep.attrs):len(ep.attrs)],
		"faults", ep.faults, "failedFor", time.Since(ep.since).Round(time.Millisecond))...)
	return true
}

// Failing reports whether key is in a fault episode.
func (t *Tracker) Failing(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.keys[key]
	return ok
}

// Stats returns the faults counted since New and the keys failing now; a connector's DeviceFaults returns it.
func (t *Tracker) Stats() tbgateway.DeviceFaultStats {
	return tbgateway.DeviceFaultStats{Faults: t.faults.Load(), Active: int(t.active.Load())}
}
