package tbemu

import "errors"

// errClass is the error class of a rejected payload (spec §3.7).
type errClass uint8

const (
	classNone errClass = iota
	classA             // not valid JSON
	classB             // wrong structure: PUBACK 0x83, close
	classC             // bad value inside one device's data
)

var errBadValue = errors.New("bad telemetry value")

// pendingPoint is a parsed datapoint whose key and text still point into the
// payload or the scratch arena.
type pendingPoint struct {
	key []byte
	ts  int64
	v   rawValue
}

// pendingDevice is one device's share of a gateway message: pts[from:to].
type pendingDevice struct {
	name     []byte
	from, to int
}

// parseScratch is per-connection parse state, reused for every message so
// that the hot path does not allocate.
type parseScratch struct {
	pts  []pendingPoint
	devs []pendingDevice
	buf  []byte // arena for unescaped strings
}

func (ps *parseScratch) reset() {
	clear(ps.pts)
	ps.pts = ps.pts[:0]
	clear(ps.devs)
	ps.devs = ps.devs[:0]
	ps.buf = ps.buf[:0]
}

// element parses one telemetry entry (spec §2.2): {"ts":..,"values":{..}} when
// both keys are present, else a flat {"k":v}. Gateway entries may carry
// "metadata" (spec §3.9), which is checked and stripped. On error the scanner
// is left after the entry.
func (ps *parseScratch) element(sc *scanner, now int64, gateway bool) error {
	if sc.peek() != '{' {
		sc.skip()
		return errBadValue
	}
	start := sc.i
	tsAt, valuesAt, metaAt := -1, -1, -1
	if sc.enter() {
		for {
			k, _ := sc.key(nil)
			sc.skipWS()
			switch string(k) {
			case "ts":
				tsAt = sc.i
			case "values":
				valuesAt = sc.i
			case "metadata":
				metaAt = sc.i
			}
			sc.skip()
			if !sc.more() {
				break
			}
		}
	}
	end := sc.i
	defer func() { sc.i = end }()
	if gateway && metaAt >= 0 && !validMetadata(sc, metaAt) {
		return errBadValue
	}
	if tsAt >= 0 && valuesAt >= 0 {
		sc.i = tsAt
		ts, ok := sc.parseTS()
		if !ok {
			return errBadValue
		}
		sc.i = valuesAt
		if sc.peek() != '{' {
			return errBadValue
		}
		ps.kvObject(sc, ts, false)
		return nil
	}
	sc.i = start
	ps.kvObject(sc, now, gateway)
	return nil
}

// kvObject appends the members of the object at sc as points at ts.
func (ps *parseScratch) kvObject(sc *scanner, ts int64, skipMeta bool) {
	if !sc.enter() {
		return
	}
	for {
		var k []byte
		k, ps.buf = sc.key(ps.buf)
		var v rawValue
		var null bool
		v, null, ps.buf = sc.parseValue(ps.buf)
		if !null && !(skipMeta && string(k) == "metadata") {
			ps.pts = append(ps.pts, pendingPoint{key: k, ts: ts, v: v})
		}
		if !sc.more() {
			return
		}
	}
}

// validMetadata checks that the object at i has connector, receivedTs and
// publishedTs.
func validMetadata(sc *scanner, i int) bool {
	sc.i = i
	if sc.peek() != '{' {
		return false
	}
	seen := 0
	if sc.enter() {
		for {
			k, _ := sc.key(nil)
			switch string(k) {
			case "connector":
				if sc.peek() == '"' {
					seen |= 1
				}
				sc.skip()
			case "receivedTs":
				if _, ok := sc.parseTS(); ok {
					seen |= 2
				}
			case "publishedTs":
				if _, ok := sc.parseTS(); ok {
					seen |= 4
				}
			default:
				sc.skip()
			}
			if !sc.more() {
				break
			}
		}
	}
	return seen == 7
}

// deviceTelemetry parses a device API telemetry payload: an entry or an
// array of entries. Any error is a conversion error (class A treatment).
func (ps *parseScratch) deviceTelemetry(payload []byte, now int64) errClass {
	ps.reset()
	if !validJSON(payload) {
		return classA
	}
	sc := scanner{b: payload}
	switch sc.peek() {
	case '{':
		if ps.element(&sc, now, false) != nil {
			return classA
		}
	case '[':
		if sc.enter() {
			for {
				if ps.element(&sc, now, false) != nil {
					return classA
				}
				if !sc.more() {
					break
				}
			}
		}
	default:
		return classA
	}
	return classNone
}

// gatewayTelemetry parses {"A":[entry,...],"B":[...]} (spec §3.4). Devices
// whose value is not an array are dropped; a device with a bad entry keeps
// its session but none of its points, and makes the result class C.
func (ps *parseScratch) gatewayTelemetry(payload []byte, now int64) errClass {
	ps.reset()
	if !validJSON(payload) {
		return classA
	}
	sc := scanner{b: payload}
	if sc.peek() != '{' {
		return classB
	}
	class := classNone
	if sc.enter() {
		for {
			var name []byte
			name, ps.buf = sc.key(ps.buf)
			if len(name) == 0 {
				return classB
			}
			if sc.peek() != '[' {
				sc.skip()
			} else {
				from := len(ps.pts)
				bad := false
				if sc.enter() {
					for {
						if ps.element(&sc, now, true) != nil {
							bad = true
						}
						if !sc.more() {
							break
						}
					}
				}
				if bad {
					clear(ps.pts[from:])
					ps.pts = ps.pts[:from]
					class = classC
				}
				ps.devs = append(ps.devs, pendingDevice{name: name, from: from, to: len(ps.pts)})
			}
			if !sc.more() {
				break
			}
		}
	}
	if len(ps.devs) == 0 {
		return classB
	}
	return class
}

// storePoints writes parsed points to d. Called with s.mu held.
func (s *Server) storePoints(d *device, pts []pendingPoint) {
	for i := range pts {
		p := &pts[i]
		sr := d.series[string(p.key)]
		if sr == nil {
			sr = &series{}
			d.series[string(p.key)] = sr
		}
		sr.put(p.ts, p.v.toValue(), s.opts.MaxValuesPerKey)
	}
}
