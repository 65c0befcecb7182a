package serial

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/tbgateway/tbgateway"
)

func readSample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "custom_serial.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodePythonSample: the Python gateway's custom_serial.json decodes without errors or warnings, with the
// Python sample's defaults for the keys it leaves out.
func TestDecodePythonSample(t *testing.T) {
	cfg, warnings, err := Decode("custom_serial.json", readSample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if len(cfg.Devices) != 1 {
		t.Fatalf("devices: %d", len(cfg.Devices))
	}
	d := cfg.Devices[0]
	if d.Name != "SerialDevice1" || d.Type != "default" || d.Port != "/dev/ttysUSB0" {
		t.Errorf("device %q type %q port %q", d.Name, d.Type, d.Port)
	}
	wantMode := serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	if d.Mode != wantMode || d.ReadTimeout != time.Second || string(d.Delimiter) != "\n" || d.ByteOrder != binary.BigEndian {
		t.Errorf("port settings %+v timeout %v delimiter %q order %v", d.Mode, d.ReadTimeout, d.Delimiter, d.ByteOrder)
	}
	if len(d.Telemetry) != 1 || d.Telemetry[0].Key != "humidity" || d.Telemetry[0].Type != "float" || string(d.Telemetry[0].UntilDelimiter) != "\r" {
		t.Errorf("telemetry %+v", d.Telemetry)
	}
	if a := d.Attributes; len(a) != 1 || a[0].Key != "SerialNumber" || *a[0].FromByte != 4 || *a[0].ToByte != -1 {
		t.Errorf("attributes %+v", a)
	}
	if u := d.AttributeUpdates; len(u) != 1 || u[0].Attribute != "attr1" || u[0].ToDevice.Text != "value = ${attr1}\n" {
		t.Errorf("attributeUpdates %+v", u)
	}
	if r := d.RPC; len(r) != 2 || r[0].Method != "setValue" || !r[0].WithResponse || r[0].Response.Type != "string" ||
		string(r[0].Response.UntilDelimiter) != "\r" || r[0].ResponseTimeout != 5*time.Second || r[1].WithResponse {
		t.Errorf("serverSideRpc %+v", r)
	}
}

// TestDecodeErrors: wrong values name the file and key path; settings the port library cannot apply are
// warnings naming the key.
func TestDecodeErrors(t *testing.T) {
	errCases := []struct{ body, want string }{
		{`{"devices":[{"port":"/dev/a","parity":"X"}]}`, `f.json: devices[0].parity: expected one of N, E, O, M, S, found "X"`},
		{`{"devices":[{"port":"/dev/a","stopbits":3}]}`, `devices[0].stopbits`},
		{`{"devices":[{"port":"/dev/a","stopbits":1.2}]}`, `devices[0].stopbits: expected 1, 1.5 or 2`},
		{`{"devices":[{"port":"/dev/a","bytesize":9}]}`, `devices[0].bytesize`},
		{`{"devices":[{"port":"/dev/a","baudrate":"fast"}]}`, `devices[0].baudrate`},
		{`{"devices":[{"port":"/dev/a","delimiter":""}]}`, `devices[0].delimiter`},
		{`{"devices":[{"port":"/dev/a","telemetry":[{"key":"t","type":"long"}]}]}`, `devices[0].telemetry[0].type: expected one of string, json, int, float, double, bool, hex`},
		{`{"devices":[{"port":"/dev/a","attributes":[{"type":"int"}]}]}`, `devices[0].attributes[0].key`},
		{`{"devices":[{"port":"/dev/a","attributeUpdates":[{"attributeOnPlatform":"x","stringToDevice":"${x"}]}]}`, `devices[0].attributeUpdates[0].stringToDevice: unclosed`},
		{`{"devices":[{"port":"/dev/a","serverSideRpc":[{"type":"int"}]}]}`, `devices[0].serverSideRpc[0].method`},
		{`{"devices":[{"name":"A","port":"/dev/a"},{"name":"A","port":"/dev/b"}]}`, `devices[1].name: device name "A" is already used by devices[0]`},
		{`{"devices":[{"name":"A","port":"/dev/a"},{"name":"B","port":"/dev/a"}]}`, `devices[1].port: port "/dev/a" is already used by devices[0]`},
		{`{"devices":[{"port":"/dev/a","converter":{"expression":"{telemetry: {t: }"}}]}`, `devices[0].converter.expression: line 1`},
		{`{"devices":[{"port":"/dev/a","converter":7}]}`, `devices[0].converter: expected a converter class name or an expression converter object`},
		{`{}`, `devices: expected a list of devices, found nothing`},
	}
	for _, tc := range errCases {
		_, _, err := Decode("f.json", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.json: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.body, err, tc.want)
		}
	}
	_, warnings, err := Decode("f.json", []byte(`{"devices":[{"port":"/dev/a","rtscts":true,"writeTimeout":2,"exclusive":false,"colour":"red","downlink_converter":"MyDownlink"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"devices[0].rtscts: flow control is not supported", "devices[0].writeTimeout: not supported",
		"devices[0].exclusive:", "devices[0].colour: unknown key", `devices[0].downlink_converter: converter class "MyDownlink" cannot be loaded`} {
		found := false
		for _, w := range warnings {
			found = found || strings.Contains(w, want)
		}
		if !found {
			t.Errorf("no warning containing %q in %q", want, warnings)
		}
	}
}

// TestConverters: a Python converter class this gateway cannot load is a warning naming it and the built-in
// converter runs; an expression converter, as an object or as "converter": "expression" with its keys in the
// device, converts the line instead.
func TestConverters(t *testing.T) {
	cfg, warnings, err := Decode("f.json", []byte(`{"devices":[
		{"name":"A","port":"/dev/a","converter":"MyPythonConverter","telemetry":[{"key":"t","type":"int"}]},
		{"name":"B","port":"/dev/b","converter":{"type":"expression","expression":"{telemetry: {t: int(trim(text)) * 2}, attributes: {port: address}}"}},
		{"name":"C","port":"/dev/c","converter":"expression","expression":"{deviceName: device + \"-\" + split(text, \",\")[0], telemetry: {v: float(split(trim(text), \",\")[1])}}"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `f.json: devices[0].converter: converter class "MyPythonConverter" cannot be loaded`) {
		t.Fatalf("warnings %q", warnings)
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		line string
		want tbgateway.Record
	}{
		{"21\n", tbgateway.Record{Device: "A", DeviceType: "default", Connector: "", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(21)}}}}},
		{"21\n", tbgateway.Record{Device: "B", DeviceType: "default", Attributes: map[string]any{"port": "/dev/b"}, Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(42)}}}}},
		{"x,1.5\n", tbgateway.Record{Device: "C-x", DeviceType: "default", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"v": 1.5}}}}},
	}
	for i, tc := range cases {
		held := c.handleLine(c.devices[i], []byte(tc.line), nil)
		if len(held) != 1 {
			t.Fatalf("device %s: %d records", c.devices[i].cfg.Name, len(held))
		}
		got := held[0]
		for j := range got.Telemetry {
			got.Telemetry[j].TS = 0
		}
		got.ReceivedTS = 0
		if got.Device != tc.want.Device || !reflect.DeepEqual(got.Attributes, tc.want.Attributes) || !reflect.DeepEqual(got.Telemetry, tc.want.Telemetry) {
			t.Errorf("device %s: got %+v\nwant %+v", c.devices[i].cfg.Name, got, tc.want)
		}
	}
}
