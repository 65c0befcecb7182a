package tbemu

import "errors"

// errClass is the error class ThingsBoard gives a rejected payload.
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
	meta []metadata // gateway metrics metadata of accepted entries
	buf  []byte     // arena for unescaped strings
	// maxString is the longest string value accepted (Options.MaxStringValueLength); 0 = no limit.
	maxString int
}

// tooLong reports whether a point from index first on holds a string longer than the limit.
func (ps *parseScratch) tooLong(first int) bool {
	if ps.maxString <= 0 {
		return false
	}
	for i := first; i < len(ps.pts); i++ {
		if ps.pts[i].v.kind == KindString && len(ps.pts[i].v.text) > ps.maxString {
			return true
		}
	}
	return false
}

// metadata is an entry's gateway metrics metadata.
type metadata struct {
	connector             []byte
	receivedTs, published int64
}

func (ps *parseScratch) reset() {
	clear(ps.pts)
	ps.pts = ps.pts[:0]
	clear(ps.devs)
	ps.devs = ps.devs[:0]
	clear(ps.meta)
	ps.meta = ps.meta[:0]
	ps.buf = ps.buf[:0]
}

// element parses one telemetry entry (as ThingsBoard does): {"ts":..,"values":{..}} when
// both keys are present, else a flat {"k":v}. Gateway entries may carry
// "metadata" (as ThingsBoard does), which is checked and stripped. The common ts+values
// form is parsed in one pass; the points of "values" get their ts patched
// once "ts" is known. On error the scanner is left after the entry.
func (ps *parseScratch) element(sc *scanner, now int64, gateway bool) error {
	if sc.peek() != '{' {
		sc.skip()
		return errBadValue
	}
	start := sc.i
	first := len(ps.pts)
	var ts int64
	hasTS, tsOK, hasValues, valuesOK, metaOK := false, false, false, false, true
	var meta metadata
	hasMeta := false
	if sc.enter() {
		for {
			k, _ := sc.key(nil)
			switch string(k) {
			case "ts":
				hasTS = true
				ts, tsOK = sc.parseTS()
			case "values":
				hasValues = true
				if sc.peek() == '{' && !valuesOK {
					valuesOK = true
					ps.kvObject(sc, 0, false)
				} else {
					sc.skip()
				}
			case "metadata":
				if gateway {
					hasMeta = true
					meta, metaOK = parseMetadata(sc)
				} else {
					sc.skip()
				}
			default:
				sc.skip()
			}
			if !sc.more() {
				break
			}
		}
	}
	if !metaOK {
		clear(ps.pts[first:])
		ps.pts = ps.pts[:first]
		return errBadValue
	}
	if hasMeta {
		ps.meta = append(ps.meta, meta)
	}
	if hasTS && hasValues {
		if !tsOK || !valuesOK || ps.tooLong(first) {
			clear(ps.pts[first:])
			ps.pts = ps.pts[:first]
			return errBadValue
		}
		for i := first; i < len(ps.pts); i++ {
			ps.pts[i].ts = ts
		}
		return nil
	}
	// Flat form: every member is a value (rare enough to parse twice).
	clear(ps.pts[first:])
	ps.pts = ps.pts[:first]
	end := sc.i
	sc.i = start
	ps.kvObject(sc, now, gateway)
	sc.i = end
	if ps.tooLong(first) {
		clear(ps.pts[first:])
		ps.pts = ps.pts[:first]
		return errBadValue
	}
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

// parseMetadata reads the metadata object at sc; it must have a string
// connector and numeric receivedTs and publishedTs.
func parseMetadata(sc *scanner) (metadata, bool) {
	var m metadata
	if sc.peek() != '{' {
		sc.skip()
		return m, false
	}
	seen := 0
	if sc.enter() {
		for {
			k, _ := sc.key(nil)
			switch string(k) {
			case "connector":
				if sc.peek() == '"' {
					raw, _, _ := sc.rawString()
					m.connector = raw
					seen |= 1
				} else {
					sc.skip()
				}
			case "receivedTs":
				var ok bool
				if m.receivedTs, ok = sc.parseTS(); ok {
					seen |= 2
				}
			case "publishedTs":
				var ok bool
				if m.published, ok = sc.parseTS(); ok {
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
	return m, seen == 7
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

// gatewayTelemetry parses {"A":[entry,...],"B":[...]} (as ThingsBoard does). Devices
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
				from, metaFrom := len(ps.pts), len(ps.meta)
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
					clear(ps.meta[metaFrom:])
					ps.meta = ps.meta[:metaFrom]
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
		v := value{kind: p.v.kind, num: p.v.num}
		if v.kind == KindString || v.kind == KindJSON {
			// Reuse the previous string when it repeats (status values).
			if last, ok := sr.last(); ok && last.v.kind == v.kind && last.v.str == string(p.v.text) {
				v.str = last.v.str
			} else {
				v.str = string(p.v.text)
			}
		}
		sr.put(p.ts, v, s.opts.MaxValuesPerKey)
	}
}
