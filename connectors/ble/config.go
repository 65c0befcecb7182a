package ble

import (
	"encoding/json"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
	"github.com/tbgateway/tbgateway/report"
)

// Defaults, as the Python connector applies them (milliseconds unless named otherwise).
const (
	DefaultScannerTimeoutMs    = 10000
	DefaultScannerPollPeriodMs = 5000
	DefaultPollPeriodMs        = 5000
	DefaultTimeoutMs           = 10000
	DefaultConnectRetry        = 5
)

// Config is a BLE connector file in the Python gateway's shape (see Decode for the keys).
type Config struct {
	// Name is the connector's name in its file (the main config's name wins).
	Name string
	// PassiveScanMode asks for a passive scan (BlueZ advertisement monitor with the scanner.deviceName pattern).
	PassiveScanMode bool
	// ShowMap logs the devices the scanner discovers and is the default of every device's showMap.
	ShowMap bool
	// ScanWindow is how long one scan lasts (scannerTimeout, else scanner.timeout).
	ScanWindow time.Duration
	// ScanPeriod is how often a scan starts (scannerPollPeriod); not longer than ScanWindow means always scanning.
	ScanPeriod time.Duration
	// ScanDeviceName filters what showMap and the connector's scan RPC list and is the passive scan's pattern.
	ScanDeviceName string
	// Adapter is the BlueZ adapter ("hci0"); "" is the first one BlueZ lists. Our key, Python has none.
	Adapter string
	// BusAddress is the system bus address; "" is $DBUS_SYSTEM_BUS_ADDRESS or the standard socket. Our key.
	BusAddress string
	// ReportStrategy is the connector-wide strategy; the runtime applies it.
	ReportStrategy json.RawMessage
	Devices        []DeviceConfig
}

// DeviceConfig is one entry of "devices".
type DeviceConfig struct {
	Name string
	// MAC is "MACAddress", upper case.
	MAC        string
	DeviceType string
	PollPeriod time.Duration
	// Timeout bounds one connection attempt.
	Timeout time.Duration
	// ConnectRetry, ConnectRetryEvery and WaitAfterConnectRetries shape the reconnect back-off: ConnectRetry
	// attempts ConnectRetryEvery apart, then WaitAfterConnectRetries, and over again.
	ConnectRetry            int
	ConnectRetryEvery       time.Duration
	WaitAfterConnectRetries time.Duration
	ShowMap                 bool
	// Type is "bytes" or "hex"; "" means bytes for characteristics and hex for advertisement data (Python).
	Type string
	// Extension names a custom converter (tbgateway.RegisterConverter), or one of the Python built-in names.
	Extension string
	// Expression is the device's uplink expression converter ("extension": "expression" with the expression keys
	// in the device object, docs/converters.md), compiled by Decode; Extension is then "expression".
	Expression *expression.Uplink
	// Raw is the device's JSON object, handed to a custom converter's factory.
	Raw              json.RawMessage
	ReportStrategy   json.RawMessage
	Telemetry        []KeyConfig
	Attributes       []KeyConfig
	AttributeUpdates []UpdateConfig
	RPC              []RPCConfig
}

// Source of a key's data.
const (
	SourceCharacteristic = "characteristic"
	SourceAdvertisement  = "advertisement"
)

// Methods of a characteristic key.
const (
	MethodRead   = "read"
	MethodNotify = "notify"
)

// KeyConfig is one telemetry or attribute entry.
type KeyConfig struct {
	Key    string
	Method string // read or notify (characteristic source)
	// UUID is the characteristic (or, for advertisement data, the service whose service data is read; empty
	// means the manufacturer data), normalised to lower-case 128-bit form.
	UUID            string
	ValueExpression string
	Source          string
	ReportStrategy  json.RawMessage
	path            string
}

// UpdateConfig is one "attributeUpdates" entry.
type UpdateConfig struct {
	Attribute string // attributeOnThingsBoard
	UUID      string
}

// RPC processing kinds.
const (
	ProcRead  = "read"
	ProcWrite = "write"
	ProcScan  = "scan"
)

// RPCConfig is one "serverSideRpc" entry.
type RPCConfig struct {
	Method       string // methodRPC
	WithResponse bool
	UUID         string
	Processing   string // read, write or scan
}

// Built-in converter names of the Python gateway, accepted in "extension".
const (
	pyBytesConverter = "BytesBLEUplinkConverter"
	pyHexConverter   = "HexBytesBLEUplinkConverter"
)

