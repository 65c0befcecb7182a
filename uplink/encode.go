package uplink

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/tbgateway/tbgateway"
)

// The hot-path JSON writer. Values are appended to a byte slice without reflection; only types outside the
// record contract (never stored after Record.Validate) fall back to encoding/json.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxDoubleScale is the most fractional digits ThingsBoard keeps a number as DOUBLE; with more, its JSON
// converter stores the value as a STRING.
const maxDoubleScale = 16

// appendFloat writes f so that ThingsBoard types it DOUBLE: plain decimal notation that always has a '.'
// (an exponent or a missing fraction would make it LONG). Shortest round-trip digits are used; when they need
// more than 16 fractional digits (e.g. 0.30000000000000004) the value is rounded to 16, which ThingsBoard still
// accepts as DOUBLE. Only magnitudes below 1e-6 that need more digits keep exponent notation (ThingsBoard then
// stores them as text, the value intact). NaN and ±Inf are not JSON; they are written as null, which
// ThingsBoard skips (Record.Validate refuses them anyway).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		b = strconv.AppendInt(b, int64(f), 10) // exact, and much cheaper than float formatting
		if f == 0 && math.Signbit(f) {
			b = append(b[:len(b)-1], '-', '0')
		}
		return append(b, '.', '0')
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	dot := -1
	for i := start; i < len(b); i++ {
		if b[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return append(b, '.', '0')
	}
	if len(b)-dot-1 <= maxDoubleScale {
		return b
	}
	if math.Abs(f) < 1e-6 {
		return strconv.AppendFloat(b[:start], f, 'e', -1, 64)
	}
	b = strconv.AppendFloat(b[:start], f, 'f', maxDoubleScale, 64)
	end := len(b)
	for end > 0 && b[end-1] == '0' && b[end-2] != '.' {
		end--
	}
	return b[:end]
}

// appendValue appends one record value. ok is false for a value that cannot be sent (invalid RawJSON or an
// unsupported type that encoding/json cannot encode either).
func appendValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return appendString(b, x), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, false
		}
		return appendFloat(b, x), true
	case bool:
		return strconv.AppendBool(b, x), true
	case tbgateway.RawJSON:
		if !json.Valid(x) {
			return b, false
		}
		return append(b, x...), true
	case json.RawMessage:
		if !json.Valid(x) {
			return b, false
		}
		return append(b, x...), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case float32:
		return appendValue(b, float64(x))
	case nil:
		return append(b, "null"...), true
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, enc...), true
}

// appendKV appends "key":value.
func appendKV(b []byte, k string, v any) ([]byte, bool) {
	start := len(b)
	b = appendString(b, k)
	b = append(b, ':')
	b, ok := appendValue(b, v)
	if !ok {
		return b[:start], false
	}
	return b, true
}
