package mqtt

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
	"github.com/tbgateway/tbgateway/internal/values"
	"github.com/tbgateway/tbgateway/report"
)

// Defaults applied by Decode, as in the Python gateway unless said otherwise.
const (
	DefaultPort             = 1883
	DefaultVersion          = 5
	DefaultKeepAliveSeconds = 60
	DefaultQoS              = 1
	// DefaultRPCTimeout bounds a two-way RPC whose rule names no responseTimeout.
	DefaultRPCTimeout = 10 * time.Second
	// DefaultReconnectMin and DefaultReconnectMax bound the reconnect backoff (the Python gateway retries every
	// 10 s); our keys broker.reconnectMinDelaySeconds / reconnectMaxDelaySeconds change them.
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 10 * time.Second
)

// Expression sources of deviceInfo and attribute requests.
const (
	SourceMessage  = "message"  // ${...} expressions into the JSON payload (or byte slices for bytes converters)
	SourceTopic    = "topic"    // a regular expression searched in the topic: the whole match
	SourceConstant = "constant" // the text itself (${...} still rendered, as the Python gateway does)
)

// Converter types.
const (
	ConverterJSON   = "json"
	ConverterBytes  = "bytes"
	ConverterCustom = "custom"
)

// Config is an MQTT connector configuration file, normalised to the Python gateway's new shape (old-shape files
// are upgraded first, so an old file and its new equivalent decode to equal Configs).
type Config struct {
	Name               string
	LogLevel           string
	Broker             BrokerConfig
	Mapping            []MappingConfig
	ConnectRequests    []DeviceRequestConfig
	DisconnectRequests []DeviceRequestConfig
	AttributeRequests  []AttributeRequestConfig
	AttributeUpdates   []AttributeUpdateConfig
	ServerSideRPC      []RPCConfig
	// ReportStrategy is the connector-wide report strategy; the runtime applies it.
	ReportStrategy json.RawMessage
	// OnlyOnChange is the root's (or the broker section's) "sendDataOnlyOnChange" without a root
	// "reportStrategy": the connector asks the runtime for ON_CHANGE (see ReportStrategies).
	OnlyOnChange bool
}

// BrokerConfig is the "broker" section.
type BrokerConfig struct {
	// OnlyOnChange is the section's "sendDataOnlyOnChange" (where older files carry it): the same as the root's.
	OnlyOnChange bool
	Name         string
	Host         string
	Port         int
	ClientID     string // empty: a random id per connection (no persistent session is possible then)
	// Version is 3 (MQTT 3.1), 4 (3.1.1) or 5.
	Version   int
	KeepAlive time.Duration
	// CleanSession is cleanSession for versions 3 and 4 and cleanStart for 5 (each falls back to the other key).
	// false with a fixed ClientID is a persistent session: the broker keeps what the gateway has not acknowledged.
	CleanSession bool
	// SessionExpiry is MQTT 5's session expiry interval (sessionExpiryInterval, seconds).
	SessionExpiry uint32
	Security      SecurityConfig
	ReconnectMin  time.Duration
	ReconnectMax  time.Duration
}

// ReconnectPolicy is the broker reconnect's backoff: from ReconnectMin doubling up to ReconnectMax, with jitter.
func (b *BrokerConfig) ReconnectPolicy() backoff.Policy {
	initial := max(b.ReconnectMin, time.Millisecond) // 0 means "at once"; a floor keeps the loop from spinning
	return backoff.Exponential(initial, 2, b.ReconnectMax)
}

// SecurityConfig is broker.security: anonymous, basic (username/password) or certificates (TLS; with
// pathToPrivateKey and pathToClientCert also a client certificate).
type SecurityConfig struct {
	Type       string // "anonymous", "basic" or "certificates" (also the old shape: caCert, privateKey, cert)
	Username   string
	Password   string
	CACert     string
	PrivateKey string
	ClientCert string
	Insecure   bool // do not verify the broker's certificate (Python: "insecure")
}

// MappingConfig is one uplink mapping: a topic filter and the converter for the messages it matches.
type MappingConfig struct {
	TopicFilter string
	QoS         byte
	Converter   ConverterConfig
}

