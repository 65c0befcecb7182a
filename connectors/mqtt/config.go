package mqtt

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
}

// BrokerConfig is the "broker" section.
type BrokerConfig struct {
	Name     string
	Host     string
	Port     int
	ClientID string // empty: a random id per connection (no persistent session is possible then)
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

// SecurityConfig is broker.security: anonymous, basic (username/password) or certificates (TLS; with
// pathToPrivateKey and pathToClientCert also a client certificate).
type SecurityConfig struct {
	Type       string // "anonymous", "basic" or "certificates"
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
	// ReportStrategy is the mapping's report strategy (applied by the runtime per device).
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
	Key            string
	Type           string
	Value          string
	TSField        string
	ReportStrategy json.RawMessage
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
}

// TwoWay reports whether the rule waits for a reply.
func (r *RPCConfig) TwoWay() bool { return r.ResponseTopicExpression != "" }

// Decode parses a configuration (old or new shape), applies the defaults and validates it, compiling every
// expression and regular expression once to check it. It returns warnings (unknown keys, ignored settings) and
// an error naming the key path of the first problem. It never panics.
func Decode(raw []byte) (*Config, []string, error) {
	tree, err := parseTree(raw)
	if err != nil {
		return nil, nil, err
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("expected an object at the top level, found %s", describe(tree))
	}
	upgrade(top)
	r := &reader{}
	root, _ := newNode(r, "", top)
	cfg := &Config{}
	cfg.Name = root.str("name", "")
	cfg.LogLevel = root.str("logLevel", "")
	cfg.ReportStrategy = root.rawJSON("reportStrategy")
	root.ignore("id", "configVersion", "enableRemoteLogging", "sendDataOnlyOnChange")
	if b := root.object("broker"); b != nil {
		cfg.Broker = decodeBroker(b)
	} else {
		r.failf("broker", "required")
	}
	for _, m := range root.list("mapping") {
		cfg.Mapping = append(cfg.Mapping, decodeMapping(m))
	}
	if rm := root.object("requestsMapping"); rm != nil {
		for _, n := range rm.list("connectRequests") {
			cfg.ConnectRequests = append(cfg.ConnectRequests, decodeDeviceRequest(n))
		}
		for _, n := range rm.list("disconnectRequests") {
			cfg.DisconnectRequests = append(cfg.DisconnectRequests, decodeDeviceRequest(n))
		}
		for _, n := range rm.list("attributeRequests") {
			cfg.AttributeRequests = append(cfg.AttributeRequests, decodeAttributeRequest(n))
		}
		for _, n := range rm.list("attributeUpdates") {
			cfg.AttributeUpdates = append(cfg.AttributeUpdates, decodeAttributeUpdate(n))
		}
		for _, n := range rm.list("serverSideRpc") {
			cfg.ServerSideRPC = append(cfg.ServerSideRPC, decodeRPC(n))
		}
		rm.done()
	}
	root.done()
	checkStrategy(r, "reportStrategy", cfg.ReportStrategy)
	if r.err != nil {
		return nil, r.warnings, r.err
	}
	// Compiling checks every expression and regular expression; the compiled form is discarded here.
	if _, err := compile(cfg, r); err != nil {
		return nil, r.warnings, err
	}
	return cfg, r.warnings, nil
}

func checkStrategy(r *reader, path string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	if _, err := report.ParseConfig(raw); err != nil {
		r.failf(path, "%v", err)
	}
}

func decodeBroker(n *node) BrokerConfig {
	b := BrokerConfig{}
	b.Name = n.str("name", "")
	b.Host = strings.TrimSpace(n.str("host", ""))
	if b.Host == "" && n.r.err == nil {
		n.r.failf(n.key("host"), "required")
	}
	b.Port = int(n.integer("port", DefaultPort, 1, 65535))
	b.ClientID = n.str("clientId", "")
	b.Version = int(n.integer("version", DefaultVersion, 3, 5))
	b.KeepAlive = time.Duration(n.integer("keepAlive", DefaultKeepAliveSeconds, 0, 65535)) * time.Second
	clean := n.boolean("cleanSession", true)
	_, hasSession := n.get("cleanSession")
	start := n.boolean("cleanStart", clean)
	_, hasStart := n.get("cleanStart")
	if b.Version == 5 {
		b.CleanSession = start
		if !hasStart && hasSession {
			b.CleanSession = clean
		}
	} else {
		b.CleanSession = clean
		if !hasSession && hasStart {
			b.CleanSession = start
		}
	}
	b.SessionExpiry = uint32(n.integer("sessionExpiryInterval", 0, 0, 1<<32-1))
	minDelay := n.integer("reconnectMinDelaySeconds", -1, 0, 3600)
	maxDelay := n.integer("reconnectMaxDelaySeconds", -1, 0, 3600)
	b.ReconnectMin, b.ReconnectMax = DefaultReconnectMin, DefaultReconnectMax
	if minDelay >= 0 {
		b.ReconnectMin = time.Duration(minDelay) * time.Second
	}
	if maxDelay >= 0 {
		b.ReconnectMax = time.Duration(maxDelay) * time.Second
	}
	if b.ReconnectMax < b.ReconnectMin {
		b.ReconnectMax = b.ReconnectMin
	}
	n.ignore("maxMessageNumberPerWorker", "maxNumberOfWorkers", "sendDataOnlyOnChange", "reconnectDelay")
	if s := n.object("security"); s != nil {
		b.Security = decodeSecurity(s)
	} else {
		b.Security.Type = "anonymous"
	}
	if !b.CleanSession && b.ClientID == "" {
		n.r.warn(n.key("clientId"), "a persistent session (cleanSession/cleanStart false) needs a fixed clientId; "+
			"with a random one the broker cannot keep unacknowledged messages for the gateway")
	}
	n.done()
	return b
}

func decodeSecurity(n *node) SecurityConfig {
	s := SecurityConfig{}
	s.Type = n.oneOf("type", "anonymous", "anonymous", "basic", "certificates")
	switch s.Type {
	case "basic":
		s.Username = n.str("username", "")
		s.Password = n.str("password", "")
		if s.Username == "" && n.r.err == nil {
			n.r.failf(n.key("username"), "required for security type basic")
		}
	case "certificates":
		s.CACert = n.str("pathToCACert", "")
		s.PrivateKey = n.str("pathToPrivateKey", "")
		s.ClientCert = n.str("pathToClientCert", "")
		s.Insecure = n.boolean("insecure", false)
		s.Username = n.str("username", "")
		s.Password = n.str("password", "")
		if (s.PrivateKey == "") != (s.ClientCert == "") && n.r.err == nil {
			n.r.failf(n.key("pathToClientCert"), "pathToClientCert and pathToPrivateKey go together")
		}
	default:
		n.ignore("username", "password", "pathToCACert", "pathToPrivateKey", "pathToClientCert", "insecure")
	}
	n.done()
	return s
}

func decodeQoS(n *node, key string, def int64) byte { return byte(n.integer(key, def, 0, 2)) }

func decodeMapping(n *node) MappingConfig {
	m := MappingConfig{}
	m.TopicFilter = n.str("topicFilter", "")
	if m.TopicFilter == "" && n.r.err == nil {
		n.r.failf(n.key("topicFilter"), "required")
	}
	m.QoS = decodeQoS(n, "subscriptionQos", DefaultQoS)
	if c := n.object("converter"); c != nil {
		m.Converter = decodeConverter(c)
	} else if n.r.err == nil {
		n.r.failf(n.key("converter"), "required")
	}
	n.done()
	return m
}

func decodeConverter(n *node) ConverterConfig {
	c := ConverterConfig{}
	c.Raw, _ = json.Marshal(n.m)
	c.Type = n.oneOf("type", ConverterJSON, ConverterJSON, ConverterBytes, ConverterCustom)
	c.UseReceivedTS = n.boolean("useReceivedTs", false)
	c.HexMode = n.boolean("hexMode", false)
	c.ReportStrategy = n.rawJSON("reportStrategy")
	checkStrategy(n.r, n.key("reportStrategy"), c.ReportStrategy)
	if n.boolean("useEval", false) {
		n.r.warn(n.key("useEval"), "true is not supported (no code is evaluated from configs), ignored")
	}
	if n.boolean("sendDataOnlyOnChange", false) {
		n.r.warn(n.key("sendDataOnlyOnChange"), `true is ignored; use "reportStrategy": {"type": "ON_CHANGE"}`)
	}
	n.ignore("timeout", "cached")
	if c.Type == ConverterCustom {
		c.Extension = n.str("extension", "")
		c.ExtensionConfig = n.rawJSON("extensionConfig")
		if c.Extension == "" && n.r.err == nil {
			n.r.failf(n.key("extension"), "required for a custom converter")
		}
		n.ignore("deviceInfo", "attributes", "timeseries")
		n.done()
		return c
	}
	if di := n.object("deviceInfo"); di != nil {
		c.DeviceInfo = decodeDeviceInfo(di, c.Type == ConverterBytes)
	} else if n.r.err == nil {
		n.r.failf(n.key("deviceInfo"), "required")
	}
	c.Attributes, c.AllAttributes = decodeDatapoints(n, "attributes")
	c.Timeseries, c.AllTimeseries = decodeDatapoints(n, "timeseries")
	n.done()
	return c
}

// decodeDatapoints reads a list of key mappings, or "*" (every payload key).
func decodeDatapoints(n *node, k string) ([]DatapointConfig, bool) {
	if v, ok := n.get(k); ok {
		if s, isStr := v.(string); isStr {
			if s != "*" {
				n.r.fail(n.key(k), `a list or "*"`, v)
			}
			return nil, true
		}
		if items, isList := v.([]any); isList {
			all := false
			var out []DatapointConfig
			for i, it := range items {
				if s, isStr := it.(string); isStr && s == "*" {
					all = true
					continue
				}
				p, _ := newNode(n.r, fmt.Sprintf("%s[%d]", n.key(k), i), it)
				out = append(out, decodeDatapoint(p))
			}
			return out, all
		}
	}
	var out []DatapointConfig
	for _, p := range n.list(k) {
		out = append(out, decodeDatapoint(p))
	}
	return out, false
}

func decodeDatapoint(n *node) DatapointConfig {
	d := DatapointConfig{}
	d.Key = n.str("key", "")
	if strings.TrimSpace(d.Key) == "" && n.r.err == nil {
		n.r.failf(n.key("key"), "required")
	}
	d.Type = strings.ToLower(n.str("type", "string"))
	if _, ok := valueTypes[d.Type]; !ok && n.r.err == nil {
		n.r.fail(n.key("type"), "one of "+valueTypeNames, d.Type)
	}
	d.Value = n.str("value", "")
	if d.Value == "" && n.r.err == nil {
		n.r.failf(n.key("value"), "required")
	}
	d.TSField = n.str("tsField", "")
	d.ReportStrategy = n.rawJSON("reportStrategy")
	checkStrategy(n.r, n.key("reportStrategy"), d.ReportStrategy)
	n.ignore("dayfirst", "yearfirst", "keySource")
	n.done()
	return d
}

func decodeDeviceInfo(n *node, bytesConverter bool) DeviceInfoConfig {
	d := DeviceInfoConfig{}
	sources := []string{SourceMessage, SourceTopic, SourceConstant}
	d.NameSource = n.oneOf("deviceNameExpressionSource", SourceMessage, sources...)
	d.NameExpression = n.str("deviceNameExpression", "")
	d.ProfileSource = n.oneOf("deviceProfileExpressionSource", SourceConstant, sources...)
	d.ProfileExpression = n.str("deviceProfileExpression", "")
	if _, has := n.get("deviceProfileExpressionSource"); !has && bytesConverter {
		d.ProfileSource = SourceMessage // byte slices in the profile expression, as the Python bytes converter
	}
	if d.NameExpression == "" && n.r.err == nil {
		n.r.failf(n.key("deviceNameExpression"), "required")
	}
	n.done()
	return d
}
