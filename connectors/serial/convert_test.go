package serial

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
)

func intp(i int) *int { return &i }

// TestParseLineSample: the Python sample's device cuts humidity up to "\r" and the serial number from byte 4 to
// the byte before the line's end, so "45.2\rSN-12345\n" carries both.
func TestParseLineSample(t *testing.T) {
	cfg, _, err := Decode("custom_serial.json", readSample(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ParseLine(cfg.Devices[0], []byte("45.2\rSN-12345\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := tbgateway.Record{Device: "SerialDevice1", DeviceType: "default",
		Attributes: map[string]any{"SerialNumber": "SN-12345"},
		Telemetry:  []tbgateway.Telemetry{{Values: map[string]any{"humidity": 45.2}}}}
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("got %+v\nwant %+v", rec, want)
	}
	rec, err = ParseLine(cfg.Devices[0], []byte("wet\rSN-1\n"))
	if err == nil || !strings.Contains(err.Error(), `telemetry "humidity": "wet" is not a finite number`) {
		t.Fatalf("bad humidity: err %v", err)
	}
	if rec.Attributes["SerialNumber"] != "SN-1" || len(rec.Telemetry) != 0 {
		t.Fatalf("a bad key hid the good one: %+v", rec)
	}
}

// TestDatapointValue: the cuts and types of one datapoint.
func TestDatapointValue(t *testing.T) {
	cases := []struct {
		name string
		dp   Datapoint
		line string
		want any // nil: absent
		err  string
	}{
		{"whole line string", Datapoint{Type: "string"}, " hello \n", "hello", ""},
		{"hex default", Datapoint{Type: "hex", ToByte: intp(2)}, "AB\n", "4142", ""},
		{"byte range", Datapoint{Type: "int", FromByte: intp(2), ToByte: intp(5)}, "T=123;\n", int64(123), ""},
		{"negative from", Datapoint{Type: "string", FromByte: intp(-4)}, "abcdef\n", "def", ""},
		{"range beyond line", Datapoint{Type: "string", FromByte: intp(20)}, "short\n", nil, ""},
		{"reversed range", Datapoint{Type: "int", FromByte: intp(5), ToByte: intp(2)}, "1234567\n", nil, ""},
		{"from delimiter", Datapoint{Type: "float", FromDelimiter: []byte("T="), UntilDelimiter: []byte(";")}, "H=40;T=21.5;\n", 21.5, ""},
		{"from delimiter missing", Datapoint{Type: "float", FromDelimiter: []byte("T=")}, "H=40\n", nil, ""},
		{"until delimiter missing", Datapoint{Type: "int", UntilDelimiter: []byte(";")}, "42\n", int64(42), ""},
		{"bool number", Datapoint{Type: "bool"}, "2\n", true, ""},
		{"bool zero", Datapoint{Type: "bool"}, "0\n", false, ""},
		{"bool text", Datapoint{Type: "bool"}, "TRUE\n", true, ""},
		{"bool other text", Datapoint{Type: "bool"}, "yes\n", false, ""},
		{"json object", Datapoint{Type: "json"}, `{"b":1,"a":2}` + "\n", tbgateway.RawJSON(`{"a":2,"b":1}`), ""},
		{"json number", Datapoint{Type: "json"}, "7\n", int64(7), ""},
		{"bad int", Datapoint{Type: "int"}, "12.5\n", nil, `"12.5\n" is not an integer`},
		{"nan", Datapoint{Type: "double"}, "nan\n", nil, "is not a finite number"},
		{"bad json", Datapoint{Type: "json"}, "{\n", nil, "is not JSON"},
		{"invalid utf-8", Datapoint{Type: "string"}, "a\xffb\n", "a\uFFFDb", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.dp.Value([]byte(tc.line))
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
			case tc.want == nil:
				if err == nil || !strings.Contains(err.Error(), errAbsent.Error()) {
					t.Fatalf("got %v, %v; want the key absent", v, err)
				}
			case err != nil || !reflect.DeepEqual(v, tc.want):
				t.Fatalf("got %#v, %v; want %#v", v, err, tc.want)
			}
		})
	}
}

