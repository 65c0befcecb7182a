package modbus

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
	"github.com/tbgateway/tbgateway/report"
)

// Defaults of a slave (device) entry, as the Python gateway applies them.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultRetries          = 3
	DefaultBaudrate         = 19200
	DefaultConnectAttempt   = 500 * time.Millisecond
	DefaultConnectAttempts  = 2
	DefaultWaitAfterFailed  = 30 * time.Second
	DefaultMaxReadGap       = 16  // registers or bits read in between two items to merge their reads
	MaxRegistersPerRead     = 125 // the protocol's limit for function codes 3 and 4
	MaxBitsPerRead          = 2000
	DefaultRound            = 6
	DefaultSlavePollPeriod  = 5 * time.Second
	maxBackoffPollPeriods   = 8 // a failing device is polled at least once every 8 poll periods
	defaultSlaveDeviceName  = "Modbus Slave"
	defaultMasterDeviceName = "ModbusDevice %d"
)

// Config is a decoded Modbus connector file.
type Config struct {
	Name    string
	Devices []*Device // master.slaves
	Slave   *SlaveConfig
}

// Device is one polled Modbus device (a "slaves" entry of the master section).
type Device struct {
	Path       string // key path in the file, for messages
	Name, Type string
	Transport  string     // tcp, udp, serial, tls (TCP with TLS)
	Method     string     // socket, rtu, ascii, tls
	TLS        *TLSConfig // set when the device speaks Modbus/TCP Security
	Host       string
	Port       int
	SerialPort string
	Baudrate   int
	Bytesize   int
	Parity     string // N, E, O
	Stopbits   int
	// HandleLocalEcho says the serial line echoes what the gateway sends (an RS-485 adapter): the echo is read
	// back and checked before the answer.
	HandleLocalEcho bool
	UnitID          uint8
	Timeout         time.Duration
	Retries         int
	PollPeriod      time.Duration
	// Connection attempts: ConnectAttempts tries ConnectAttemptTime apart, then a pause of WaitAfterFailed.
	ConnectAttemptTime time.Duration
	ConnectAttempts    int
	WaitAfterFailed    time.Duration
	DelayBetween       time.Duration
	MaxReadGap         int
	ReportStrategy     json.RawMessage
	ByteOrder          string // BIG or LITTLE: the device's default for its items
	WordOrder          string
	Repack             bool // "repack": writes swap the bytes of each register under byteOrder LITTLE

	Attributes, Timeseries []*Item
	AttributeUpdates, RPC  []*Item

	// Uplink and Downlink are the device's expression converters ("uplink_converter", "downlink_converter"
	// objects), nil for the built-in ones.
	Uplink   *expression.Uplink
	Downlink *expression.Downlink
}

// Item is one configured key: a value read (attributes, timeseries), written (attributeUpdates, rpc with
// function codes 5, 6, 15, 16) or read on request (rpc with function codes 1-4).
type Item struct {
	Path           string
	Tag            string
	TypeName       string
	FunctionCode   int
	Address        uint16
	Codec          Codec
	ReportStrategy json.RawMessage
	Value          any // slave mode: initial value
	// Write says an attributeUpdates or rpc item writes (function code 5, 6, 15 or 16 configured; every
	// attributeUpdates item of the slave section); other rpc items read.
	Write bool
}

// lineKey identifies the physical line a device is on: devices with the same key share one queue and one
// connection.
func (d *Device) lineKey() string {
	if d.Transport == "serial" {
		return "serial:" + d.SerialPort
	}
	return d.url()
}

// url is the simonvetter/modbus client URL of the device (for serial lines, which the project's own client
// serves, the method and the port).
func (d *Device) url() string {
	switch {
	case d.TLS != nil:
		return "tcp+tls://" + hostPort(d.Host, d.Port)
	case d.Transport == "serial":
		return d.Method + "://" + d.SerialPort
	case d.Transport == "udp" && d.Method == "rtu":
		return "rtuoverudp://" + hostPort(d.Host, d.Port)
	case d.Transport == "udp":
		return "udp://" + hostPort(d.Host, d.Port)
	case d.Method == "rtu":
		return "rtuovertcp://" + hostPort(d.Host, d.Port)
	}
	return "tcp://" + hostPort(d.Host, d.Port)
}

func hostPort(h string, p int) string {
	if h == "localhost" {
		h = "127.0.0.1" // avoid an IPv6 attempt first on hosts where localhost resolves to ::1
	}
	return h + ":" + strconv.Itoa(p)
}

