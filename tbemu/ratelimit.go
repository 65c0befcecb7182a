package tbemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// bucket is a greedy-refill token bucket: cap tokens refilled over per.
type bucket struct {
	cap    float64
	per    time.Duration
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.cap, b.tokens+b.cap*float64(el)/float64(b.per))
		b.last = now
	}
}

// parseLimit parses ThingsBoard's "cap:seconds,cap:seconds" format.
func parseLimit(spec string, now time.Time) ([]*bucket, error) {
	var out []*bucket
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		c, sec, ok := strings.Cut(part, ":")
		n, err1 := strconv.Atoi(c)
		d, err2 := strconv.Atoi(sec)
		if !ok || err1 != nil || err2 != nil || n <= 0 || d <= 0 {
			return nil, fmt.Errorf("rate limit %q: want cap:seconds", part)
		}
		out = append(out, &bucket{cap: float64(n), per: time.Duration(d) * time.Second, tokens: float64(n), last: now})
	}
	return out, nil
}

// limiter enforces one device's three limit groups. A nil limiter allows all.
type limiter struct {
	msgs, telMsgs, telPts []*bucket
}

func newLimiterFrom(r RateLimits, now time.Time) (*limiter, error) {
	m, err := parseLimit(r.Messages, now)
	if err != nil {
		return nil, err
	}
	tm, err := parseLimit(r.TelemetryMessages, now)
	if err != nil {
		return nil, err
	}
	tp, err := parseLimit(r.TelemetryDataPoints, now)
	if err != nil {
		return nil, err
	}
	if len(m)+len(tm)+len(tp) == 0 {
		return nil, nil
	}
	return &limiter{msgs: m, telMsgs: tm, telPts: tp}, nil
}

// newLimiter builds the limiter for a gateway device (gateway) or a device
// behind a gateway (behind); ordinary devices are not limited. Called with
// s.mu held; the limits were validated by SetRateLimits.
func (s *Server) newLimiter(gateway, behind bool) *limiter {
	var r RateLimits
	switch {
	case behind:
		r = s.devLimits
	case gateway:
		r = s.gwLimits
	default:
		return nil
	}
	l, err := newLimiterFrom(r, time.Now())
	if err != nil {
		return nil
	}
	return l
}

// allow takes msgs messages, telMsgs telemetry messages and pts datapoints,
// all or nothing.
func (l *limiter) allow(now time.Time, msgs, telMsgs, pts int) bool {
	if l == nil {
		return true
	}
	groups := [3][]*bucket{l.msgs, l.telMsgs, l.telPts}
	need := [3]int{msgs, telMsgs, pts}
	for i, g := range groups {
		for _, b := range g {
			b.refill(now)
			if need[i] > 0 && b.tokens < float64(need[i]) {
				return false
			}
		}
	}
	for i, g := range groups {
		for _, b := range g {
			b.tokens -= float64(need[i])
		}
	}
	return true
}

// SetRateLimits sets the limits of gateway devices themselves and of devices
// behind a gateway ("cap:seconds,..." each; "" = unlimited). They apply to
// new sessions and, reset, to open ones, and getSessionLimits reports them.
// Invalid specs are logged and treated as unlimited.
func (s *Server) SetRateLimits(gatewayDevice, devicesBehindGateway RateLimits) {
	now := time.Now()
	for _, r := range []RateLimits{gatewayDevice, devicesBehindGateway} {
		if _, err := newLimiterFrom(r, now); err != nil {
			s.log.Error("invalid rate limits ignored", "error", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gwLimits, s.devLimits = gatewayDevice, devicesBehindGateway
	for _, ss := range s.sessions {
		ss.limits = s.newLimiter(ss.gateway, false)
		for name := range ss.subLimits {
			ss.subLimits[name] = s.newLimiter(false, true)
		}
	}
}
