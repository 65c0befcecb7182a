package values

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
)

// ErrConversion is wrapped by every error of this package: a value that does not convert to what was asked.
var ErrConversion = errors.New("cannot convert value")

func fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConversion, fmt.Sprintf(format, args...))
}

// describe renders a value for an error message as configuration errors do (strings quoted).
func describe(v any) string {
	switch x := v.(type) {
	case tbgateway.RawJSON:
		return "JSON " + string(x)
	case json.RawMessage:
		return "JSON " + string(x)
	case int64, int, float64:
		return fmt.Sprint(x)
	}
	return confjson.Describe(v)
}

// FromJSON converts a decoded JSON value into the record value of its own type:
//   - bool and string are kept;
//   - a number follows the one number rule (see ParseNumber): json.Number "42" is int64, "42.0", "1e3" and
//     integers beyond int64 are float64; an already decoded float64 stays float64, Go integers become int64;
//   - an object or a list becomes tbgateway.RawJSON (compact, keys sorted, numbers as written);
//   - tbgateway.RawJSON and json.RawMessage holding an object or a list are kept as RawJSON; holding a scalar
//     they are decoded and converted as above;
//   - nil stays nil (a record cannot carry it: the caller skips the key).
//
// A value of any other type (or a number that is not finite) is an error.
func FromJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x, nil
	case json.Number:
		return ParseNumber(x.String())
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fail("%v is not a JSON number", x)
		}
		return x, nil
	case float32:
		return FromJSON(float64(x))
	case int:
		return int64(x), nil
	case int8, int16, int32, uint8, uint16, uint32:
		i, _ := strconv.ParseInt(fmt.Sprint(x), 10, 64)
		return i, nil
	case uint64:
		if x > math.MaxInt64 {
			return float64(x), nil
		}
		return int64(x), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fail("%v", err)
		}
		return tbgateway.RawJSON(b), nil
	case tbgateway.RawJSON:
		return fromRaw(x)
	case json.RawMessage:
		return fromRaw(x)
	}
	return nil, fail("unsupported value %v (%T)", v, v)
}

func fromRaw(raw []byte) (any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if !json.Valid(t) {
			return nil, fail("invalid JSON %.40q", t)
		}
		return tbgateway.RawJSON(bytes.Clone(t)), nil
	}
	v, err := Decode(t)
	if err != nil {
		return nil, err
	}
	return FromJSON(v)
}

// ParseNumber applies the one number rule to a number's text, as Python's json module reads numbers: an integer
// literal that fits int64 is int64; anything else that parses (a fraction, an exponent, an integer beyond
// int64) is float64. Surrounding spaces are ignored. Text that is not a finite number is an error.
func ParseNumber(s string) (any, error) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fail("%s is not a number", confjson.Describe(s))
	}
	return f, nil
}

// Decode decodes JSON text into the tree FromJSON and the To* functions take (numbers as json.Number).
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fail("not JSON: %v", err)
	}
	if dec.More() {
		return nil, fail("not JSON: extra data after the value")
	}
	return v, nil
}

// Tree turns a record value back into a decoded JSON value, for downlink values a connector walks (a shared
// attribute or an RPC parameter holding an object or a list): tbgateway.RawJSON and json.RawMessage are decoded
// (numbers as json.Number); anything else, and raw text that is not JSON, is returned unchanged.
func Tree(v any) any {
	var raw []byte
	switch x := v.(type) {
	case tbgateway.RawJSON:
		raw = x
	case json.RawMessage:
		raw = x
	default:
		return v
	}
	if d, err := Decode(raw); err == nil {
		return d
	}
	return v
}

// ToBool is the one boolean rule for values from JSON, configurations and ThingsBoard: true and false as they
// are; a number is true when it is not 0; text (case-insensitive, spaces ignored) "true", "1", "yes", "on" is
// true and "false", "0", "no", "off" is false. Anything else (other text, null, objects, lists) is an error.
func ToBool(v any) (bool, error) {
	switch x := Tree(v).(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "on":
			return true, nil
		case "false", "0", "no", "off":
			return false, nil
		}
	case json.Number, float64, float32, int64, int, int32, uint64:
		f, err := ToFloat(x)
		if err == nil {
			return f != 0, nil
		}
	}
	return false, fail("%s is not a boolean", describe(v))
}

