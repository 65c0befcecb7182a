package opcua

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

// recordValue converts an OPC-UA value to a record value the way the Python gateway presents it:
// Boolean -> bool; integers -> int64 (UInt64 above MaxInt64 -> its decimal string); Float/Double -> float64 (a
// Float keeps its shortest decimal form, so 1013.25f stays 1013.25; NaN/Inf -> "NaN"/"+Inf"/"-Inf" strings);
// String, XmlElement -> string; DateTime -> ISO-8601 UTC string; ByteString -> lower-case hex; Guid, NodeId,
// ExpandedNodeId, QualifiedName -> their text form; LocalizedText -> its text; StatusCode -> its name;
// ExtensionObject -> JSON object of its decoded fields (or its type id); arrays -> a JSON array of the
// elements' text forms (Python's "string lists"); null -> nil.
func recordValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		return x
	case int8:
		return int64(x)
	case uint8:
		return int64(x)
	case int16:
		return int64(x)
	case uint16:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case int64:
		return x
	case uint64:
		if x > math.MaxInt64 {
			return strconv.FormatUint(x, 10)
		}
		return int64(x)
	case float32:
		return floatValue(float64(x), 32)
	case float64:
		return floatValue(x, 64)
	case string:
		return x
	case ua.XMLElement:
		return string(x)
	case time.Time:
		return isoTime(x)
	case []byte:
		return hex.EncodeToString(x)
	case *ua.GUID:
		if x == nil {
			return nil
		}
		return x.String()
	case *ua.NodeID:
		if x == nil {
			return nil
		}
		return x.String()
	case *ua.ExpandedNodeID:
		if x == nil {
			return nil
		}
		return x.String()
	case *ua.QualifiedName:
		if x == nil {
			return nil
		}
		if x.NamespaceIndex == 0 {
			return x.Name
		}
		return fmt.Sprintf("%d:%s", x.NamespaceIndex, x.Name)
	case *ua.LocalizedText:
		if x == nil {
			return nil
		}
		return x.Text
	case ua.StatusCode:
		return statusName(x)
	case *ua.Variant:
		if x == nil {
			return nil
		}
		return recordValue(x.Value())
	case *ua.DataValue:
		if x == nil || x.Value == nil {
			return nil
		}
		return recordValue(x.Value.Value())
	case *ua.ExtensionObject:
		if x == nil || x.Value == nil {
			return nil
		}
		if b, err := json.Marshal(x.Value); err == nil && len(b) > 0 && b[0] == '{' {
			return tbgateway.RawJSON(b)
		}
		return fmt.Sprint(x.Value)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		out := make([]string, rv.Len())
		for i := range out {
			out[i] = textValue(recordValue(rv.Index(i).Interface()))
		}
		b, _ := json.Marshal(out)
		return tbgateway.RawJSON(b)
	}
	return fmt.Sprint(v)
}

// textValue is a record value as text (the element form inside arrays, and the form substituted into templates).
func textValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case tbgateway.RawJSON:
		return string(x)
	}
	return fmt.Sprint(v)
}

func floatValue(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	if bits == 32 {
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	}
	return f
}

// isoTime formats a DateTime as ISO-8601 in UTC with microseconds when present, as Python's isoformat() does.
func isoTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000+00:00")
	}
	return t.Format("2006-01-02T15:04:05+00:00")
}

// statusName returns the symbolic name of a status code as the OPC Foundation (and asyncua) spell it
// ("BadNodeIdUnknown"; gopcua's Go names are "StatusBadNodeIDUnknown"), or its hex value.
func statusName(s ua.StatusCode) string {
	if d, ok := ua.StatusCodes[s]; ok {
		return statusSpelling.Replace(strings.TrimPrefix(d.Name, "Status"))
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

var statusSpelling = strings.NewReplacer("ID", "Id", "URI", "Uri", "URL", "Url")

// dataValueOf converts one read or notified DataValue into a record value. A bad status with no value gives the
// status name as the value, like the Python gateway; ok is false when there is nothing to report.
func dataValueOf(dv *ua.DataValue) (value any, ok bool) {
	if dv == nil {
		return nil, false
	}
	var raw any
	if dv.Value != nil {
		raw = dv.Value.Value()
	}
	if raw == nil {
		if dv.Status != ua.StatusOK && dv.Status&0x80000000 != 0 {
			return statusName(dv.Status), true
		}
		return nil, false
	}
	v := recordValue(raw)
	return v, v != nil
}

// timestampOf picks the telemetry timestamp a key's timestampLocation asks for: 0 (the gateway stamps it) for
// "gateway", otherwise the source or server timestamp in ms when the server sent one.
func timestampOf(loc string, dv *ua.DataValue) int64 {
	var t time.Time
	switch loc {
	case "sourceTimestamp":
		t = dv.SourceTimestamp
	case "serverTimestamp":
		t = dv.ServerTimestamp
	default:
		return 0
	}
	if t.IsZero() || t.Year() < 1971 {
		return 0
	}
	return t.UnixMilli()
}
