package opcua

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/tbgateway/tbgateway/internal/values"
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
	v, err := values.FromJSON(values.Tree(value))
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case bool:
		return coerce(v, ua.TypeIDBoolean)
	case int64:
		return coerce(v, ua.TypeIDInt32)
	case float64:
		return coerce(v, ua.TypeIDDouble)
	case string:
		return coerce(v, ua.TypeIDString)
	}
	return nil, fmt.Errorf("cannot guess the OPC-UA type of %v (%T)", value, value)
}

// coerce converts a JSON-decoded or record value (bool, json.Number, int64, float64, string, RawJSON, nil) into a
// variant of the built-in type t, the type a node or method argument declares, with the kit's conversions
// (values.ToBool, ToInt, ToFloat, Text, Millis): strings are parsed ("true", "12.5"), numbers are range checked;
// a value that does not fit is an error naming both.
func coerce(v any, t ua.TypeID) (*ua.Variant, error) {
	if v == nil {
		return nil, fmt.Errorf("no value for a %s", t)
	}
	var out any
	var err error
	switch t {
	case ua.TypeIDBoolean:
		out, err = values.ToBool(v)
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
		if f, err = values.ToFloat(v); err == nil {
			if math.Abs(f) > math.MaxFloat32 {
				err = fmt.Errorf("%v out of range of Float", f)
			}
			out = float32(f)
		}
	case ua.TypeIDDouble:
		out, err = values.ToFloat(v)
	case ua.TypeIDString:
		out = values.Text(v)
	case ua.TypeIDLocalizedText:
		out = ua.NewLocalizedText(values.Text(v))
	case ua.TypeIDDateTime:
		var msec int64
		if msec, err = values.Millis(v); err == nil {
			out = time.UnixMilli(msec).UTC()
		}
	case ua.TypeIDByteString:
		s := values.Text(v)
		if b, herr := hex.DecodeString(s); herr == nil {
			out = b
		} else if b, berr := base64.StdEncoding.DecodeString(s); berr == nil {
			out = b
		} else {
			out = []byte(s)
		}
	case ua.TypeIDNodeID:
		out, err = ua.ParseNodeID(values.Text(v))
	case ua.TypeIDGUID:
		out = ua.NewGUID(values.Text(v))
	default:
		return nil, fmt.Errorf("writing a %s is not supported", t)
	}
	if err != nil {
		return nil, err
	}
	return ua.NewVariant(out)
}

// toInt converts v with values.ToInt and checks it lies in [lo, hi]; mk builds the sized Go integer.
func toInt(v any, lo, hi int64, mk func(int64) any) (any, error) {
	i, err := values.ToInt(v)
	if err != nil {
		return nil, err
	}
	if i < lo || i > hi {
		return nil, fmt.Errorf("%d out of range [%d, %d]", i, lo, hi)
	}
	return mk(i), nil
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