// Decode parses a connector file: the plain shape ({"master": {...}, "slave": {...}}) or the remote
// configuration shape ({"Modbus": {"name", "type", "configurationJson": {...}}}). It does no I/O. It returns the
// warnings (unknown keys, keys accepted without effect, items of a type that does not exist) and the first error,
// both naming the key path; callers prefix the file (tbgateway.ConnectorConfig.Located).
func Decode(raw []byte) (*Config, []string, error) {
	d := confjson.New("")
	top, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	if inner := remoteShape(top); inner != nil {
		inner.Ignore("name", "type", "logLevel", "configuration", "id", "ts", "enableRemoteLogging", "configVersion")
		top = inner.Object("configurationJson")
		defer inner.Done()
	}
	cfg := decodeConfig(top)
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

// remoteShape returns the one object of top that holds "configurationJson", or nil for the plain shape.
func remoteShape(top *confjson.Object) *confjson.Object {
	keys := top.Keys()
	if len(keys) != 1 {
		return nil
	}
	m, ok := top.Map()[keys[0]].(map[string]any)
	if !ok || m["configurationJson"] == nil {
		return nil
	}
	return top.Object(keys[0])
}

func decodeConfig(top *confjson.Object) *Config {
	d := top.Decoder()
	cfg := &Config{Name: top.String("name", "")}
	top.Ignore("logLevel", "id", "configVersion", "enableRemoteLogging", "ts")
	reportStrategy(top) // the connector-wide strategy is applied by the runtime; checked here
	if !top.Has("master") && !top.Has("slave") {
		d.FailMissing(top.Key("master"), `a "master" or a "slave" section`)
	}
	master := top.Object("master")
	names := map[string]string{}
	for _, s := range master.Objects("slaves") {
		dev := decodeDevice(s)
		s.Done()
		if d.Failed() {
			return nil
		}
		if prev, dup := names[dev.Name]; dup {
			d.Failf(s.Key("deviceName"), "%q is also the name of %s", dev.Name, prev)
			return nil
		}
		names[dev.Name] = dev.Path
		cfg.Devices = append(cfg.Devices, dev)
	}
	master.Done()
	if slave := top.Object("slave"); slave != nil {
		cfg.Slave = decodeSlave(slave)
		slave.Done()
	}
	top.Done()
	return cfg
}

// reportStrategy returns a "reportStrategy" object as written, after checking it.
func reportStrategy(o *confjson.Object) json.RawMessage {
	rs := o.Raw("reportStrategy")
	if rs == nil {
		return nil
	}
	if _, err := report.ParseConfig(rs); err != nil {
		o.Decoder().Failf(o.Key("reportStrategy"), "%v", err)
		return nil
	}
	return rs
}

// millis reads a duration in milliseconds of at least lo.
func millis(o *confjson.Object, k string, def, lo time.Duration) time.Duration {
	f := o.FloatAs(k, float64(def)/float64(time.Millisecond), float64(lo)/float64(time.Millisecond), math.MaxFloat64,
		fmt.Sprintf("a number of milliseconds >= %v", float64(lo)/float64(time.Millisecond)))
	return time.Duration(f * float64(time.Millisecond))
}

// positiveMillis reads a duration in milliseconds that must be above 0.
func positiveMillis(o *confjson.Object, k string, def time.Duration) time.Duration {
	f := o.FloatAs(k, float64(def)/float64(time.Millisecond), math.SmallestNonzeroFloat64, math.MaxFloat64,
		"a positive number of milliseconds")
	return time.Duration(f * float64(time.Millisecond))
}

// byteWordOrder reads "byteOrder" and "wordOrder" (BIG or LITTLE, any case) with the given defaults.
func byteWordOrder(o *confjson.Object, byteOrder, wordOrder string) (string, string) {
	return o.OneOf("byteOrder", byteOrder, "BIG", "LITTLE"), o.OneOf("wordOrder", wordOrder, "BIG", "LITTLE")
}

func decodeDevice(o *confjson.Object) *Device {
	d := o.Decoder()
	dev := &Device{Path: o.Path()}
	o.Ignore("retryOnEmpty", "retryOnInvalid", "sendDataOnlyOnChange", "id")
	dev.Transport = o.OneOf("type", "tcp", "tcp", "udp", "serial", "tls")
	dev.Method = strings.ToLower(o.String("method", ""))
	switch dev.Transport {
	case "tcp", "udp", "tls":
		if dev.Method == "" {
			dev.Method = "socket"
		}
		if dev.TLS = decodeTLS(o, dev); dev.TLS != nil && dev.Method != "socket" && dev.Method != "tls" {
			d.Failf(o.Key("method"), "method %q over TLS is not supported (have socket, tls: both frame with the MBAP header)", dev.Method)
		} else if dev.TLS == nil && dev.Method != "socket" && dev.Method != "rtu" {
			d.Failf(o.Key("method"), "method %q over %s is not supported yet (have socket, rtu)", dev.Method, dev.Transport)
		}
		if o.Require("host", "the device's host name or address") {
			if dev.Host = o.String("host", ""); dev.Host == "" {
				d.Fail(o.Key("host"), "the device's host name or address", "")
			}
		}
		dev.Port = int(o.IntAs("port", 502, 1, 65535, "a port number 1-65535"))
	case "serial":
		if dev.Method == "" {
			dev.Method = "rtu"
		}
		if dev.Method != "rtu" && dev.Method != "ascii" {
			d.Failf(o.Key("method"), "method %q over serial is not supported (have rtu, ascii)", dev.Method)
		}
		dev.HandleLocalEcho = o.Bool("handleLocalEcho", false)
		if dev.SerialPort = o.String("port", ""); dev.SerialPort == "" {
			d.FailMissing(o.Key("port"), "the serial device (e.g. /dev/ttyUSB0) for type serial")
		}
		o.Ignore("host")
		decodeTLS(o, dev)
	}
	if dev.Transport != "serial" && o.Bool("handleLocalEcho", false) {
		d.Warn(o.Key("handleLocalEcho"), "applies to serial lines only (as in the Python gateway); ignored for type "+dev.Transport)
	}
	dev.Baudrate = int(o.Int("baudrate", DefaultBaudrate, 1, math.MaxInt32))
	dev.Bytesize = int(o.Int("bytesize", 8, 5, 8))
	dev.Parity = o.OneOf("parity", "N", "N", "E", "O")
	dev.Stopbits = int(o.Int("stopbits", 1, 1, 2))
	unit := o.IntAs("unitId", 1, 0, 255, "a unit id 0-255")
	dev.UnitID = uint8(unit)
	dev.Name = o.String("deviceName", fmt.Sprintf(defaultMasterDeviceName, unit))
	if strings.TrimSpace(dev.Name) == "" {
		d.Fail(o.Key("deviceName"), "a device name", dev.Name)
	}
	dev.Type = o.String("deviceType", tbgateway.DefaultDeviceType)
	dev.Timeout = time.Duration(o.FloatAs("timeout", DefaultTimeout.Seconds(), math.SmallestNonzeroFloat64,
		math.MaxFloat64, "a positive number of seconds") * float64(time.Second))
	dev.Retries = retries(o)
	if o.Require("pollPeriod", "the milliseconds between polls") {
		dev.PollPeriod = positiveMillis(o, "pollPeriod", 0)
	}
	dev.ConnectAttemptTime = millis(o, "connectAttemptTimeMs", DefaultConnectAttempt, 0)
	dev.ConnectAttempts = max(int(o.Int("connectAttemptCount", DefaultConnectAttempts, 0, math.MaxInt32)), 1)
	dev.WaitAfterFailed = millis(o, "waitAfterFailedAttemptsMs", DefaultWaitAfterFailed, 0)
	dev.DelayBetween = millis(o, "delayBetweenRequestsMs", 0, 0)
	dev.MaxReadGap = int(o.Int("maxReadGap", DefaultMaxReadGap, 0, MaxBitsPerRead))
	dev.ReportStrategy = reportStrategy(o)
	dev.ByteOrder, dev.WordOrder = byteWordOrder(o, "LITTLE", "LITTLE")
	for _, s := range []struct {
		key   string
		into  *[]*Item
		write bool
		rpc   bool
	}{{"attributes", &dev.Attributes, false, false}, {"timeseries", &dev.Timeseries, false, false},
		{"attributeUpdates", &dev.AttributeUpdates, true, false}, {"rpc", &dev.RPC, true, true}} {
		for _, io := range o.Objects(s.key) {
			switch it, rng := decodeItem(io, dev.ByteOrder, dev.WordOrder, s.write, s.rpc, false); {
			case it == nil:
			case rng != nil:
				*s.into = append(*s.into, expandRange(io, it, *rng, dev.UnitID)...)
			default:
				*s.into = append(*s.into, it)
			}
		}
	}
	dev.SetRepack(o.Bool("repack", false))
	decodeConverters(o, dev)
	return dev
}

// retries reads "retries": a count, or true (3) / false (0).
func retries(o *confjson.Object) int {
	if v, ok := o.Map()["retries"].(bool); ok {
		o.Ignore("retries")
		if v {
			return DefaultRetries
		}
		return 0
	}
	return int(o.IntAs("retries", DefaultRetries, 0, math.MaxInt32, "a count or true/false"))
}
