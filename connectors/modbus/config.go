package modbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
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
	Transport  string // tcp, udp, serial
	Method     string // socket, rtu, ascii
	Host       string
	Port       int
	SerialPort string
	Baudrate   int
	Bytesize   int
	Parity     string // N, E, O
	Stopbits   int
	UnitID     uint8
	Timeout    time.Duration
	Retries    int
	PollPeriod time.Duration
	// Connection attempts: ConnectAttempts tries ConnectAttemptTime apart, then a pause of WaitAfterFailed.
	ConnectAttemptTime time.Duration
	ConnectAttempts    int
	WaitAfterFailed    time.Duration
	DelayBetween       time.Duration
	MaxReadGap         int
	ReportStrategy     json.RawMessage
	ByteOrder          string // BIG or LITTLE: the device's default for its items
	WordOrder          string

	Attributes, Timeseries []*Item
	AttributeUpdates, RPC  []*Item
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

// url is the simonvetter/modbus client URL of the device.
func (d *Device) url() string {
	switch {
	case d.Transport == "serial":
		return "rtu://" + d.SerialPort
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
// configuration shape ({"Modbus": {"name", "type", "configurationJson": {...}}}). It returns warnings for
// unknown and ignored keys and the first error, both naming the key path.
func Decode(raw []byte) (*Config, []string, error) {
	top, err := newObj("", raw)
	if err != nil {
		return nil, nil, err
	}
	var warns []string
	prefix := ""
	if len(top.m) == 1 {
		for k, v := range top.m {
			inner, err := newObj(k, v)
			if err == nil && inner.has("configurationJson") {
				inner.ignore("name", "type", "logLevel", "configuration", "id", "ts", "enableRemoteLogging", "configVersion")
				if top, err = inner.child("configurationJson"); err != nil {
					return nil, nil, err
				}
				warns = append(warns, inner.unknown()...)
				prefix = k + ".configurationJson."
			}
		}
	}
	_ = prefix
	cfg := &Config{}
	if cfg.Name, err = top.str("name", ""); err != nil {
		return nil, warns, err
	}
	top.ignore("logLevel", "id", "configVersion", "enableRemoteLogging", "reportStrategy", "ts")
	if rs, ok := top.get("reportStrategy"); ok {
		if _, err := report.ParseConfig(rs); err != nil {
			return nil, warns, fmt.Errorf("%s: %w", top.key("reportStrategy"), err)
		}
	}
	master, err := top.child("master")
	if err != nil {
		return nil, warns, err
	}
	if master != nil {
		slaves, err := master.list("slaves")
		if err != nil {
			return nil, warns, err
		}
		names := map[string]string{}
		for i, s := range slaves {
			d, w, err := decodeDevice(fmt.Sprintf("%s[%d]", master.key("slaves"), i), s)
			warns = append(warns, w...)
			if err != nil {
				return nil, warns, err
			}
			if prev, dup := names[d.Name]; dup {
				return nil, warns, fmt.Errorf("%s.deviceName: %q is also the name of %s", d.Path, d.Name, prev)
			}
			names[d.Name] = d.Path
			cfg.Devices = append(cfg.Devices, d)
		}
		warns = append(warns, master.unknown()...)
	}
	slave, err := top.child("slave")
	if err != nil {
		return nil, warns, err
	}
	if slave != nil {
		sc, w, err := decodeSlave(slave)
		warns = append(warns, w...)
		if err != nil {
			return nil, warns, err
		}
		cfg.Slave = sc
	}
	if master == nil && slave == nil {
		return nil, warns, errors.New("master: a \"master\" or a \"slave\" section is required")
	}
	warns = append(warns, top.unknown()...)
	return cfg, warns, nil
}

func decodeDevice(path string, raw json.RawMessage) (*Device, []string, error) {
	o, err := newObj(path, raw)
	if err != nil {
		return nil, nil, err
	}
	var warns []string
	d := &Device{Path: path}
	o.ignore("retryOnEmpty", "retryOnInvalid", "sendDataOnlyOnChange", "repack", "handleLocalEcho",
		"uplink_converter", "downlink_converter", "id")
	if d.Transport, err = o.str("type", "tcp"); err != nil {
		return nil, nil, err
	}
	d.Transport = strings.ToLower(d.Transport)
	if d.Method, err = o.str("method", ""); err != nil {
		return nil, nil, err
	}
	d.Method = strings.ToLower(d.Method)
	switch d.Transport {
	case "tcp", "udp":
		if d.Method == "" {
			d.Method = "socket"
		}
		if d.Method != "socket" && d.Method != "rtu" {
			return nil, nil, fmt.Errorf("%s: method %q over %s is not supported yet (have socket, rtu)", o.key("method"), d.Method, d.Transport)
		}
		if d.Host, err = o.str("host", ""); err != nil {
			return nil, nil, err
		}
		if d.Host == "" {
			return nil, nil, fmt.Errorf("%s: required for type %s", o.key("host"), d.Transport)
		}
		if d.Port, err = o.integer("port", 502); err != nil {
			return nil, nil, err
		}
		if d.Port < 1 || d.Port > 65535 {
			return nil, nil, fmt.Errorf("%s: %d is not a port number", o.key("port"), d.Port)
		}
	case "serial":
		if d.Method == "" {
			d.Method = "rtu"
		}
		if d.Method != "rtu" {
			return nil, nil, fmt.Errorf("%s: method %q over serial is not supported yet (have rtu)", o.key("method"), d.Method)
		}
		if d.SerialPort, err = o.str("port", ""); err != nil {
			return nil, nil, err
		}
		if d.SerialPort == "" {
			return nil, nil, fmt.Errorf("%s: the serial device is required for type serial", o.key("port"))
		}
		o.ignore("host")
	case "tls":
		return nil, nil, fmt.Errorf("%s: type tls is not supported yet", o.key("type"))
	default:
		return nil, nil, fmt.Errorf("%s: want tcp, udp or serial, found %q", o.key("type"), d.Transport)
	}
	if o.has("tls") {
		return nil, nil, fmt.Errorf("%s: TLS is not supported yet", o.key("tls"))
	}
	if d.Baudrate, err = o.integer("baudrate", DefaultBaudrate); err != nil {
		return nil, nil, err
	}
	if d.Bytesize, err = o.integer("bytesize", 8); err != nil {
		return nil, nil, err
	}
	if d.Parity, err = o.str("parity", "N"); err != nil {
		return nil, nil, err
	}
	if d.Parity = strings.ToUpper(d.Parity); d.Parity != "N" && d.Parity != "E" && d.Parity != "O" {
		return nil, nil, fmt.Errorf("%s: want N, E or O, found %q", o.key("parity"), d.Parity)
	}
	if d.Stopbits, err = o.integer("stopbits", 1); err != nil {
		return nil, nil, err
	}
	unit, err := o.integer("unitId", 1)
	if err != nil {
		return nil, nil, err
	}
	if unit < 0 || unit > 255 {
		return nil, nil, fmt.Errorf("%s: %d is not a unit id (0-255)", o.key("unitId"), unit)
	}
	d.UnitID = uint8(unit)
	if d.Name, err = o.str("deviceName", fmt.Sprintf(defaultMasterDeviceName, unit)); err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(d.Name) == "" {
		return nil, nil, fmt.Errorf("%s: empty device name", o.key("deviceName"))
	}
	if d.Type, err = o.str("deviceType", tbgateway.DefaultDeviceType); err != nil {
		return nil, nil, err
	}
	secs, err := o.num("timeout", DefaultTimeout.Seconds())
	if err != nil {
		return nil, nil, err
	}
	if secs <= 0 {
		return nil, nil, fmt.Errorf("%s: %v is not positive", o.key("timeout"), secs)
	}
	d.Timeout = time.Duration(secs * float64(time.Second))
	if d.Retries, err = retries(o); err != nil {
		return nil, nil, err
	}
	if !o.has("pollPeriod") {
		return nil, nil, fmt.Errorf("%s: required (milliseconds between polls)", o.key("pollPeriod"))
	}
	ms := func(k string, def time.Duration) (time.Duration, error) {
		f, err := o.num(k, float64(def.Milliseconds()))
		if err != nil {
			return 0, err
		}
		if f < 0 {
			return 0, fmt.Errorf("%s: %v is negative", o.key(k), f)
		}
		return time.Duration(f * float64(time.Millisecond)), nil
	}
	if d.PollPeriod, err = ms("pollPeriod", 0); err != nil {
		return nil, nil, err
	}
	if d.PollPeriod <= 0 {
		return nil, nil, fmt.Errorf("%s: must be positive", o.key("pollPeriod"))
	}
	if d.ConnectAttemptTime, err = ms("connectAttemptTimeMs", DefaultConnectAttempt); err != nil {
		return nil, nil, err
	}
	if d.ConnectAttempts, err = o.integer("connectAttemptCount", DefaultConnectAttempts); err != nil {
		return nil, nil, err
	}
	d.ConnectAttempts = max(d.ConnectAttempts, 1)
	if d.WaitAfterFailed, err = ms("waitAfterFailedAttemptsMs", DefaultWaitAfterFailed); err != nil {
		return nil, nil, err
	}
	if d.DelayBetween, err = ms("delayBetweenRequestsMs", 0); err != nil {
		return nil, nil, err
	}
	if d.MaxReadGap, err = o.integer("maxReadGap", DefaultMaxReadGap); err != nil {
		return nil, nil, err
	}
	if d.MaxReadGap < 0 {
		return nil, nil, fmt.Errorf("%s: %d is negative", o.key("maxReadGap"), d.MaxReadGap)
	}
	if rs, ok := o.get("reportStrategy"); ok {
		if _, err := report.ParseConfig(rs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.key("reportStrategy"), err)
		}
		d.ReportStrategy = rs
	}
	order := func(k string) (string, error) {
		s, err := o.str(k, "LITTLE")
		if err != nil {
			return "", err
		}
		if s = strings.ToUpper(s); s != "BIG" && s != "LITTLE" {
			return "", fmt.Errorf("%s: want BIG or LITTLE, found %q", o.key(k), s)
		}
		return s, nil
	}
	bo, err := order("byteOrder")
	if err != nil {
		return nil, nil, err
	}
	wo, err := order("wordOrder")
	if err != nil {
		return nil, nil, err
	}
	d.ByteOrder, d.WordOrder = bo, wo
	sections := []struct {
		key   string
		into  *[]*Item
		write bool
		rpc   bool
	}{{"attributes", &d.Attributes, false, false}, {"timeseries", &d.Timeseries, false, false},
		{"attributeUpdates", &d.AttributeUpdates, true, false}, {"rpc", &d.RPC, true, true}}
	for _, s := range sections {
		items, err := o.list(s.key)
		if err != nil {
			return nil, nil, err
		}
		for j, raw := range items {
			it, w, err := decodeItem(fmt.Sprintf("%s[%d]", o.key(s.key), j), raw, bo, wo, s.write, s.rpc, false)
			warns = append(warns, w...)
			if errors.Is(err, errSkipItem) {
				continue
			}
			if err != nil {
				return nil, warns, err
			}
			*s.into = append(*s.into, it)
		}
	}
	warns = append(warns, o.unknown()...)
	return d, warns, nil
}

// retries reads "retries": a count, or true (3) / false (0).
func retries(o *obj) (int, error) {
	v, ok := o.get("retries")
	if !ok {
		return DefaultRetries, nil
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		if b {
			return DefaultRetries, nil
		}
		return 0, nil
	}
	n, err := o.integer("retries", DefaultRetries)
	if err != nil {
		return 0, fmt.Errorf("%s: want a count or true/false, found %s", o.key("retries"), describe(v))
	}
	if n < 0 {
		return 0, fmt.Errorf("%s: %d is negative", o.key("retries"), n)
	}
	return n, nil
}