// ConverterConfig is a mapping's converter.
type ConverterConfig struct {
	Type       string
	DeviceInfo DeviceInfoConfig
	// Attributes and Timeseries are the key mappings; AllAttributes / AllTimeseries stand for "*" (every
	// top-level key of the payload).
	Attributes    []DatapointConfig
	Timeseries    []DatapointConfig
	AllAttributes bool
	AllTimeseries bool
	// UseReceivedTS ignores timestamps in the payload: the gateway stamps every message.
	UseReceivedTS bool
	// HexMode makes a bytes converter render slices as lower-case hex instead of text.
	HexMode bool
	// Extension and ExtensionConfig name a custom converter (tbgateway.RegisterConverter) and its settings.
	Extension       string
	ExtensionConfig json.RawMessage
	// Raw is the whole converter object (what a custom converter's factory receives).
	Raw json.RawMessage
	// ReportStrategy is the mapping's report strategy (applied by the runtime per device); the converter's
	// "sendDataOnlyOnChange": true without a "reportStrategy" sets ON_CHANGE here.
	ReportStrategy json.RawMessage
}

// DeviceInfoConfig says where a device's name and profile come from.
type DeviceInfoConfig struct {
	NameSource        string
	NameExpression    string
	ProfileSource     string
	ProfileExpression string
}

// DatapointConfig is one attribute or time series: key and value templates, a type hint and an optional
// timestamp field.
type DatapointConfig struct {
	Key     string
	Type    string
	Value   string
	TSField string
	// DayFirst and YearFirst settle ambiguous all-number dates of the tsField (dateutil's dayfirst, yearfirst).
	DayFirst, YearFirst bool
	ReportStrategy      json.RawMessage
	// KeySource is "message" (Key is a template on the payload) or "topic" (Key is a regular expression
	// searched in the topic; the whole match is the key, and no match skips the key).
	KeySource string
}

// DeviceRequestConfig is a connect or disconnect request: messages on TopicFilter name a device to connect or
// disconnect.
type DeviceRequestConfig struct {
	TopicFilter string
	DeviceInfo  DeviceInfoConfig
}

// AttributeRequestConfig is an attribute request: a device asks for attribute values; ThingsBoard's reply is
// published to TopicExpression.
type AttributeRequestConfig struct {
	TopicFilter             string
	DeviceInfo              DeviceInfoConfig
	AttributeNameSource     string
	AttributeNameExpression string
	Client                  bool // scope "client"; otherwise shared
	TopicExpression         string
	ValueExpression         string
	Retain                  bool
	QoS                     byte
}

// AttributeUpdateConfig publishes shared-attribute updates of matching devices and keys.
type AttributeUpdateConfig struct {
	DeviceNameFilter string
	AttributeFilter  string
	TopicExpression  string
	ValueExpression  string
	Retain           bool
	QoS              byte
	// Downlink is the rule's "expression" (nil without one): its topic and payload replace the expressions'.
	Downlink *expression.Downlink
}

// RPCConfig serves server-side RPCs of matching devices and methods. It is two-way when it has a response
// topic: the first message on that topic is the reply, and none within Timeout is an error reply.
type RPCConfig struct {
	DeviceNameFilter        string
	MethodFilter            string
	RequestTopicExpression  string
	ResponseTopicExpression string
	ValueExpression         string
	Timeout                 time.Duration
	ResponseQoS             byte
	Retain                  bool
	QoS                     byte
	// Downlink is the rule's "expression" (nil without one): its topic and payload replace the request topic's
	// and the value's.
	Downlink *expression.Downlink
}

// TwoWay reports whether the rule waits for a reply.
func (r *RPCConfig) TwoWay() bool { return r.ResponseTopicExpression != "" }

// Decode parses a configuration (old or new shape), applies the defaults and validates it, compiling every
// expression and regular expression once to check it. It returns warnings (unknown keys, ignored settings) and
// an error naming the key path of the first problem. It never panics.
func Decode(raw []byte) (*Config, []string, error) { return DecodeFile("", raw) }

