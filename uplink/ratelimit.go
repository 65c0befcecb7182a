package uplink

import (
	"math"
	"time"

	"github.com/tbgateway/tbgateway/internal/ratelimit"
)

// RateWindow is one "cap:sec" term of a ThingsBoard rate limit: at most Cap units per Per.
type RateWindow struct {
	Cap int
	Per time.Duration
}

// ParseRateLimits parses ThingsBoard's "cap:sec,cap:sec" form with the gateway's one parser
// (internal/ratelimit.Parse, which check-config uses too): "," or ";" between windows, "0:0" for no limit, an
// empty string or a DEFAULT_* placeholder for none configured (nil).
func ParseRateLimits(s string) ([]RateWindow, error) {
	ws, err := ratelimit.Parse(s)
	if err != nil || ws == nil {
		return nil, err
	}
	out := make([]RateWindow, len(ws))
	for i, w := range ws {
		out[i] = RateWindow(w)
	}
	return out, nil
}

// rateShare is the part of a server limit the uplink uses, like the Python gateway (80%), so that clock skew and
// the server's own accounting never push a burst over the edge.
const rateShare = 0.8

// scaleWindows applies rateShare, keeping at least one unit per window.
func scaleWindows(ws []RateWindow) []RateWindow {
	out := make([]RateWindow, len(ws))
	for i, w := range ws {
		out[i] = RateWindow{Cap: max(1, int(math.Floor(float64(w.Cap)*rateShare))), Per: w.Per}
	}
	return out
}

// bucket is a continuously refilled token bucket (ThingsBoard's bucket4j buckets refill greedily).
type bucket struct {
	capacity float64
	perNanos float64 // tokens per nanosecond
	tokens   float64
	last     time.Time
}

// limiter enforces every window of one limit at once. A nil *limiter allows everything.
type limiter struct {
	buckets []bucket
}

func newLimiter(ws []RateWindow, now time.Time) *limiter {
	if len(ws) == 0 {
		return nil
	}
	l := &limiter{buckets: make([]bucket, len(ws))}
	for i, w := range ws {
		c := float64(w.Cap)
		l.buckets[i] = bucket{capacity: c, perNanos: c / float64(w.Per), tokens: c, last: now}
	}
	return l
}

func (l *limiter) refill(now time.Time) {
	for i := range l.buckets {
		b := &l.buckets[i]
		if dt := now.Sub(b.last); dt > 0 {
			b.tokens = min(b.capacity, b.tokens+float64(dt)*b.perNanos)
			b.last = now
		}
	}
}

// wait returns how long until n units can be taken (0 if now). A request larger than a bucket needs the bucket
// full and then leaves it in debt, so big requests are slowed, never refused forever.
func (l *limiter) wait(n int, now time.Time) time.Duration {
	if l == nil || n <= 0 {
		return 0
	}
	l.refill(now)
	var w time.Duration
	for _, b := range l.buckets {
		need := min(float64(n), b.capacity)
		if b.tokens < need {
			d := time.Duration(math.Ceil((need - b.tokens) / b.perNanos))
			w = max(w, max(d, time.Millisecond))
		}
	}
	return w
}

func (l *limiter) take(n int) {
	if l == nil {
		return
	}
	for i := range l.buckets {
		l.buckets[i].tokens -= float64(n)
	}
}

// drain empties every bucket, after the server said the limit was hit.
func (l *limiter) drain(now time.Time) {
	if l == nil {
		return
	}
	l.refill(now)
	for i := range l.buckets {
		l.buckets[i].tokens = min(l.buckets[i].tokens, 0)
	}
}

// minCap is the smallest window capacity (the most units one message may carry), or 0 when unlimited.
func (l *limiter) minCap() int {
	if l == nil {
		return 0
	}
	m := math.MaxInt
	for _, b := range l.buckets {
		m = min(m, int(b.capacity))
	}
	return m
}

// rateSet holds the three ThingsBoard limits of one device: all messages, telemetry messages and telemetry
// datapoints.
type rateSet struct {
	msgs, telMsgs, telDP *limiter
}

type rateSpec struct {
	msgs, telMsgs, telDP []RateWindow
}

func (s rateSpec) empty() bool { return len(s.msgs) == 0 && len(s.telMsgs) == 0 && len(s.telDP) == 0 }

func newRateSet(s rateSpec, now time.Time) *rateSet {
	if s.empty() {
		return nil
	}
	return &rateSet{msgs: newLimiter(s.msgs, now), telMsgs: newLimiter(s.telMsgs, now), telDP: newLimiter(s.telDP, now)}
}

// reserve takes msgs messages, telMsgs telemetry messages and dps datapoints if all fit now; otherwise it takes
// nothing and returns how long to wait. A nil set allows everything.
func (r *rateSet) reserve(msgs, telMsgs, dps int, now time.Time) time.Duration {
	if r == nil {
		return 0
	}
	w := max(r.msgs.wait(msgs, now), r.telMsgs.wait(telMsgs, now), r.telDP.wait(dps, now))
	if w > 0 {
		return w
	}
	r.take(msgs, telMsgs, dps)
	return 0
}

// take charges the set without checking (debt is repaid by waiting later). A nil set ignores it.
func (r *rateSet) take(msgs, telMsgs, dps int) {
	if r == nil {
		return
	}
	r.msgs.take(msgs)
	r.telMsgs.take(telMsgs)
	r.telDP.take(dps)
}

func (r *rateSet) drain(now time.Time) {
	if r == nil {
		return
	}
	r.msgs.drain(now)
	r.telMsgs.drain(now)
	r.telDP.drain(now)
}

// maxDatapoints is the most telemetry datapoints one message may carry for this device (0 = unlimited).
func (r *rateSet) maxDatapoints() int {
	if r == nil {
		return 0
	}
	return r.telDP.minCap()
}
