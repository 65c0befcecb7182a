package tbemu

import (
	"encoding/json"
	"math"
	"sort"
	"time"
)

// point is one stored datapoint.
type point struct {
	ts int64
	v  value
}

// series holds one key's values of one device, ascending by ts with one value
// per ts, bounded to max entries (the oldest are dropped). Values live in
// pts[start:]; start advances when old values drop so that dropping is O(1).
type series struct {
	pts   []point
	start int
}

func (s *series) len() int { return len(s.pts) - s.start }

// put stores v at ts, overwriting an existing value with the same ts.
func (s *series) put(ts int64, v value, max int) {
	live := s.pts[s.start:]
	n := len(live)
	switch {
	case n == 0 || live[n-1].ts < ts:
		s.pts = append(s.pts, point{ts, v})
	case live[n-1].ts == ts:
		live[n-1].v = v
		return
	default:
		i := sort.Search(n, func(i int) bool { return live[i].ts >= ts })
		if live[i].ts == ts {
			live[i].v = v
			return
		}
		s.pts = append(s.pts, point{})
		live = s.pts[s.start:]
		copy(live[i+1:], live[i:])
		live[i] = point{ts, v}
	}
	if s.len() > max {
		s.pts[s.start] = point{}
		s.start++
		// Compact once the dropped prefix dominates, keeping appends amortised O(1).
		if s.start > 1024 && s.start > len(s.pts)/2 {
			n := copy(s.pts, s.pts[s.start:])
			clear(s.pts[n:])
			s.pts = s.pts[:n]
			s.start = 0
		}
	}
}

func (s *series) all() []point { return s.pts[s.start:] }

func (s *series) last() (point, bool) {
	if s.len() == 0 {
		return point{}, false
	}
	return s.pts[len(s.pts)-1], true
}

// toAny converts a stored value to the public representation.
func (v value) toAny() any {
	switch v.kind {
	case KindLong:
		return int64(v.num)
	case KindDouble:
		return math.Float64frombits(v.num)
	case KindBool:
		return v.num != 0
	case KindJSON:
		return json.RawMessage(v.str)
	default:
		return v.str
	}
}

// appendJSON appends v as JSON the way ThingsBoard writes it: a DOUBLE with
// an integral value keeps a ".0".
func (v value) appendJSON(b []byte) []byte {
	switch v.kind {
	case KindLong:
		return appendInt(b, int64(v.num))
	case KindDouble:
		return appendDouble(b, math.Float64frombits(v.num))
	case KindBool:
		if v.num != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case KindJSON:
		return append(b, v.str...)
	default:
		return appendQuoted(b, v.str)
	}
}

// fromAny converts a Go value given to the API into a stored value.
func fromAny(x any) (value, error) {
	switch t := x.(type) {
	case nil:
		return value{kind: KindJSON, str: "null"}, nil
	case bool:
		if t {
			return value{kind: KindBool, num: 1}, nil
		}
		return value{kind: KindBool}, nil
	case int:
		return value{kind: KindLong, num: uint64(int64(t))}, nil
	case int32:
		return value{kind: KindLong, num: uint64(int64(t))}, nil
	case int64:
		return value{kind: KindLong, num: uint64(t)}, nil
	case uint32:
		return value{kind: KindLong, num: uint64(t)}, nil
	case float32:
		return value{kind: KindDouble, num: math.Float64bits(float64(t))}, nil
	case float64:
		return value{kind: KindDouble, num: math.Float64bits(t)}, nil
	case string:
		return value{kind: KindString, str: t}, nil
	case json.Number:
		r := typeNumber([]byte(t))
		return r.toValue(), nil
	case json.RawMessage:
		return valueFromJSON(t)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return value{}, err
		}
		return valueFromJSON(b)
	}
}

// valueFromJSON types one JSON value text as ThingsBoard does (strings stay strings
// only when they do not look like numbers, as on the MQTT side).
func valueFromJSON(b []byte) (value, error) {
	if !validJSON(b) {
		return value{}, errSyntax
	}
	sc := scanner{b: b}
	rv, skip, scratch := sc.parseValue(nil)
	_ = scratch
	if skip {
		return value{kind: KindJSON, str: "null"}, nil
	}
	return rv.toValue(), nil
}

// msgLog is the bounded raw log of received messages (a ring).
type msgLog struct {
	buf   []Message
	next  int // index of the oldest entry once the ring is full
	total uint64
	max   int
}

func (l *msgLog) add(m Message) {
	l.total++
	m.Seq = l.total
	if len(l.buf) < l.max {
		l.buf = append(l.buf, m)
		return
	}
	if l.max == 0 {
		return
	}
	l.buf[l.next] = m
	l.next = (l.next + 1) % l.max
}

func (l *msgLog) snapshot() []Message {
	out := make([]Message, 0, len(l.buf))
	out = append(out, l.buf[l.next:]...)
	out = append(out, l.buf[:l.next]...)
	return out
}

// device is one ThingsBoard device with its credentials and data.
type device struct {
	spec           DeviceSpec
	certHash       string
	lastConnect    time.Time
	lastDisconnect time.Time
	lastActivity   time.Time
	lastGateway    string
	series         map[string]*series
	attrs          [3]map[string]value // client, shared, server
	rpcSeq         int
	pending        []*rpcCall
	// owner is the session the device is connected through: its own
	// connection, or the gateway connection holding its sub-session.
	owner   *session
	claim   json.RawMessage
	created time.Time
}

func newDevice(spec DeviceSpec) *device {
	if spec.Type == "" {
		spec.Type = "default"
	}
	d := &device{spec: spec, series: map[string]*series{}, created: time.Now()}
	for i := range d.attrs {
		d.attrs[i] = map[string]value{}
	}
	return d
}

func scopeIndex(s Scope) (int, bool) {
	switch s {
	case ScopeClient:
		return 0, true
	case ScopeShared:
		return 1, true
	case ScopeServer:
		return 2, true
	}
	return 0, false
}

func (d *device) state() DeviceState {
	return DeviceState{
		Name:           d.spec.Name,
		Type:           d.spec.Type,
		Gateway:        d.spec.Gateway,
		Connected:      d.owner != nil,
		LastConnect:    d.lastConnect,
		LastDisconnect: d.lastDisconnect,
		LastActivity:   d.lastActivity,
		LastGateway:    d.lastGateway,
	}
}
