package tbemu

import (
	"math"
	"strconv"
)

// Kind is the type ThingsBoard stores a telemetry or attribute value as.
type Kind uint8

// The value kinds ThingsBoard stores.
const (
	KindLong Kind = iota + 1
	KindDouble
	KindBool
	KindString
	KindJSON
)

// value is a typed datapoint without boxing: num holds an int64, the bits of
// a float64 or 0/1 for a bool; str holds string and JSON text.
type value struct {
	kind Kind
	num  uint64
	str  string
}

// rawValue is a typed value whose text still points into the payload, so
// parsing allocates nothing; toValue copies it out at commit time.
type rawValue struct {
	kind Kind
	num  uint64
	text []byte // string content (unescaped) or JSON text
}

func (r rawValue) toValue() value {
	v := value{kind: r.kind, num: r.num}
	if r.kind == KindString || r.kind == KindJSON {
		v.str = string(r.text)
	}
	return v
}

// typeNumber applies ThingsBoard's number typing: a literal with '.' and no
// exponent is DOUBLE; otherwise an integral value is LONG; an integer too big
// for a long, or a decimal with scale > 16, becomes STRING.
func typeNumber(lit []byte) rawValue {
	dot, exp := -1, -1
	for i, c := range lit {
		switch c {
		case '.':
			dot = i
		case 'e', 'E':
			exp = i
		}
	}
	if dot < 0 && exp < 0 {
		if n, ok := parseInt(lit); ok {
			return rawValue{kind: KindLong, num: uint64(n)}
		}
		return rawValue{kind: KindString, text: lit}
	}
	if scale(lit, dot, exp) > 16 {
		return rawValue{kind: KindString, text: lit}
	}
	if exp < 0 {
		if f, ok := fastDecimal(lit, dot); ok {
			return rawValue{kind: KindDouble, num: math.Float64bits(f)}
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return rawValue{kind: KindString, text: lit}
	}
	if exp >= 0 && f == math.Trunc(f) && math.Abs(f) < 9.2e18 {
		return rawValue{kind: KindLong, num: uint64(int64(f))}
	}
	return rawValue{kind: KindDouble, num: math.Float64bits(f)}
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// fastDecimal converts a short plain decimal exactly: with at most 15
// significant digits both the mantissa and the power of ten are exact
// float64s, so one division is correctly rounded (Clinger's fast path).
func fastDecimal(lit []byte, dot int) (float64, bool) {
	neg := lit[0] == '-'
	digits := lit
	if neg {
		digits = lit[1:]
		dot--
	}
	if len(digits)-1 > 15 {
		return 0, false
	}
	var m uint64
	for i, c := range digits {
		if i != dot {
			m = m*10 + uint64(c-'0')
		}
	}
	f := float64(m) / pow10[len(digits)-dot-1]
	if neg {
		f = -f
	}
	return f, true
}

// scale is BigDecimal's scale of the literal: fraction digits minus exponent.
func scale(lit []byte, dot, exp int) int {
	frac := 0
	end := len(lit)
	if exp >= 0 {
		end = exp
	}
	if dot >= 0 {
		frac = end - dot - 1
	}
	if exp < 0 {
		return frac
	}
	e, err := strconv.Atoi(string(lit[exp+1:]))
	if err != nil {
		return frac
	}
	return frac - e
}

// parseInt parses an optionally negative decimal integer into an int64.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// typeString applies the type cast of strings (JSON_TYPE_CAST_ENABLED): a
// plain decimal ("123", "-1.5", no exponent, no hex) becomes a number.
func typeString(s []byte) rawValue {
	if !isParsable(s) {
		return rawValue{kind: KindString, text: s}
	}
	for _, c := range s {
		if c == '.' {
			f, err := strconv.ParseFloat(string(s), 64)
			if err != nil {
				return rawValue{kind: KindString, text: s}
			}
			return rawValue{kind: KindDouble, num: math.Float64bits(f)}
		}
	}
	if n, ok := parseInt(s); ok {
		return rawValue{kind: KindLong, num: uint64(n)}
	}
	return rawValue{kind: KindString, text: s}
}

// isParsable mirrors Apache NumberUtils.isParsable: optional '-', digits with
// at most one '.', not ending in '.'.
func isParsable(s []byte) bool {
	if len(s) == 0 || s[len(s)-1] == '.' {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if len(s) == 0 {
			return false
		}
	}
	dots, digits := 0, 0
	for _, c := range s {
		switch {
		case c == '.':
			dots++
		case c >= '0' && c <= '9':
			digits++
		default:
			return false
		}
	}
	return dots <= 1 && digits > 0
}
