package serial

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/values"
)

// errAbsent says a datapoint has no value in a line (its fromDelimiter is missing, or its bytes are empty):
// the key is left out of that line's record, which is not a fault.
var errAbsent = errors.New("no value in this line")

// ParseLine is the built-in uplink converter (the Python sample's SerialUplinkConverter): it cuts each
// telemetry and attribute datapoint of dc out of line (the line with its delimiter) and converts it to its type.
// Telemetry gets no timestamp (the gateway stamps it). A datapoint without a value in the line is left out; a
// value that does not convert is left out and reported in err (every such key, joined), so a bad line of one
// key never hides the others. rec has no values when nothing converted. ParseLine is pure and never panics.
func ParseLine(dc *DeviceConfig, line []byte) (rec tbgateway.Record, err error) {
	rec = tbgateway.Record{Device: dc.Name, DeviceType: dc.Type}
	var errs []error
	tel := map[string]any{}
	for _, dp := range dc.Telemetry {
		if v, e := dp.Value(line); e == nil {
			tel[dp.Key] = v
		} else if !errors.Is(e, errAbsent) {
			errs = append(errs, fmt.Errorf("telemetry %q: %w", dp.Key, e))
		}
	}
	for _, dp := range dc.Attributes {
		if v, e := dp.Value(line); e == nil {
			if rec.Attributes == nil {
				rec.Attributes = map[string]any{}
			}
			rec.Attributes[dp.Key] = v
		} else if !errors.Is(e, errAbsent) {
			errs = append(errs, fmt.Errorf("attribute %q: %w", dp.Key, e))
		}
	}
	if len(tel) > 0 {
		rec.Telemetry = []tbgateway.Telemetry{{Values: tel}}
	}
	return rec, errors.Join(errs...)
}

// Value cuts the datapoint's bytes out of line and converts them to its type: string (UTF-8, spaces trimmed),
// json, int, float/double (finite), bool (a number other than 0, or the text true in any case; anything else is
// false, as in the Python converter) or hex (the bytes as hex text). It returns an error wrapping errAbsent when
// the line holds no value for the datapoint.
func (dp *Datapoint) Value(line []byte) (any, error) {
	b, ok := dp.cut(line)
	if !ok || len(b) == 0 {
		return nil, errAbsent
	}
	text := func() string { return strings.TrimSpace(strings.ToValidUTF8(string(b), string(utf8.RuneError))) }
	switch dp.Type {
	case "string":
		return text(), nil
	case "json":
		tree, err := values.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%q is not JSON", clip(b))
		}
		v, err := values.FromJSON(tree)
		if err != nil || v == nil {
			return nil, fmt.Errorf("%q is not a JSON value a record can hold", clip(b))
		}
		return v, nil
	case "int":
		i, err := strconv.ParseInt(text(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", clip(b))
		}
		return i, nil
	case "float", "double":
		f, err := strconv.ParseFloat(text(), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a finite number", clip(b))
		}
		return f, nil
	case "bool":
		if i, err := strconv.ParseInt(text(), 10, 64); err == nil {
			return i != 0, nil
		}
		return strings.EqualFold(text(), "true"), nil
	}
	return hex.EncodeToString(b), nil
}

// cut returns the datapoint's bytes of line; ok is false when its fromDelimiter is not in the line.
func (dp *Datapoint) cut(line []byte) (b []byte, ok bool) {
	if dp.FromDelimiter != nil || dp.UntilDelimiter != nil {
		if dp.FromDelimiter != nil {
			i := bytes.Index(line, dp.FromDelimiter)
			if i < 0 {
				return nil, false
			}
			line = line[i+len(dp.FromDelimiter):]
		}
		if dp.UntilDelimiter != nil {
			if i := bytes.Index(line, dp.UntilDelimiter); i >= 0 {
				line = line[:i]
			}
		}
		return line, true
	}
	from, to := 0, len(line)
	if dp.FromByte != nil {
		from = sliceIndex(*dp.FromByte, len(line))
	}
	if dp.ToByte != nil {
		to = sliceIndex(*dp.ToByte, len(line))
	}
	if from >= to {
		return nil, true
	}
	return line[from:to], true
}

// sliceIndex applies Python's slice rule: a negative index counts from the end, and the result is clamped.
func sliceIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return min(max(i, 0), n)
}

// clip shortens a value for messages.
func clip(b []byte) string {
	const most = 64
	if len(b) > most {
		return string(b[:most]) + "..."
	}
	return string(b)
}