// ToFloat converts a number, numeric text or a boolean (1 or 0) to a finite float64.
func ToFloat(v any) (float64, error) {
	switch x := Tree(v).(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case json.Number, string:
		n, err := ParseNumber(fmt.Sprint(x))
		if err != nil {
			return 0, err
		}
		if i, ok := n.(int64); ok {
			return float64(i), nil
		}
		return n.(float64), nil
	default:
		n, err := FromJSON(x)
		switch y := n.(type) {
		case int64:
			return float64(y), nil
		case float64:
			return y, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, fail("%s is not a number", describe(v))
}

// ToInt converts a number, numeric text or a boolean (1 or 0) to an int64 when its value is whole ("12",
// 12.0, "1e3"); a fraction or a value beyond int64 is an error. Use Truncate for Python's int(float(x)).
func ToInt(v any) (int64, error) {
	if n, ok := exactInt(v); ok {
		return n, nil
	}
	f, err := ToFloat(v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, fail("%s is not an integer", describe(v))
	}
	return int64(f), nil
}

// Truncate converts a number, numeric text or a boolean to an int64, dropping any fraction toward zero as
// Python's int(float(x)) does (the converters' "int" type hint); a value beyond int64 is an error.
func Truncate(v any) (int64, error) {
	if n, ok := exactInt(v); ok {
		return n, nil
	}
	f, err := ToFloat(v)
	if err != nil {
		return 0, err
	}
	if f < -(1<<63) || f >= 1<<63 {
		return 0, fail("%s is out of the integer range", describe(v))
	}
	return int64(f), nil
}

// exactInt reads integers without a detour through float64, so large ones keep every digit.
func exactInt(v any) (int64, bool) {
	switch x := Tree(v).(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case json.Number, string:
		i, err := strconv.ParseInt(strings.TrimSpace(fmt.Sprint(x)), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// Text renders a value as the Python gateway's templates insert it, with JSON spellings: a string as it is, a
// number as written (json.Number) or in its shortest form, true/false, null, an object or a list (or RawJSON)
// as compact JSON.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "null"
	case tbgateway.RawJSON:
		return string(x)
	case json.RawMessage:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Type hints of the Python converters' "type" keys, as Cast takes them.
const TypeHints = "string, str, raw, int, integer, long, double, float, bool, boolean, json, auto"

// KnownType reports whether typ is one of TypeHints (an empty hint counts as auto).
func KnownType(typ string) bool {
	switch typ {
	case "", "string", "str", "raw", "int", "integer", "long", "double", "float", "bool", "boolean", "json", "auto":
		return true
	}
	return false
}

// Cast converts a decoded JSON value to the record value a converter's type hint asks for:
// string/str/raw → Text; int/integer/long → Truncate; double/float → ToFloat; bool/boolean → ToBool;
// json, auto and "" → FromJSON (the value's own type). An unknown hint is an error. On error the value is nil.
func Cast(v any, typ string) (any, error) {
	var out any
	var err error
	switch typ {
	case "string", "str", "raw":
		return Text(v), nil
	case "int", "integer", "long":
		out, err = Truncate(v)
	case "double", "float":
		out, err = ToFloat(v)
	case "bool", "boolean":
		out, err = ToBool(v)
	case "json", "auto", "":
		out, err = FromJSON(v)
	default:
		err = fail("unknown type %q (want one of %s)", typ, TypeHints)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

var tsLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02"}

// Millis reads a device timestamp as milliseconds since the Unix epoch: a positive number (as the Python gateway
// takes "ts"), numeric text, or a date text (RFC 3339, "2006-01-02 15:04:05[.000][Z07:00]", "2006-01-02"; UTC
// when no zone is given).
func Millis(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number, int64, int, float64:
		if i, err := Truncate(x); err == nil && i > 0 && i < 1<<62 {
			return i, nil
		}
	case string:
		s := strings.TrimSpace(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && i > 0 {
			return i, nil
		}
		for _, layout := range tsLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UnixMilli(), nil
			}
		}
	}
	return 0, fail("timestamp %s is neither milliseconds since the epoch nor a date", describe(v))
}
