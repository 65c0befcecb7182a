package expression

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm/runtime"
	"github.com/tbgateway/tbgateway/internal/float16"
)

// disabledBuiltins are the language's builtins an expression may not call: now, date and timezone read the
// clock or the time zone files (the receive time is the input ts; parseTime and formatTime work in UTC), and
// repeat, concat and flatten build values without a size check. join, replace, string, toJSON and fromJSON are
// replaced by the bounded versions of Functions.
var disabledBuiltins = []string{"now", "date", "timezone", "repeat", "concat", "flatten",
	"join", "replace", "string", "toJSON", "fromJSON"}

// Functions names the functions the environment adds to the language's pure builtins (len, map, filter, split,
// upper, int, float, round, abs, keys, ...); docs/converters.md describes each.
var Functions = []string{"fromHex", "toHex", "bytes", "utf8", "readUint", "readInt", "readFloat", "bit",
	"fromJSON", "toJSON", "join", "replace", "string", "parseTime", "formatTime", "roundTo"}

// hexSeparators are the characters fromHex skips.
var hexSeparators = strings.NewReplacer(" ", "", ":", "", "-", "")

// functions returns the environment's functions, bounded by the limits.
func functions(l Limits) []expr.Option {
	capText := func(s string) (any, error) {
		if len(s) > l.MaxValueBytes {
			return nil, fmt.Errorf("%w: a value of %d bytes is above maxValueBytes %d", ErrLimit, len(s), l.MaxValueBytes)
		}
		return s, nil
	}
	return []expr.Option{
		expr.Function("__add", func(p ...any) (any, error) {
			if n := sizeOf(p[0]) + sizeOf(p[1]); n > l.MaxValueBytes {
				return nil, fmt.Errorf("%w: a value of %d bytes or items is above maxValueBytes %d", ErrLimit, n, l.MaxValueBytes)
			}
			if a, ok := p[0].([]byte); ok {
				if b, ok := p[1].([]byte); ok {
					return append(append(make([]byte, 0, len(a)+len(b)), a...), b...), nil
				}
			}
			return runtime.Add(p[0], p[1]), nil
		}),
		expr.Function("fromHex", func(p ...any) (any, error) {
			s := hexSeparators.Replace(strings.TrimSpace(text(p[0])))
			s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("fromHex: %v", err)
			}
			return b, nil
		}, new(func(string) []byte), new(func([]byte) []byte)),
		expr.Function("toHex", func(p ...any) (any, error) { return hex.EncodeToString(asBytes(p[0])), nil },
			new(func([]byte) string), new(func(string) string)),
		expr.Function("bytes", func(p ...any) (any, error) {
			if list, ok := p[0].([]any); ok {
				if len(list) > l.MaxValueBytes {
					return nil, fmt.Errorf("%w: %d items", ErrLimit, len(list))
				}
				b := make([]byte, len(list))
				for i, v := range list {
					n, err := toInt(v)
					if err != nil || n < 0 || n > 255 {
						return nil, fmt.Errorf("bytes: item %d (%v) is not a byte 0-255", i, v)
					}
					b[i] = byte(n)
				}
				return b, nil
			}
			return asBytes(p[0]), nil
		}, new(func(string) []byte), new(func([]byte) []byte), new(func([]any) []byte)),
		expr.Function("utf8", func(p ...any) (any, error) { return string(asBytes(p[0])), nil },
			new(func([]byte) string), new(func(string) string)),
		expr.Function("readUint", func(p ...any) (any, error) {
			u, err := readBits("readUint", p, 1, 2, 4, 8)
			if err != nil {
				return nil, err
			}
			if u > math.MaxInt64 {
				return float64(u), nil
			}
			return int(u), nil
		}, new(func([]byte, int, int, ...string) any)),
		expr.Function("readInt", func(p ...any) (any, error) {
			u, err := readBits("readInt", p, 1, 2, 4, 8)
			if err != nil {
				return nil, err
			}
			n, _ := toInt(p[2])
			shift := 64 - 8*n
			return int(int64(u<<shift) >> shift), nil
		}, new(func([]byte, int, int, ...string) int)),
		expr.Function("readFloat", func(p ...any) (any, error) {
			u, err := readBits("readFloat", p, 2, 4, 8)
			if err != nil {
				return nil, err
			}
			switch n, _ := toInt(p[2]); n {
			case 2:
				return float16.Frombits(uint16(u)), nil
			case 4:
				return float64(math.Float32frombits(uint32(u))), nil
			}
			return math.Float64frombits(u), nil
		}, new(func([]byte, int, int, ...string) float64)),
		expr.Function("bit", func(p ...any) (any, error) {
			x, err := toInt(p[0])
			if err != nil {
				return nil, fmt.Errorf("bit: %v", err)
			}
			n, err := toInt(p[1])
			if err != nil || n < 0 || n > 63 {
				return nil, fmt.Errorf("bit: bit number %v is not 0-63", p[1])
			}
			return x>>n&1 == 1, nil
		}, new(func(int, int) bool)),
		expr.Function("fromJSON", func(p ...any) (any, error) {
			v, err := parseJSON(asBytes(p[0]))
			if err != nil {
				return nil, fmt.Errorf("fromJSON: %v", err)
			}
			return v, nil
		}, new(func(string) any), new(func([]byte) any)),
		expr.Function("toJSON", func(p ...any) (any, error) {
			if err := checkSize(p[0], l.MaxValueBytes); err != nil {
				return nil, err
			}
			w := &cappedWriter{max: l.MaxValueBytes}
			if err := json.NewEncoder(w).Encode(jsonable(p[0])); err != nil {
				return nil, fmt.Errorf("toJSON: %w", err)
			}
			return strings.TrimSuffix(w.b.String(), "\n"), nil
		}),
		expr.Function("join", func(p ...any) (any, error) {
			sep := ""
			if len(p) > 1 {
				sep = text(p[1])
			}
			list, ok := p[0].([]any)
			if rv := reflect.ValueOf(p[0]); !ok && rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.String {
				list = make([]any, rv.Len())
				for i := range list {
					list[i] = rv.Index(i).String()
				}
			} else if !ok {
				return nil, fmt.Errorf("join: %s is not a list", typeName(p[0]))
			}
			if err := checkSize(list, l.MaxValueBytes); err != nil {
				return nil, err
			}
			w := &cappedWriter{max: l.MaxValueBytes}
			for i, v := range list {
				if i > 0 {
					if _, err := io.WriteString(w, sep); err != nil {
						return nil, err
					}
				}
				if _, err := io.WriteString(w, text(v)); err != nil {
					return nil, err
				}
			}
			return w.b.String(), nil
		}),
		expr.Function("replace", func(p ...any) (any, error) {
			s, old, repl := text(p[0]), text(p[1]), text(p[2])
			if n := strings.Count(s, old); len(s)+n*(len(repl)-len(old)) > l.MaxValueBytes {
				return nil, fmt.Errorf("%w: replace would build more than maxValueBytes %d", ErrLimit, l.MaxValueBytes)
			}
			return strings.ReplaceAll(s, old, repl), nil
		}, new(func(string, string, string) string)),
		expr.Function("string", func(p ...any) (any, error) {
			switch x := p[0].(type) {
			case string:
				return x, nil
			case []byte:
				return capText(string(x))
			}
			if err := checkSize(p[0], l.MaxValueBytes); err != nil {
				return nil, err
			}
			w := &cappedWriter{max: l.MaxValueBytes}
			if _, err := fmt.Fprint(w, p[0]); err != nil {
				return nil, err
			}
			return w.b.String(), nil
		}, new(func(any) string)),
		expr.Function("parseTime", func(p ...any) (any, error) {
			layout := time.RFC3339Nano
			if len(p) > 1 {
				layout = text(p[1])
			}
			t, err := time.ParseInLocation(layout, text(p[0]), time.UTC)
			if err != nil {
				return nil, fmt.Errorf("parseTime: %v", err)
			}
			return int(t.UnixMilli()), nil
		}, new(func(string) int), new(func(string, string) int)),
		expr.Function("formatTime", func(p ...any) (any, error) {
			ms, err := toInt(p[0])
			if err != nil {
				return nil, fmt.Errorf("formatTime: %v", err)
			}
			layout := time.RFC3339Nano
			if len(p) > 1 {
				layout = text(p[1])
			}
			return capText(time.UnixMilli(int64(ms)).UTC().Format(layout))
		}, new(func(int) string), new(func(int, string) string)),
		expr.Function("roundTo", func(p ...any) (any, error) {
			x, err := toFloat(p[0])
			if err != nil {
				return nil, fmt.Errorf("roundTo: %v", err)
			}
			n, err := toInt(p[1])
			if err != nil || n < 0 || n > 15 {
				return nil, fmt.Errorf("roundTo: %v decimal places is not 0-15", p[1])
			}
			s := math.Pow10(n)
			return math.Round(x*s) / s, nil
		}),
	}
}

