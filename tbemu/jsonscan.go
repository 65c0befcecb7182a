package tbemu

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// errSyntax marks a payload that is not valid JSON (error class A).
var errSyntax = errors.New("invalid json")

// maxJSONDepth bounds nesting so a hostile payload cannot exhaust the stack.
const maxJSONDepth = 512

// scanner is a minimal allocation-free JSON reader over one payload. It is
// strict RFC 8259 JSON; the callers validate a whole payload with validJSON
// first, so the structural helpers below may assume well-formed input.
type scanner struct {
	b []byte
	i int
}

func (sc *scanner) skipWS() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (sc *scanner) peek() byte {
	sc.skipWS()
	if sc.i >= len(sc.b) {
		return 0
	}
	return sc.b[sc.i]
}

// validJSON reports whether b holds exactly one JSON value.
func validJSON(b []byte) bool {
	sc := scanner{b: b}
	if !sc.validValue(0) {
		return false
	}
	sc.skipWS()
	return sc.i == len(b)
}

func (sc *scanner) validValue(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch sc.peek() {
	case '{':
		sc.i++
		if sc.peek() == '}' {
			sc.i++
			return true
		}
		for {
			if sc.peek() != '"' {
				return false
			}
			if _, _, ok := sc.rawString(); !ok {
				return false
			}
			if sc.peek() != ':' {
				return false
			}
			sc.i++
			if !sc.validValue(depth + 1) {
				return false
			}
			switch sc.peek() {
			case ',':
				sc.i++
			case '}':
				sc.i++
				return true
			default:
				return false
			}
		}
	case '[':
		sc.i++
		if sc.peek() == ']' {
			sc.i++
			return true
		}
		for {
			if !sc.validValue(depth + 1) {
				return false
			}
			switch sc.peek() {
			case ',':
				sc.i++
			case ']':
				sc.i++
				return true
			default:
				return false
			}
		}
	case '"':
		_, _, ok := sc.rawString()
		return ok
	case 't':
		return sc.literal("true")
	case 'f':
		return sc.literal("false")
	case 'n':
		return sc.literal("null")
	default:
		_, ok := sc.number()
		return ok
	}
}

func (sc *scanner) literal(word string) bool {
	if len(sc.b)-sc.i < len(word) || string(sc.b[sc.i:sc.i+len(word)]) != word {
		return false
	}
	sc.i += len(word)
	return true
}

