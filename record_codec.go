package tbgateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// codecVersion is the first byte of every encoded record; a store refuses records of a version it does not know.
const codecVersion = 1

// Value tags of the binary record encoding.
const (
	tagFalse byte = iota
	tagTrue
	tagInt
	tagFloat
	tagString
	tagJSON
)

// AppendBinary appends the record's compact binary encoding to b and returns the extended slice. The encoding
// keeps every value's type (int64, float64, bool, string, RawJSON), which JSON would not, so durable storages use
// it. The record must be valid (see Validate); values of other types are encoded as their %v text.
func (r *Record) AppendBinary(b []byte) []byte {
	b = append(b, codecVersion, byte(r.Kind))
	b = appendString(b, r.Device)
	b = appendString(b, r.DeviceType)
	b = appendString(b, r.Connector)
	b = binary.AppendVarint(b, r.ReceivedTS)
	b = appendValues(b, r.Attributes)
	b = binary.AppendUvarint(b, uint64(len(r.Telemetry)))
	for _, t := range r.Telemetry {
		b = binary.AppendVarint(b, t.TS)
		b = appendValues(b, t.Values)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValues(b []byte, m map[string]any) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for k, v := range m {
		b = appendString(b, k)
		switch x := v.(type) {
		case bool:
			if x {
				b = append(b, tagTrue)
			} else {
				b = append(b, tagFalse)
			}
		case int64:
			b = binary.AppendVarint(append(b, tagInt), x)
		case float64:
			b = binary.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(x))
		case string:
			b = appendString(append(b, tagString), x)
		case RawJSON:
			b = appendString(append(b, tagJSON), string(x))
		default:
			b = appendString(append(b, tagString), fmt.Sprint(x))
		}
	}
	return b
}

// ErrCorruptRecord is returned by UnmarshalBinary for bytes that are not a record encoding.
var ErrCorruptRecord = errors.New("corrupt record encoding")

// UnmarshalBinary decodes a record written by AppendBinary. It never panics on bad input.
func (r *Record) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); v != codecVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("%w: unknown version %d", ErrCorruptRecord, v)
	}
	*r = Record{Kind: Kind(d.byte())}
	r.Device = d.string()
	r.DeviceType = d.string()
	r.Connector = d.string()
	r.ReceivedTS = d.varint()
	r.Attributes = d.values()
	n := d.count()
	if n > 0 && d.err == nil {
		r.Telemetry = make([]Telemetry, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			ts := d.varint()
			r.Telemetry = append(r.Telemetry, Telemetry{TS: ts, Values: d.values()})
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorruptRecord, len(d.b))
	}
	return d.err
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrCorruptRecord, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and bounds it by the bytes left (every element takes at least one byte).
func (d *decoder) count() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)-n) {
		d.fail("length")
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) values() map[string]any {
	n := d.count()
	if n == 0 || d.err != nil {
		return nil
	}
	m := make(map[string]any, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.string()
		switch tag := d.byte(); tag {
		case tagFalse:
			m[k] = false
		case tagTrue:
			m[k] = true
		case tagInt:
			m[k] = d.varint()
		case tagFloat:
			if len(d.b) < 8 {
				d.fail("float")
				break
			}
			m[k] = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
			d.b = d.b[8:]
		case tagString:
			m[k] = d.string()
		case tagJSON:
			m[k] = RawJSON(d.string())
		default:
			if d.err == nil {
				d.err = fmt.Errorf("%w: unknown value tag %d", ErrCorruptRecord, tag)
			}
		}
	}
	return m
}
