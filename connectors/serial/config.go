package serial

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.bug.st/serial"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
	"github.com/tbgateway/tbgateway/internal/template"
	"github.com/tbgateway/tbgateway/report"
)

// The Python sample's converter classes, which this package implements; any other class name must be a
// converter compiled in with tbgateway.RegisterConverter.
const (
	UplinkConverterClass   = "SerialUplinkConverter"
	DownlinkConverterClass = "SerialDownlinkConverter"
)

// Defaults of a device, as the Python sample connector has them.
const (
	DefaultDeviceName      = "SerialDevice"
	DefaultPort            = "/dev/ttyUSB0"
	DefaultBaudRate        = 9600
	DefaultReadTimeout     = time.Second
	DefaultDelimiter       = "\n"
	DefaultResponseTimeout = 5 * time.Second
	// MaxLineLength bounds a line: bytes beyond it without a delimiter are a fault and dropped up to the next
	// delimiter, so a device that never sends one cannot grow memory.
	MaxLineLength = 8 << 10
)

// valueTypes are the datapoint "type"s: the Python converter's, and "hex" for its default (bytes as hex text).
var valueTypes = []string{"string", "json", "int", "float", "double", "bool", "hex"}

// Config is a decoded serial connector file (the Python gateway's custom_serial.json).
type Config struct {
	// Name is the connector's name.
	Name string
	// Devices are the devices, one serial port each.
	Devices []*DeviceConfig
}

// DeviceConfig is one "devices" entry: a device on its own serial port.
type DeviceConfig struct {
	Name string // "name" (or "deviceName"), default DefaultDeviceName
	Type string // "type" (or "deviceType"), default "default"
	Port string // "port", default DefaultPort
	// Mode holds "baudrate", "bytesize" (5-8), "parity" (N, E, O, M, S) and "stopbits" (1, 1.5, 2).
	Mode serial.Mode
	// ReadTimeout is "timeout" in seconds (default 1): a line still without its delimiter after this long
	// without a byte is taken as it is, as the Python sample does. 0 or null: wait for the delimiter.
	ReadTimeout time.Duration
	// Delimiter is "delimiter" (default "\n"): it ends a line and is kept at the line's end, so byte offsets
	// count as in the Python sample (toByte -1 drops it).
	Delimiter []byte
	// ByteOrder is "byteorder" (big or little, default big) of numbers an RPC writes.
	ByteOrder binary.ByteOrder
	// Converter is "converter" (or "uplink_converter") when it names a converter compiled in with
	// tbgateway.RegisterConverter; "" for the built-in line parser (UplinkConverterClass, absent, or a Python
	// class this gateway cannot load, which is a warning).
	Converter string
	// Expression is the uplink expression converter (docs/converters.md): "converter" written as an object with
	// an "expression", or "converter": "expression" with the expression keys in the device object. It gets the
	// line as payload, the device's name and type, and the port as address. nil when not used.
	Expression *expression.Uplink
	// Telemetry and Attributes are "telemetry" (or "timeseries") and "attributes": values cut from a line.
	Telemetry, Attributes []*Datapoint
	// AttributeUpdates are "attributeUpdates": shared attributes written to the port.
	AttributeUpdates []*AttributeUpdate
	// RPC are "serverSideRpc": methods whose params are written to the port.
	RPC []*RPCMethod
	// ReportStrategy is the device's "reportStrategy" object, applied by the runtime; nil when absent.
	ReportStrategy json.RawMessage
	// Raw is the device's entry as written, the configuration a registered converter receives.
	Raw json.RawMessage
}

// Datapoint is one telemetry or attribute value cut from a line, or an RPC's response.
type Datapoint struct {
	Key  string // "key", required
	Type string // "type": one of valueTypes; absent means "hex"
	// FromByte and ToByte ("fromByte", "toByte") cut line[FromByte:ToByte] with Python's slice rules: a
	// negative offset counts from the line's end (its delimiter included), offsets beyond it are clamped.
	FromByte, ToByte *int
	// FromDelimiter and UntilDelimiter ("fromDelimiter", "untilDelimiter") cut the bytes after the first
	// FromDelimiter up to the next UntilDelimiter (or the line's end). They win over the byte offsets. A line
	// without FromDelimiter has no value for the key.
	FromDelimiter, UntilDelimiter []byte
	// ReportStrategy is the key's "reportStrategy" object; nil when absent.
	ReportStrategy json.RawMessage
}

// AttributeUpdate is one "attributeUpdates" entry.
type AttributeUpdate struct {
	// Attribute is "attributeOnPlatform": the shared attribute's key.
	Attribute string
	// ToDevice is "stringToDevice", written to the port with ${<attribute>}, ${deviceName} and ${deviceType}
	// replaced; unknown names stay as written.
	ToDevice template.Template[string]
}

