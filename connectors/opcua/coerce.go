package opcua

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
)

// typeNames maps config argument types (Python's names and the OPC-UA built-in type names) to built-in types.
var typeNames = map[string]ua.TypeID{
	"integer": ua.TypeIDInt32, "int": ua.TypeIDInt32, "float": ua.TypeIDDouble, "double": ua.TypeIDDouble,
	"boolean": ua.TypeIDBoolean, "bool": ua.TypeIDBoolean, "string": ua.TypeIDString, "str": ua.TypeIDString,
	"sbyte": ua.TypeIDSByte, "byte": ua.TypeIDByte, "int16": ua.TypeIDInt16, "uint16": ua.TypeIDUint16,
	"int32": ua.TypeIDInt32, "uint32": ua.TypeIDUint32, "int64": ua.TypeIDInt64, "uint64": ua.TypeIDUint64,
	"datetime": ua.TypeIDDateTime, "bytestring": ua.TypeIDByteString, "nodeid": ua.TypeIDNodeID,
	"localizedtext": ua.TypeIDLocalizedText, "guid": ua.TypeIDGUID,
}

// argumentVariant builds a method argument from a config or request value. The server's declared type (when
// known) wins over the config's type name; with neither, JSON types choose (number with a fraction -> Double,
// integer -> Int32... as Python's asyncua would guess).
func argumentVariant(typeName string, value any, declared *ua.TypeID) (*ua.Variant, error) {
	if declared != nil {
		return coerce(value, *declared)
	}
	if typeName != "" {
		t, ok := typeNames[strings.ToLower(typeName)]
		if !ok {
			return nil, fmt.Errorf("type: unknown argument type %q", typeName)
		}
		return coerce(value, t)
	}
	switch x := value.(type) {
	case bool:
		return coerce(x, ua.TypeIDBoolean)
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return coerce(x, ua.TypeIDInt32)
		}
		return coerce(x, ua.TypeIDDouble)
	case float64:
		if x == math.Trunc(x) {
			return coerce(x, ua.TypeIDInt32)
		}
		return coerce(x, ua.TypeIDDouble)
	case string:
		return coerce(x, ua.TypeIDString)
	}
	return nil, fmt.Errorf("cannot guess the OPC-UA type of %v (%T)", value, value)
}

// coerce converts a JSON-decoded value (bool, json.Number, float64, string, nil) into a variant of the built-in
// type t, the type a node or method argument declares. Strings are parsed ("true", "12.5"), numbers are range
// checked; a value that does not fit is an error naming both.
func coerce(v any, t ua.TypeID) (*ua.Variant, error) {
	if v == nil {
		return nil, fmt.Errorf("no value for a %s", t)
	}
	var out any
	var err error
	switch t {
	case ua.TypeIDBoolean:
		out, err = toBool(v)
	case ua.TypeIDSByte:
		out, err = toInt(v, math.MinInt8, math.MaxInt8, func(i int64) any { return int8(i) })
	case ua.TypeIDByte:
		out, err = toInt(v, 0, math.MaxUint8, func(i int64) any { return uint8(i) })
	case ua.TypeIDInt16:
		out, err = toInt(v, math.MinInt16, math.MaxInt16, func(i int64) any { return int16(i) })
	case ua.TypeIDUint16:
		out, err = toInt(v, 0, math.MaxUint16, func(i int64) any { return uint16(i) })
	case ua.TypeIDInt32:
		out, err = toInt(v, math.MinInt32, math.MaxInt32, func(i int64) any { return int32(i) })
	case ua.TypeIDUint32:
		out, err = toInt(v, 0, math.MaxUint32, func(i int64) any { return uint32(i) })
	case ua.TypeIDInt64:
		out, err = toInt(v, math.MinInt64, math.MaxInt64, func(i int64) any { return i })
	case ua.TypeIDUint64:
		out, err = toInt(v, 0, math.MaxInt64, func(i int64) any { return uint64(i) })
	case ua.TypeIDFloat:
		var f float64
		if f, err = toFloat(v); err == nil {
			if math.Abs(f) > math.MaxFloat32 {
				err = fmt.Errorf("%v out of range of Float", f)
			}
			out = float32(f)
		}
	case ua.TypeIDDouble:
		out, err = toFloat(v)
	case ua.TypeIDString:
		out = toText(v)
	case ua.TypeIDLocalizedText:
		out = ua.NewLocalizedText(toText(v))
	case ua.TypeIDDateTime:
		out, err = toTime(v)
	case ua.TypeIDByteString:
		s := toText(v)
		if b, herr := hex.DecodeString(s); herr == nil {
			out = b
		} else if b, berr := base64.StdEncoding.DecodeString(s); berr == nil {
			out = b
		} else {
			out = []byte(s)
		}
	case ua.TypeIDNodeID:
		out, err = ua.ParseNodeID(toText(v))
	case ua.TypeIDGUID:
		out = ua.NewGUID(toText(v))
	default:
		return nil, fmt.Errorf("writing a %s is not supported", t)
	}
	if err != nil {
		return nil, err
	}
	return ua.NewVariant(out)
}

func toText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		return f != 0, err
	case float64:
		return x != 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "on", "yes":
			return true, nil
		case "false", "0", "off", "no":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v is not a Boolean", v)
}

func toInt(v any, lo, hi int64, mk func(int64) any) (any, error) {
	var i int64
	switch x := v.(type) {
	case bool:
		if x {
			i = 1
		}
	case json.Number:
		n, err := parseInt(x.String())
		if err != nil {
			return nil, err
		}
		i = n
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x > math.MaxInt64 {
			return nil, fmt.Errorf("%v is not an integer", x)
		}
		i = int64(x)
	case string:
		n, err := parseInt(strings.TrimSpace(x))
		if err != nil {
			return nil, err
		}
		i = n
	default:
		return nil, fmt.Errorf("%v is not an integer", v)
	}
	if i < lo || i > hi {
		return nil, fmt.Errorf("%d out of range [%d, %d]", i, lo, hi)
	}
	return mk(i), nil
}

// parseInt accepts "12" and integral decimals such as "12.0" (Python's int(float(x)) path).
func parseInt(s string) (int64, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), nil
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case json.Number:
		ms, err := x.Int64()
		return time.UnixMilli(ms).UTC(), err
	case float64:
		return time.UnixMilli(int64(x)).UTC(), nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999"} {
			if t, err := time.Parse(layout, strings.TrimSpace(x)); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%v is not a DateTime (RFC 3339 text or ms since the epoch)", v)
}

// builtinType maps a DataType node id in namespace 0 to its built-in type; other (structured, enumerated)
// types return false. Enumerations (i=29 and subtypes) are written as Int32.
func builtinType(dt *ua.NodeID) (ua.TypeID, bool) {
	if dt == nil || dt.Namespace() != 0 {
		return 0, false
	}
	id := dt.IntID()
	switch {
	case id >= 1 && id <= 25:
		return ua.TypeID(id), true
	case id == 29: // Enumeration
		return ua.TypeIDInt32, true
	case id == 26 || id == 27 || id == 28: // Number, Integer, UInteger: abstract
		return 0, false
	case id == 289 || id == 290: // Counter, Duration... UInt32/Double subtypes
		if id == 289 {
			return ua.TypeIDUint32, true
		}
		return ua.TypeIDDouble, true
	case id == 294: // UtcTime
		return ua.TypeIDDateTime, true
	}
	return 0, false
}