// TestEncodeParams: the bytes an RPC writes, as the Python sample's downlink converter makes them.
func TestEncodeParams(t *testing.T) {
	cases := []struct {
		typ    string
		order  binary.ByteOrder
		params any
		want   []byte
		err    string
	}{
		{"int", binary.BigEndian, int64(258), []byte{1, 2}, ""},
		{"int", binary.LittleEndian, int64(258), []byte{2, 1}, ""},
		{"int", binary.BigEndian, int64(0), []byte{0}, ""},
		{"int", binary.BigEndian, "70000", []byte{1, 0x11, 0x70}, ""},
		{"int", binary.BigEndian, int64(-1), nil, "unsigned"},
		{"float", binary.BigEndian, 1.5, []byte{0x3f, 0xc0, 0, 0}, ""},
		{"double", binary.LittleEndian, 0.1, []byte{0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}, ""},
		{"string", binary.BigEndian, "ON\n", []byte("ON\n"), ""},
		{"string", binary.BigEndian, int64(12), []byte("12"), ""},
		{"string", binary.BigEndian, nil, nil, "no params"},
	}
	for _, tc := range cases {
		got, err := EncodeParams(tc.typ, tc.order, tc.params)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.typ, tc.params, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s %v %v: got % x, %v; want % x", tc.typ, tc.order, tc.params, got, err, tc.want)
		}
	}
}

// TestFramer: lines end with the delimiter (kept), also when it is split across reads; an overlong line is
// reported once and dropped up to the next delimiter, and the line after it is whole.
func TestFramer(t *testing.T) {
	f := newFramer([]byte("\r\n"), 8)
	var got []string
	var faults int
	line := func(b []byte) { got = append(got, string(b)) }
	overlong := func(error) { faults++ }
	for _, chunk := range []string{"ab\r", "\ncd\r\n", "0123456789", "abcdef", "\r\nok\r\n", "tail"} {
		f.push([]byte(chunk), line, overlong)
	}
	want := []string{"ab\r\n", "cd\r\n", "ok\r\n"}
	if !reflect.DeepEqual(got, want) || faults != 1 {
		t.Fatalf("lines %q faults %d; want %q and 1", got, faults, want)
	}
	if rest := f.flush(); string(rest) != "tail" {
		t.Fatalf("flush %q", rest)
	}
	f.push([]byte("123456789\r\n"), line, overlong)
	if faults != 2 || len(got) != 3 {
		t.Fatalf("a finished overlong line: lines %q faults %d", got, faults)
	}
}

// FuzzParseLine: framing any bytes and converting every line never panics, every framed line ends with the
// delimiter and is no longer than MaxLineLength, and the lines and the rest put together are the input (when
// nothing was overlong).
func FuzzParseLine(f *testing.F) {
	f.Add([]byte("45.2\rSN-12345\n"), []byte("\n"))
	f.Add([]byte("T=21.5;H=40\r\n{\"a\":1}\r\n"), []byte("\r\n"))
	f.Add([]byte("\xff\xfe;;;"), []byte(";"))
	dc := &DeviceConfig{Name: "fuzz", Type: "default",
		Telemetry: []*Datapoint{
			{Key: "f", Type: "float", UntilDelimiter: []byte("\r")},
			{Key: "i", Type: "int", FromByte: intp(2), ToByte: intp(-1)},
			{Key: "j", Type: "json", FromDelimiter: []byte("{"), UntilDelimiter: []byte("}")},
			{Key: "b", Type: "bool", FromByte: intp(-3)},
		},
		Attributes: []*Datapoint{{Key: "s", Type: "string", FromDelimiter: []byte("=")}, {Key: "h", Type: "hex", ToByte: intp(4)}},
	}
	f.Fuzz(func(t *testing.T, data, delim []byte) {
		if len(delim) == 0 || len(delim) > 4 {
			return
		}
		fr := newFramer(delim, 64)
		var joined []byte
		overlong := false
		fr.push(data, func(l []byte) {
			if !bytes.HasSuffix(l, delim) || len(l) > 64 {
				t.Fatalf("line %q", l)
			}
			joined = append(joined, l...)
			rec, _ := ParseLine(dc, l)
			if rec.Datapoints() > 0 {
				rec.Telemetry = append(rec.Telemetry[:0:0], rec.Telemetry...)
				for i := range rec.Telemetry {
					rec.Telemetry[i].TS = 1
				}
				if err := rec.Validate(); err != nil {
					t.Fatalf("line %q: invalid record: %v", l, err)
				}
			}
		}, func(error) { overlong = true })
		joined = append(joined, fr.flush()...)
		if !overlong && !bytes.Equal(joined, data) {
			t.Fatalf("framed %q, input %q", joined, data)
		}
	})
}