// RPCMethod is one "serverSideRpc" entry.
type RPCMethod struct {
	Method string // "method", required
	// Type is "type": int and float/double write the params as binary numbers in the device's byte order, any
	// other type writes them as text.
	Type string
	// WithResponse is "withResponse": the reply is the next line the device sends, cut and converted as
	// Response says ("responseType" default string, "responseFromByte", "responseToByte",
	// "responseUntilDelimiter").
	WithResponse bool
	Response     Datapoint
	// ResponseTimeout is "responseTimeoutSec" (default 5).
	ResponseTimeout time.Duration
}

// Decode reads a connector file. Errors name file and key path; warnings list unknown keys and settings this
// connector ignores. It does no I/O.
func Decode(file string, raw []byte) (*Config, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{Name: root.String("name", "")}
	root.Ignore("id", "logLevel", "enableRemoteLogging", "configVersion", "reportStrategy", "uplinkQueueSize")
	root.Require("devices", "a list of devices")
	names, ports := map[string]string{}, map[string]string{}
	for _, o := range root.Objects("devices") {
		dc := decodeDevice(o)
		if prev, dup := names[dc.Name]; dup && !d.Failed() {
			d.Failf(o.Key("name"), "device name %q is already used by %s", dc.Name, prev)
		}
		if prev, dup := ports[dc.Port]; dup && !d.Failed() {
			d.Failf(o.Key("port"), "port %q is already used by %s: one device per port", dc.Port, prev)
		}
		names[dc.Name], ports[dc.Port] = o.Path(), o.Path()
		cfg.Devices = append(cfg.Devices, dc)
	}
	root.Done()
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

func decodeDevice(o *confjson.Object) *DeviceConfig {
	d := o.Decoder()
	dc := &DeviceConfig{ByteOrder: binary.BigEndian}
	dc.Name = o.String("deviceName", o.String("name", DefaultDeviceName))
	dc.Type = o.String("deviceType", o.String("type", "default"))
	dc.Port = o.String("port", DefaultPort)
	dc.Mode.BaudRate = int(o.Int("baudrate", DefaultBaudRate, 1, math.MaxInt32))
	dc.Mode.DataBits = int(o.Int("bytesize", 8, 5, 8))
	switch o.OneOf("parity", "N", "N", "E", "O", "M", "S") {
	case "E":
		dc.Mode.Parity = serial.EvenParity
	case "O":
		dc.Mode.Parity = serial.OddParity
	case "M":
		dc.Mode.Parity = serial.MarkParity
	case "S":
		dc.Mode.Parity = serial.SpaceParity
	}
	switch stop := o.Float("stopbits", 1, 1, 2); stop {
	case 1:
	case 1.5:
		dc.Mode.StopBits = serial.OnePointFiveStopBits
	case 2:
		dc.Mode.StopBits = serial.TwoStopBits
	default:
		d.Fail(o.Key("stopbits"), "1, 1.5 or 2", stop)
	}
	dc.ReadTimeout = seconds(o, "timeout", DefaultReadTimeout)
	for _, k := range []string{"dsrdtr", "rtscts", "xonxoff"} {
		if o.Bool(k, false) {
			d.Warn(o.Key(k), "flow control is not supported, ignored")
		}
	}
	for _, k := range []string{"writeTimeout", "interByteTimeout"} {
		if _, set := o.Get(k); set {
			d.Warn(o.Key(k), "not supported, ignored")
		}
	}
	if ex := o.OptBool("exclusive"); ex != nil && !*ex {
		d.Warn(o.Key("exclusive"), "the port is always opened exclusively, ignored")
	}
	dc.Delimiter = []byte(o.String("delimiter", DefaultDelimiter))
	if len(dc.Delimiter) == 0 {
		d.Fail(o.Key("delimiter"), "a non-empty string", "")
	}
	if o.OneOf("byteorder", "big", "big", "little") == "little" {
		dc.ByteOrder = binary.LittleEndian
	}
	decodeConverters(o, dc)
	tsKey := "telemetry"
	if o.Has("timeseries") {
		tsKey = "timeseries"
		o.Ignore("telemetry") // the Python converter reads "timeseries" first
	}
	for _, p := range o.Objects(tsKey) {
		dc.Telemetry = append(dc.Telemetry, decodeDatapoint(p, "key", "type", "fromByte", "toByte", "untilDelimiter"))
	}
	for _, p := range o.Objects("attributes") {
		dc.Attributes = append(dc.Attributes, decodeDatapoint(p, "key", "type", "fromByte", "toByte", "untilDelimiter"))
	}
	for _, u := range o.Objects("attributeUpdates") {
		au := &AttributeUpdate{Attribute: u.String("attributeOnPlatform", "")}
		if au.Attribute == "" {
			d.FailMissing(u.Key("attributeOnPlatform"), "a shared attribute key")
		}
		text := u.String("stringToDevice", "")
		if !u.Has("stringToDevice") {
			d.FailMissing(u.Key("stringToDevice"), "the text written to the device")
		}
		tm, err := template.Names(text)
		if err != nil {
			d.Failf(u.Key("stringToDevice"), "%v", err)
		}
		au.ToDevice = tm
		u.Done()
		dc.AttributeUpdates = append(dc.AttributeUpdates, au)
	}
	for _, r := range o.Objects("serverSideRpc") {
		dc.RPC = append(dc.RPC, decodeRPC(r))
	}
	dc.ReportStrategy = report.Read(o, "reportStrategy")
	if !d.Failed() {
		dc.Raw, _ = json.Marshal(o.Map())
	}
	o.Done()
	return dc
}

// decodeConverters reads the device's converter slots. A Python class this gateway cannot load is a warning and
// the built-in converter runs, as for every connector (docs/converters.md).
func decodeConverters(o *confjson.Object, dc *DeviceConfig) {
	d := o.Decoder()
	key := "converter"
	if !o.Has(key) && o.Has("uplink_converter") {
		key = "uplink_converter"
	}
	o.Ignore("converter", "uplink_converter")
	base := expression.Env{Device: dc.Name, DeviceType: dc.Type, Address: dc.Port}
	switch v := o.Map()[key].(type) {
	case nil:
	case map[string]any:
		co := o.Object(key)
		co.Ignore("type", "extension")
		dc.Expression = expression.DecodeUplink(co, base)
		co.Done()
	case string:
		switch _, registered := tbgateway.LookupConverter(v); {
		case v == UplinkConverterClass:
		case v == expression.Name:
			dc.Expression = expression.DecodeUplink(o, base)
		case registered:
			dc.Converter = v
		default:
			d.Warn(o.Key(key), fmt.Sprintf("converter class %q cannot be loaded by this gateway; the built-in "+
				"converter is used (write the converter as an expression: docs/converters.md)", v))
		}
	default:
		d.Fail(o.Key(key), "a converter class name or an expression converter object", v)
	}
	if dl := o.String("downlink_converter", DownlinkConverterClass); dl != DownlinkConverterClass {
		d.Warn(o.Key("downlink_converter"), fmt.Sprintf("converter class %q cannot be loaded by this gateway; "+
			"the built-in converter is used", dl))
	}
}

// decodeDatapoint reads a datapoint whose keys are named as given (a response's are "responseType", ...).
func decodeDatapoint(o *confjson.Object, key, typ, from, to, until string) *Datapoint {
	d := o.Decoder()
	dp := &Datapoint{Key: o.String(key, ""), Type: o.OneOf(typ, "hex", valueTypes...)}
	if dp.Key == "" && key != "" {
		d.FailMissing(o.Key(key), "the key's name")
	}
	dp.FromByte = optInt(o, from)
	dp.ToByte = optInt(o, to)
	if s := o.String(until, ""); s != "" {
		dp.UntilDelimiter = []byte(s)
	}
	if key != "" {
		if s := o.String("fromDelimiter", ""); s != "" {
			dp.FromDelimiter = []byte(s)
		}
		dp.ReportStrategy = report.Read(o, "reportStrategy")
		o.Done()
	}
	return dp
}

func decodeRPC(o *confjson.Object) *RPCMethod {
	m := &RPCMethod{Method: o.String("method", ""), Type: o.String("type", "string")}
	if m.Method == "" {
		o.Decoder().FailMissing(o.Key("method"), "the RPC method's name")
	}
	m.WithResponse = o.Bool("withResponse", false)
	m.Response = *decodeDatapoint(o, "", "responseType", "responseFromByte", "responseToByte", "responseUntilDelimiter")
	if !o.Has("responseType") {
		m.Response.Type = "string"
	}
	m.ResponseTimeout = seconds(o, "responseTimeoutSec", DefaultResponseTimeout)
	if m.ResponseTimeout == 0 {
		m.ResponseTimeout = DefaultResponseTimeout
	}
	o.Done()
	return m
}

func optInt(o *confjson.Object, k string) *int {
	if !o.Has(k) {
		o.Ignore(k)
		return nil
	}
	v := int(o.Int(k, 0, -MaxLineLength, MaxLineLength))
	return &v
}

// seconds reads a non-negative number of seconds; null means 0 (pyserial's None: no timeout).
func seconds(o *confjson.Object, k string, def time.Duration) time.Duration {
	if v, present := o.Map()[k]; present && v == nil {
		o.Ignore(k)
		return 0
	}
	return time.Duration(o.Float(k, def.Seconds(), 0, 86400) * float64(time.Second))
}

// String names the device and its port in messages.
func (dc *DeviceConfig) String() string { return fmt.Sprintf("device %q on port %s", dc.Name, dc.Port) }