// readBits reads the unsigned integer of size bytes at offset of p[0] in the byte and word orders p[3], p[4]
// (each "big" or "little", any case; the word order defaults to the byte order): bytes within each 16-bit word
// follow the byte order, words follow the word order, so ("little") is fully little-endian and ("big", "little")
// is the CDAB layout of Modbus devices.
func readBits(name string, p []any, sizes ...int) (uint64, error) {
	b := asBytes(p[0])
	off, err := toInt(p[1])
	if err != nil {
		return 0, fmt.Errorf("%s: offset: %v", name, err)
	}
	size, err := toInt(p[2])
	if err != nil || !contains(sizes, size) {
		return 0, fmt.Errorf("%s: size %v is not one of %v", name, p[2], sizes)
	}
	if off < 0 || off+size > len(b) {
		return 0, fmt.Errorf("%s: %d bytes at offset %d are outside the %d bytes given", name, size, off, len(b))
	}
	byteLittle, wordLittle := false, false
	if len(p) > 3 {
		if byteLittle, err = little(p[3]); err != nil {
			return 0, fmt.Errorf("%s: byte order: %v", name, err)
		}
		wordLittle = byteLittle
	}
	if len(p) > 4 {
		if wordLittle, err = little(p[4]); err != nil {
			return 0, fmt.Errorf("%s: word order: %v", name, err)
		}
	}
	var buf [8]byte
	v := buf[:size]
	copy(v, b[off:off+size])
	if size == 1 {
		return uint64(v[0]), nil
	}
	if wordLittle && size > 2 {
		for i, j := 0, size-2; i < j; i, j = i+2, j-2 {
			v[i], v[i+1], v[j], v[j+1] = v[j], v[j+1], v[i], v[i+1]
		}
	}
	if byteLittle {
		for i := 0; i+1 < size; i += 2 {
			v[i], v[i+1] = v[i+1], v[i]
		}
	}
	var u uint64
	for _, c := range v {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func little(v any) (bool, error) {
	switch strings.ToLower(text(v)) {
	case "big":
		return false, nil
	case "little":
		return true, nil
	}
	return false, fmt.Errorf("%q is not big or little", text(v))
}

func contains(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// sizeOf is the length of a string, byte slice or list, 0 for other values.
func sizeOf(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x)
	case []any:
		return len(x)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		return rv.Len()
	}
	return 0
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

// text renders a value as a string: strings as they are, bytes as their text, other values as fmt does.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// toInt converts any Go integer, or a float without fraction, to int.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case uint8:
		return int(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int(x), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(rv.Uint()), nil
	case reflect.Float32:
		return toInt(rv.Float())
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}

func toFloat(v any) (float64, error) {
	if f, ok := v.(float64); ok {
		return f, nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Float32 {
		return rv.Float(), nil
	}
	n, err := toInt(v)
	return float64(n), err
}

// jsonable turns byte slices into hex text so toJSON and records render them the same way.
func jsonable(v any) any {
	switch x := v.(type) {
	case []byte:
		return hex.EncodeToString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	}
	return v
}

// cappedWriter collects at most max bytes and fails beyond.
type cappedWriter struct {
	b   strings.Builder
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w: a value above maxValueBytes %d", ErrLimit, w.max)
	}
	return w.b.Write(p)
}

// parseJSON decodes a JSON document keeping integers exact: integer literals that fit become int, other numbers
// float64.
func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("text after the JSON value")
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	}
	return v
}

// ParseJSON parses a JSON document as expressions see JSON (integers as int, other numbers as float64), for
// connectors handing JSON values (e.g. tbgateway.RawJSON record values) to an expression.
func ParseJSON(b []byte) (any, error) { return parseJSON(b) }

// checkSize fails when v's text (JSON or fmt) would certainly be longer than max bytes: encoders build their whole
// output before writing it, and a list may hold the same large value many times, so the size is estimated
// first. The walk stops as soon as the estimate passes max, so it costs at most about max steps.
func checkSize(v any, max int) error {
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			n += len(x) + 2
		case []byte:
			n += 2*len(x) + 2
		case []any:
			n += 2
			for _, e := range x {
				if n++; n > max || walk(e) {
					return true
				}
			}
		case map[string]any:
			n += 2
			for k, e := range x {
				if n += len(k) + 4; n > max || walk(e) {
					return true
				}
			}
		default:
			n++
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array || rv.Kind() == reflect.Map {
				n += rv.Len()
			}
		}
		return n > max
	}
	if walk(v) {
		return fmt.Errorf("%w: a value above maxValueBytes %d", ErrLimit, max)
	}
	return nil
}