// Decode parses a connector file, applies the Python gateway's defaults and validates it, without I/O. file names
// the file in every message; warnings name unknown or ignored keys by their path. It never panics.
func Decode(file string, raw []byte) (*Config, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{}
	cfg.Name = root.String("name", "")
	root.Ignore("id", "configVersion", "enableRemoteLogging", "logLevel")
	cfg.ReportStrategy = report.Read(root, "reportStrategy")
	cfg.PassiveScanMode = root.Bool("passiveScanMode", false)
	cfg.ShowMap = root.Bool("showMap", false)
	cfg.Adapter = root.String("adapter", "")
	cfg.BusAddress = root.String("busAddress", "")
	window := int64(0)
	root.Sub("scanner", func(s *confjson.Object) {
		window = s.Int("timeout", 0, 0, 1<<31)
		cfg.ScanDeviceName = s.String("deviceName", "")
	})
	if w := root.Int("scannerTimeout", 0, 0, 1<<31); w > 0 {
		window = w
	}
	if window == 0 {
		window = DefaultScannerTimeoutMs
	}
	cfg.ScanWindow = time.Duration(window) * time.Millisecond
	cfg.ScanPeriod = msKey(root, "scannerPollPeriod", DefaultScannerPollPeriodMs)
	names := map[string]string{}
	macs := map[string]string{}
	for i, do := range root.Objects("devices") {
		dc := decodeDevice(do, cfg.ShowMap)
		do.Done()
		if d.Failed() {
			break
		}
		p := confjson.Index("devices", i)
		if prev, dup := names[dc.Name]; dup {
			d.Failf(p+".name", "device name %q is also used by %s", dc.Name, prev)
		}
		if prev, dup := macs[dc.MAC]; dup {
			d.Failf(p+".MACAddress", "MAC address %s is also used by %s", dc.MAC, prev)
		}
		names[dc.Name], macs[dc.MAC] = p, p
		cfg.Devices = append(cfg.Devices, dc)
	}
	if !d.Failed() && len(cfg.Devices) == 0 {
		d.Failf(root.Key("devices"), "expected at least one device")
	}
	root.Done()
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

func decodeDevice(o *confjson.Object, showMap bool) DeviceConfig {
	d := o.Decoder()
	raw, _ := json.Marshal(o.Map()) // a tree decoded from JSON always encodes
	dc := DeviceConfig{Raw: raw}
	if o.Require("name", "the device's name at ThingsBoard") {
		if dc.Name = o.String("name", ""); dc.Name == "" && !d.Failed() {
			d.Fail(o.Key("name"), "a device name", "")
		}
	}
	if o.Require("MACAddress", "the device's MAC address (AA:BB:CC:DD:EE:FF)") {
		mac := o.String("MACAddress", "")
		if m, ok := normalMAC(mac); ok {
			dc.MAC = m
		} else if !d.Failed() {
			d.Fail(o.Key("MACAddress"), "a MAC address AA:BB:CC:DD:EE:FF", mac)
		}
	}
	dc.DeviceType = o.String("deviceType", tbgateway.DefaultDeviceType)
	dc.PollPeriod = msKey(o, "pollPeriod", DefaultPollPeriodMs)
	dc.Timeout = msKey(o, "timeout", DefaultTimeoutMs)
	dc.ConnectRetry = int(o.Int("connectRetry", DefaultConnectRetry, 0, 1<<20))
	dc.ConnectRetryEvery = seconds(o.Float("connectRetryInSeconds", 0, 0, 86400))
	dc.WaitAfterConnectRetries = seconds(o.Float("waitAfterConnectRetries", 0, 0, 86400))
	dc.ShowMap = o.Bool("showMap", showMap)
	dc.Type = o.OneOf("type", "", "bytes", "hex")
	dc.Extension = o.String("extension", "")
	o.Ignore("extensionConfig", "extension-config")
	switch dc.Extension {
	case pyBytesConverter:
		dc.Type, dc.Extension = "bytes", ""
	case pyHexConverter:
		dc.Type, dc.Extension = "hex", ""
	case expression.Name:
		// the converter's inputs as the registry's factory sets them for a device object
		mac, _ := o.Map()["MACAddress"].(string)
		dc.Expression = expression.DecodeUplink(o, expression.Env{Device: dc.Name, DeviceType: dc.DeviceType, Address: mac})
	}
	dc.ReportStrategy = report.Read(o, "reportStrategy")
	dc.Telemetry = decodeKeys(o, "telemetry")
	dc.Attributes = decodeKeys(o, "attributes")
	for _, u := range o.Objects("attributeUpdates") {
		var uc UpdateConfig
		if u.Require("attributeOnThingsBoard", "the shared attribute's name") {
			uc.Attribute = u.String("attributeOnThingsBoard", "")
		}
		uc.UUID = uuidKey(u, "characteristicUUID", true)
		u.Done()
		dc.AttributeUpdates = append(dc.AttributeUpdates, uc)
	}
	for _, r := range o.Objects("serverSideRpc") {
		var rc RPCConfig
		if r.Require("methodRPC", "the RPC method's name") {
			rc.Method = r.String("methodRPC", "")
		}
		rc.WithResponse = r.Bool("withResponse", true)
		rc.Processing = r.OneOf("methodProcessing", "", ProcRead, ProcWrite, ProcScan)
		if rc.Processing == "" && !d.Failed() {
			d.FailMissing(r.Key("methodProcessing"), "one of read, write, scan")
		}
		rc.UUID = uuidKey(r, "characteristicUUID", rc.Processing != ProcScan)
		if lower := strings.ToLower(rc.Method); (lower == "get" || lower == "set") && !d.Failed() {
			d.Failf(r.Key("methodRPC"), "%q is a reserved RPC method (characteristicUUID=...;value=...)", rc.Method)
		}
		r.Done()
		dc.RPC = append(dc.RPC, rc)
	}
	return dc
}

func decodeKeys(o *confjson.Object, section string) []KeyConfig {
	d := o.Decoder()
	var out []KeyConfig
	for i, ko := range o.Objects(section) {
		k := KeyConfig{path: confjson.Index(o.Key(section), i)}
		if ko.Require("key", "the key's name at ThingsBoard") {
			k.Key = ko.String("key", "")
		}
		k.Source = ko.OneOf("dataSourceType", SourceCharacteristic, SourceCharacteristic, SourceAdvertisement)
		if k.Source == SourceCharacteristic {
			k.Method = ko.OneOf("method", MethodRead, MethodRead, MethodNotify)
		} else {
			ko.Ignore("method")
		}
		k.UUID = uuidKey(ko, "characteristicUUID", k.Source == SourceCharacteristic)
		k.ValueExpression = ko.String("valueExpression", "[:]")
		k.ReportStrategy = report.Read(ko, "reportStrategy")
		if ko.Has("compute") && !d.Failed() {
			d.Failf(ko.Key("compute"), "is a Python expression, which this gateway does not run; remove it, or "+
				"name a converter written in config in the device's \"extension\"")
		}
		ko.Done()
		out = append(out, k)
	}
	return out
}

// uuidKey reads a UUID and returns it in lower-case 128-bit form.
func uuidKey(o *confjson.Object, key string, required bool) string {
	d := o.Decoder()
	if required && !o.Require(key, "a characteristic UUID") {
		return ""
	}
	s := o.String(key, "")
	if s == "" {
		return ""
	}
	u, ok := NormalUUID(s)
	if !ok && !d.Failed() {
		d.Fail(o.Key(key), "a UUID (16-bit \"2a00\" or 128-bit)", s)
	}
	return u
}

// NormalUUID returns a Bluetooth UUID in lower-case 128-bit form: "2A00" and "00002a00" become
// "00002a00-0000-1000-8000-00805f9b34fb". ok is false for anything else than 4, 8 or 32 hex digits (dashes at
// the 128-bit places allowed).
func NormalUUID(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !isHex(strings.ReplaceAll(s, "-", "")) {
		return "", false
	}
	switch len(s) {
	case 4:
		return "0000" + s + baseUUIDTail, true
	case 8:
		return s + baseUUIDTail, true
	case 32:
		return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:], true
	case 36:
		if s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
			return s, true
		}
	}
	return "", false
}

const baseUUIDTail = "-0000-1000-8000-00805f9b34fb"

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// normalMAC accepts AA:BB:CC:DD:EE:FF (any case) and returns it upper case.
func normalMAC(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 17 {
		return "", false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return "", false
			}
		} else if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return s, true
}

// msKey reads a period in milliseconds: absent or 0 gives def.
func msKey(o *confjson.Object, key string, def int64) time.Duration {
	v := o.Int(key, def, 0, 1<<40)
	if v == 0 {
		v = def
	}
	return time.Duration(v) * time.Millisecond
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