// DecodeFile is Decode with every warning and error prefixed by file ("" leaves it out).
func DecodeFile(file string, raw []byte) (*Config, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	upgrade(root.Map())
	cfg := &Config{}
	cfg.Name = root.String("name", "")
	cfg.LogLevel = root.String("logLevel", "")
	cfg.ReportStrategy = root.Raw("reportStrategy")
	checkStrategy(d, "reportStrategy", cfg.ReportStrategy)
	cfg.OnlyOnChange = root.Bool("sendDataOnlyOnChange", false) && len(cfg.ReportStrategy) == 0
	root.Ignore("id", "configVersion", "enableRemoteLogging")
	if root.Require("broker", "an object with the broker's host") {
		root.Sub("broker", func(b *confjson.Object) { cfg.Broker = decodeBroker(b) })
		cfg.OnlyOnChange = cfg.OnlyOnChange || (cfg.Broker.OnlyOnChange && len(cfg.ReportStrategy) == 0)
	}
	for _, m := range root.Objects("mapping") {
		cfg.Mapping = append(cfg.Mapping, decodeMapping(m))
	}
	root.Sub("requestsMapping", func(rm *confjson.Object) {
		for _, n := range rm.Objects("connectRequests") {
			cfg.ConnectRequests = append(cfg.ConnectRequests, decodeDeviceRequest(n))
		}
		for _, n := range rm.Objects("disconnectRequests") {
			cfg.DisconnectRequests = append(cfg.DisconnectRequests, decodeDeviceRequest(n))
		}
		for _, n := range rm.Objects("attributeRequests") {
			cfg.AttributeRequests = append(cfg.AttributeRequests, decodeAttributeRequest(n))
		}
		for _, n := range rm.Objects("attributeUpdates") {
			cfg.AttributeUpdates = append(cfg.AttributeUpdates, decodeAttributeUpdate(n))
		}
		for _, n := range rm.Objects("serverSideRpc") {
			cfg.ServerSideRPC = append(cfg.ServerSideRPC, decodeRPC(n))
		}
	})
	root.Done()
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	// Compiling checks every expression and regular expression; the compiled form is discarded here.
	if _, err := compile(cfg, d); err != nil {
		if file != "" {
			err = fmt.Errorf("%s: %w", file, err)
		}
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

func checkStrategy(d *confjson.Decoder, path string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	if _, err := report.ParseConfig(raw); err != nil {
		d.Failf(path, "%v", err)
	}
}

// required records "PATH: required" for a key whose value is empty.
func required(n *confjson.Object, k, value, why string) {
	if strings.TrimSpace(value) == "" {
		n.Decoder().FailMissing(n.Key(k), why)
	}
}

func decodeBroker(n *confjson.Object) BrokerConfig {
	b := BrokerConfig{}
	b.Name = n.String("name", "")
	b.Host = strings.TrimSpace(n.String("host", ""))
	required(n, "host", b.Host, "the broker's host name or address")
	b.Port = int(n.Int("port", DefaultPort, 1, 65535))
	b.ClientID = n.String("clientId", "")
	b.Version = int(n.Int("version", DefaultVersion, 3, 5))
	b.KeepAlive = time.Duration(n.Int("keepAlive", DefaultKeepAliveSeconds, 0, 65535)) * time.Second
	clean, start := n.OptBool("cleanSession"), n.OptBool("cleanStart")
	b.CleanSession = true
	for _, v := range sessionKeys(b.Version, clean, start) {
		if v != nil {
			b.CleanSession = *v
			break
		}
	}
	b.SessionExpiry = uint32(n.Int("sessionExpiryInterval", 0, 0, 1<<32-1))
	b.ReconnectMin, b.ReconnectMax = DefaultReconnectMin, DefaultReconnectMax
	if n.Has("reconnectMinDelaySeconds") {
		b.ReconnectMin = time.Duration(n.Int("reconnectMinDelaySeconds", 0, 0, 3600)) * time.Second
	}
	if n.Has("reconnectMaxDelaySeconds") {
		b.ReconnectMax = time.Duration(n.Int("reconnectMaxDelaySeconds", 0, 0, 3600)) * time.Second
	}
	b.ReconnectMax = max(b.ReconnectMax, b.ReconnectMin)
	b.OnlyOnChange = n.Bool("sendDataOnlyOnChange", false)
	n.Ignore("maxMessageNumberPerWorker", "maxNumberOfWorkers", "reconnectDelay",
		"reconnectMinDelaySeconds", "reconnectMaxDelaySeconds")
	b.Security.Type = "anonymous"
	n.Sub("security", func(s *confjson.Object) { b.Security = decodeSecurity(s) })
	if !b.CleanSession && b.ClientID == "" {
		n.Decoder().Warn(n.Key("clientId"), "a persistent session (cleanSession/cleanStart false) needs a fixed clientId; "+
			"with a random one the broker cannot keep unacknowledged messages for the gateway")
	}
	return b
}

// sessionKeys orders the two clean-session keys by precedence: cleanStart first for MQTT 5, cleanSession first
// for 3.x; each falls back to the other.
func sessionKeys(version int, clean, start *bool) []*bool {
	if version == 5 {
		return []*bool{start, clean}
	}
	return []*bool{clean, start}
}

// decodeSecurity reads broker.security. The old shape without a type (or with type "tls") and with caCert,
// privateKey or cert turns TLS on with those files, as the Python gateway does.
func decodeSecurity(n *confjson.Object) SecurityConfig {
	typ, _ := n.Get("type")
	if typ == "tls" || typ == nil && (n.Has("caCert") || n.Has("privateKey") || n.Has("cert")) {
		return decodeCertificates(n, "caCert", "privateKey", "cert")
	}
	s := SecurityConfig{}
	s.Type = n.OneOf("type", "anonymous", "anonymous", "basic", "certificates")
	switch s.Type {
	case "basic":
		s.Username = n.String("username", "")
		s.Password = n.String("password", "")
		required(n, "username", s.Username, "a user name for security type basic")
	case "certificates":
		return decodeCertificates(n, "pathToCACert", "pathToPrivateKey", "pathToClientCert")
	default:
		n.Ignore("username", "password", "pathToCACert", "pathToPrivateKey", "pathToClientCert", "insecure")
	}
	return s
}

// decodeCertificates reads TLS security whose CA, private key and client certificate files are under the keys
// ca, key and cert.
func decodeCertificates(n *confjson.Object, ca, key, cert string) SecurityConfig {
	s := SecurityConfig{Type: "certificates"}
	s.CACert = n.String(ca, "")
	s.PrivateKey = n.String(key, "")
	s.ClientCert = n.String(cert, "")
	s.Insecure = n.Bool("insecure", false)
	s.Username = n.String("username", "")
	s.Password = n.String("password", "")
	if (s.PrivateKey == "") != (s.ClientCert == "") {
		n.Decoder().Failf(n.Key(cert), "%s and %s go together", cert, key)
	}
	return s
}

func decodeQoS(n *confjson.Object, key string, def int64) byte { return byte(n.Int(key, def, 0, 2)) }

func decodeMapping(n *confjson.Object) MappingConfig {
	m := MappingConfig{}
	m.TopicFilter = n.String("topicFilter", "")
	required(n, "topicFilter", m.TopicFilter, "an MQTT topic filter")
	m.QoS = decodeQoS(n, "subscriptionQos", DefaultQoS)
	if n.Require("converter", "an object") {
		n.Sub("converter", func(c *confjson.Object) { m.Converter = decodeConverter(c) })
	}
	n.Done()
	return m
}

// onChange is the report strategy the Python gateway's "sendDataOnlyOnChange": true stands for.
var onChange = json.RawMessage(`{"type": "ON_CHANGE"}`)

func decodeConverter(n *confjson.Object) ConverterConfig {
	c := ConverterConfig{}
	c.Raw, _ = json.Marshal(n.Map())
	c.Type = n.OneOf("type", ConverterJSON, ConverterJSON, ConverterBytes, ConverterCustom)
	c.UseReceivedTS = n.Bool("useReceivedTs", false)
	c.HexMode = n.Bool("hexMode", false)
	c.ReportStrategy = n.Raw("reportStrategy")
	checkStrategy(n.Decoder(), n.Key("reportStrategy"), c.ReportStrategy)
	if n.Bool("useEval", false) {
		n.Decoder().Warn(n.Key("useEval"), "true is not supported (no code is evaluated from configs), ignored")
	}
	if n.Bool("sendDataOnlyOnChange", false) && len(c.ReportStrategy) == 0 {
		c.ReportStrategy = onChange
	}
	n.Ignore("timeout", "cached")
	if c.Type == ConverterCustom {
		c.Extension = n.String("extension", "")
		c.ExtensionConfig = n.Raw("extensionConfig")
		required(n, "extension", c.Extension, "the name of a custom converter")
		n.Ignore("deviceInfo", "attributes", "timeseries")
		if c.Extension == expression.Name {
			n.Ignore(expression.ConfigKeys...) // read by the expression converter's factory
		}
		return c
	}
	if n.Require("deviceInfo", "an object") {
		n.Sub("deviceInfo", func(di *confjson.Object) { c.DeviceInfo = decodeDeviceInfo(di, c.Type == ConverterBytes) })
	}
	c.Attributes, c.AllAttributes = decodeDatapoints(n, "attributes")
	c.Timeseries, c.AllTimeseries = decodeDatapoints(n, "timeseries")
	return c
}

// decodeDatapoints reads a list of key mappings, or "*" (every payload key), alone or as an item of the list.
func decodeDatapoints(n *confjson.Object, k string) ([]DatapointConfig, bool) {
	v, _ := n.Get(k)
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		if x != "*" {
			n.Decoder().Fail(n.Key(k), `a list or "*"`, v)
		}
		return nil, true
	case map[string]any:
		if len(x) > 0 {
			n.Decoder().Fail(n.Key(k), `a list or "*"`, v)
		}
		return nil, false
	case []any:
		all := false
		var out []DatapointConfig
		for i, it := range x {
			if s, isStr := it.(string); isStr && s == "*" {
				all = true
				continue
			}
			if p := n.Decoder().Object(confjson.Index(n.Key(k), i), it); p != nil {
				out = append(out, decodeDatapoint(p))
			}
		}
		return out, all
	}
	n.Decoder().Fail(n.Key(k), `a list or "*"`, v)
	return nil, false
}

func decodeDatapoint(n *confjson.Object) DatapointConfig {
	d := DatapointConfig{}
	d.Key = n.String("key", "")
	required(n, "key", d.Key, "a key name")
	d.Type = strings.ToLower(n.String("type", "string"))
	if !values.KnownType(d.Type) {
		n.Decoder().Fail(n.Key("type"), "one of "+values.TypeHints, d.Type)
	}
	d.Value = n.String("value", "")
	required(n, "value", d.Value, "a value expression")
	d.TSField = n.String("tsField", "")
	d.ReportStrategy = n.Raw("reportStrategy")
	checkStrategy(n.Decoder(), n.Key("reportStrategy"), d.ReportStrategy)
	d.KeySource = n.OneOf("keySource", SourceMessage, SourceMessage, SourceTopic)
	d.DayFirst = n.Bool("dayfirst", false)
	d.YearFirst = n.Bool("yearfirst", false)
	n.Done()
	return d
}

func decodeDeviceInfo(n *confjson.Object, bytesConverter bool) DeviceInfoConfig {
	d := DeviceInfoConfig{}
	sources := []string{SourceMessage, SourceTopic, SourceConstant}
	d.NameSource = n.OneOf("deviceNameExpressionSource", SourceMessage, sources...)
	d.NameExpression = n.String("deviceNameExpression", "")
	d.ProfileSource = n.OneOf("deviceProfileExpressionSource", SourceConstant, sources...)
	d.ProfileExpression = n.String("deviceProfileExpression", "")
	if !n.Has("deviceProfileExpressionSource") && bytesConverter {
		d.ProfileSource = SourceMessage // byte slices in the profile expression, as the Python bytes converter
	}
	if d.NameExpression == "" {
		n.Decoder().FailMissing(n.Key("deviceNameExpression"), "an expression giving the device name")
	}
	return d
}