// rawString reads a string starting at the opening quote and returns its raw
// content (escapes not resolved) and whether it contains escapes.
func (sc *scanner) rawString() (raw []byte, escaped, ok bool) {
	sc.i++ // opening quote
	start := sc.i
	for sc.i < len(sc.b) {
		c := sc.b[sc.i]
		if c >= 0x20 && c != '"' && c != '\\' { // fast path: plain byte
			sc.i++
			continue
		}
		switch {
		case c == '"':
			raw = sc.b[start:sc.i]
			sc.i++
			return raw, escaped, true
		case c == '\\':
			escaped = true
			if sc.i+1 >= len(sc.b) {
				return nil, false, false
			}
			switch sc.b[sc.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.i += 2
			case 'u':
				if sc.i+6 > len(sc.b) {
					return nil, false, false
				}
				for _, h := range sc.b[sc.i+2 : sc.i+6] {
					if hexVal(h) < 0 {
						return nil, false, false
					}
				}
				sc.i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			sc.i++
		}
	}
	return nil, false, false
}

// number reads a JSON number literal and returns its bytes.
func (sc *scanner) number() ([]byte, bool) {
	start := sc.i
	if sc.i < len(sc.b) && sc.b[sc.i] == '-' {
		sc.i++
	}
	if sc.i >= len(sc.b) {
		return nil, false
	}
	if sc.b[sc.i] == '0' {
		sc.i++
	} else if d := sc.digits(); d == 0 {
		return nil, false
	}
	if sc.i < len(sc.b) && sc.b[sc.i] == '.' {
		sc.i++
		if sc.digits() == 0 {
			return nil, false
		}
	}
	if sc.i < len(sc.b) && (sc.b[sc.i] == 'e' || sc.b[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.b) && (sc.b[sc.i] == '+' || sc.b[sc.i] == '-') {
			sc.i++
		}
		if sc.digits() == 0 {
			return nil, false
		}
	}
	return sc.b[start:sc.i], true
}

func (sc *scanner) digits() int {
	n := 0
	for sc.i < len(sc.b) && sc.b[sc.i] >= '0' && sc.b[sc.i] <= '9' {
		sc.i++
		n++
	}
	return n
}

// skip advances over one already validated value and returns its bytes.
// It only tracks strings and nesting, which is enough for valid input.
func (sc *scanner) skip() []byte {
	sc.skipWS()
	start := sc.i
	depth := 0
	for sc.i < len(sc.b) {
		c := sc.b[sc.i]
		switch c {
		case '"':
			sc.i++
			for sc.i < len(sc.b) {
				c := sc.b[sc.i]
				sc.i++
				if c == '\\' {
					sc.i++
				} else if c == '"' {
					break
				}
			}
			if depth == 0 {
				return sc.b[start:sc.i]
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // end of a scalar inside a container
				return sc.b[start:sc.i]
			}
			depth--
			if depth == 0 {
				sc.i++
				return sc.b[start:sc.i]
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return sc.b[start:sc.i]
			}
		}
		sc.i++
	}
	return sc.b[start:sc.i]
}

// key reads an object member name and the colon after it; dst is scratch
// space used only when the name contains escapes.
func (sc *scanner) key(dst []byte) (name, scratch []byte) {
	sc.skipWS()
	raw, esc, _ := sc.rawString()
	sc.skipWS()
	sc.i++ // ':'
	if !esc {
		return raw, dst
	}
	start := len(dst)
	dst = unescape(dst, raw)
	return dst[start:], dst
}

// more consumes a ',' and reports true, or consumes the closing byte and
// reports false.
func (sc *scanner) more() bool {
	c := sc.peek()
	sc.i++
	return c == ','
}

// enter consumes an opening '{' or '[' and reports whether the container is
// non-empty (the closing byte is consumed when it is empty).
func (sc *scanner) enter() bool {
	sc.skipWS()
	sc.i++
	c := sc.peek()
	if c == '}' || c == ']' {
		sc.i++
		return false
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescape appends the decoded form of a validated raw JSON string to dst.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(raw[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				r2 := rune(hex4(raw[i+3 : i+7]))
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
	}
	return dst
}

func hex4(b []byte) int {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// parseValue reads one value and types it as ThingsBoard does. skip reports a null
// (ThingsBoard silently skips nulls). Escaped strings are decoded into
// scratch, which is returned grown.
func (sc *scanner) parseValue(scratch []byte) (v rawValue, skip bool, out []byte) {
	switch sc.peek() {
	case 'n':
		sc.i += 4
		return v, true, scratch
	case 't':
		sc.i += 4
		return rawValue{kind: KindBool, num: 1}, false, scratch
	case 'f':
		sc.i += 5
		return rawValue{kind: KindBool}, false, scratch
	case '"':
		raw, esc, _ := sc.rawString()
		if esc {
			start := len(scratch)
			scratch = unescape(scratch, raw)
			raw = scratch[start:]
		}
		return typeString(raw), false, scratch
	case '{', '[':
		return rawValue{kind: KindJSON, text: sc.skip()}, false, scratch
	default:
		lit, _ := sc.number()
		return typeNumber(lit), false, scratch
	}
}

// parseTS reads a "ts" value: a number (fraction truncated) or a string
// holding a decimal integer.
func (sc *scanner) parseTS() (int64, bool) {
	switch sc.peek() {
	case '"':
		raw, _, _ := sc.rawString()
		return parseInt(raw)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		lit, _ := sc.number()
		if n, ok := parseInt(lit); ok {
			return n, true
		}
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil || math.Abs(f) > 9.2e18 {
			return 0, false
		}
		return int64(f), true
	default:
		sc.skip()
		return 0, false
	}
}
