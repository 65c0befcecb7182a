package opcua

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
	"github.com/tbgateway/tbgateway/internal/values"
	"github.com/tbgateway/tbgateway/report"
)

// Defaults of the "server" section, as the Python gateway applies them.
const (
	DefaultTimeoutMs            = 4000
	DefaultScanPeriodMs         = 3600000
	DefaultPollPeriodMs         = 5000
	DefaultSubCheckPeriodMs     = 100
	DefaultSessionTimeoutMs     = 120000
	DefaultReconnectInitial     = 1.0 // seconds
	DefaultReconnectFactor      = 2.0
	DefaultReconnectRetries     = 8   // failed connection attempts in a row before Run gives up
	DefaultMaxNodesPerOperation = 100 // when the server publishes no OperationLimits
)

// Config is an OPC-UA connector file in the Python gateway's shape (see Decode for the keys).
type Config struct {
	// Name and LogLevel are read by the runtime; kept here so they are not reported as unknown.
	Name     string
	LogLevel string
	// ReportStrategy is the connector-wide strategy; the runtime applies it.
	ReportStrategy json.RawMessage
	Server         ServerConfig
	Mapping        []MappingConfig
}

// ServerConfig is the "server" section.
type ServerConfig struct {
	// URL is the endpoint ("url"); "opc.tcp://" is prepended when it has no scheme.
	URL string
	// TimeoutInMillis bounds connecting and every request.
	TimeoutInMillis int
	// ScanPeriodInMillis is how long resolved browse paths stay cached before they are resolved again.
	ScanPeriodInMillis int
	// PollPeriodInMillis is the read period when subscriptions are disabled.
	PollPeriodInMillis int
	// EnableSubscriptions selects monitored items (true, the default) or polling.
	EnableSubscriptions *bool
	// SubCheckPeriodInMillis is the subscriptions' publishing and sampling interval (at least 100).
	SubCheckPeriodInMillis int
	// SessionTimeoutInMillis is the requested session timeout.
	SessionTimeoutInMillis int
	// SubKeepAlivePeriodInSeconds, when positive, arms the watchdog: a connection whose subscriptions delivered
	// nothing for this long is torn down and rebuilt. 0 leaves only the connection liveness probe.
	SubKeepAlivePeriodInSeconds float64
	// ReconnectRetriesCount is how many connection attempts in a row may fail before Run returns an error, so
	// that the runtime reports the connector failed and restarts it with its restart policy (the Python
	// connector's retry_connect_with_backoff: that many attempts, then it starts over). An attempt fails when
	// the client cannot connect (open the channel and activate the session); one that connects starts the count
	// over. 0 or less: never give up.
	ReconnectRetriesCount int
	// ReconnectBackoffInitialDelay (seconds) and ReconnectBackoffFactor shape the reconnect back-off.
	ReconnectBackoffInitialDelay float64
	ReconnectBackoffFactor       float64
	// URI is the client's application URI (also written into a generated client certificate).
	URI string
	// Security is the policy: None, Basic128Rsa15, Basic256, Basic256Sha256, Aes128_Sha256_RsaOaep,
	// Aes256_Sha256_RsaPss. Absent means Basic128Rsa15 as in the Python gateway.
	Security string
	Identity IdentityConfig
	// ShowMap logs the browsed address space (every child of every node browsed to resolve paths, by its path
	// from Root) at info level once per connection, as the Python connector's "Checking path" lines do.
	ShowMap bool
	// Accepted, not acted on (Python batching knobs).
	SubDataMaxBatchSize           int
	SubDataMinBatchCreationTimeMs int
	SubscriptionProcessBatchSize  int
}

// IdentityConfig is "server.identity".
type IdentityConfig struct {
	// Type is anonymous (default), username, or cert.PEM / certificates / cert: the certificate and key below are
	// the client's application instance certificate and, when the endpoint offers certificate user tokens and no
	// username is set, the X.509 user identity token too. A username, whatever the type, is sent as a username
	// token (as in the Python connector).
	Type     string
	Username string
	Password string
	// Mode is the message security mode: None, Sign or SignAndEncrypt (default).
	Mode string
	// Certificate files (PEM or DER); CACert is the server certificate to trust, when given. The path* keys are
	// the older names.
	CACert         string
	PrivateKey     string
	Cert           string
	PathToCACert   string
	PathToPrivKey  string
	PathToClientCt string
}

// MappingConfig is one entry of "mapping": a device node and what to read from it.
type MappingConfig struct {
	// DeviceNodeSource is path (default) or identifier.
	DeviceNodeSource  string
	DeviceNodePattern string
	// DeviceInfo holds the name and profile expressions; the older deviceNamePattern and deviceTypePattern keys
	// fill it when it is absent.
	DeviceInfo       DeviceInfoConfig
	ReportStrategy   json.RawMessage
	Attributes       []KeyConfig
	Timeseries       []KeyConfig
	RPCMethods       []RPCConfig    // "rpc_methods"
	AttributeUpdates []UpdateConfig // "attributes_updates"
	// Converter is the mapping's expression converter (a "converter" object), nil for the built-in conversion.
	Converter *expression.Uplink
}

// DeviceInfoConfig is "mapping[].deviceInfo".
type DeviceInfoConfig struct {
	DeviceNameExpression          string
	DeviceNameExpressionSource    string
	DeviceProfileExpression       string
	DeviceProfileExpressionSource string
}

// KeyConfig is one attribute or time series: a key and the node it is read from.
type KeyConfig struct {
	Key string
	// Type is path, identifier or constant ("" reads as path).
	Type string
	// Value is "${node}" (a path or node id), optionally with text around it; for "constant" the literal value
	// as a record value (see values.FromJSON). The older key "path" fills it when "value" is absent.
	Value any
	// TimestampLocation is gateway (default), sourceTimestamp or serverTimestamp.
	TimestampLocation string
	ReportStrategy    json.RawMessage
}

// RPCConfig is one "rpc_methods" entry.
type RPCConfig struct {
	Method    string
	Arguments []ArgumentDef
}

// ArgumentDef is one method argument: {"type", "value"} or a bare value (older shape).
type ArgumentDef struct {
	Type  string
	Value any // a decoded JSON value (numbers as json.Number); nil when the value comes from the request
}

// UpdateConfig is one "attributes_updates" entry: a shared attribute written to a node. The older keys
// attributeOnThingsBoard and attributeOnDevice fill Key and Value.
type UpdateConfig struct {
	Key   string
	Type  string
	Value string
}

// Security policies the connector accepts in "server.security".
var securityPolicies = map[string]string{
	"none": "None", "basic128rsa15": "Basic128Rsa15", "basic256": "Basic256", "basic256sha256": "Basic256Sha256",
	"aes128_sha256_rsaoaep": "Aes128_Sha256_RsaOaep", "aes256_sha256_rsapss": "Aes256_Sha256_RsaPss",
}

// Decode parses a connector file, applies the Python gateway's defaults and validates it, without I/O. file
// names the file in every message. Warnings name unknown keys by their path; the error names the key path of the
// first problem. It never panics.
func Decode(file string, raw []byte) (*Config, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{}
	cfg.Name = root.String("name", "")
	cfg.LogLevel = root.String("logLevel", "")
	cfg.ReportStrategy = report.Read(root, "reportStrategy")
	root.Ignore("id", "configVersion", "enableRemoteLogging", "sendDataOnlyOnChange")
	if root.Require("server", "an object with the server's url") {
		root.Sub("server", cfg.Server.decode)
	}
	maps := root.Objects("mapping")
	if len(maps) == 0 {
		d.Failf(root.Key("mapping"), "expected at least one device mapping")
	}
	for _, mo := range maps {
		var m MappingConfig
		m.decode(mo)
		mo.Done()
		cfg.Mapping = append(cfg.Mapping, m)
	}
	root.Done()
	if err := d.Err(); err != nil {
		return nil, d.WarningStrings(), err
	}
	return cfg, d.WarningStrings(), nil
}

// positiveMs reads a period in milliseconds: absent or 0 gives def, negative is an error.
func positiveMs(o *confjson.Object, key string, def int) int {
	if v := int(o.IntAs(key, 0, 0, math.MaxInt32, "a positive number of milliseconds")); v > 0 {
		return v
	}
	return def
}

func (s *ServerConfig) decode(o *confjson.Object) {
	o.Ignore("name", "disableSubscriptions")
	s.URL = strings.TrimSpace(o.String("url", ""))
	switch {
	case s.URL == "":
		o.Decoder().FailMissing(o.Key("url"), "the server's opc.tcp:// URL")
	case !strings.Contains(s.URL, "://"):
		s.URL = "opc.tcp://" + s.URL
	case !strings.HasPrefix(s.URL, "opc.tcp://"):
		o.Decoder().Fail(o.Key("url"), "an opc.tcp:// URL", s.URL)
	}
	s.TimeoutInMillis = positiveMs(o, "timeoutInMillis", DefaultTimeoutMs)
	s.ScanPeriodInMillis = positiveMs(o, "scanPeriodInMillis", DefaultScanPeriodMs)
	s.PollPeriodInMillis = positiveMs(o, "pollPeriodInMillis", DefaultPollPeriodMs)
	s.SessionTimeoutInMillis = positiveMs(o, "sessionTimeoutInMillis", DefaultSessionTimeoutMs)
	s.SubCheckPeriodInMillis = max(positiveMs(o, "subCheckPeriodInMillis", DefaultSubCheckPeriodMs), 100)
	enabled := true
	if b := o.OptBool("enableSubscriptions"); b != nil {
		enabled = *b
	}
	s.EnableSubscriptions = &enabled
	s.SubKeepAlivePeriodInSeconds = o.Float("subKeepAlivePeriodInSeconds", 0, 0, math.MaxFloat64)
	s.ReconnectRetriesCount = int(o.Int("reconnectRetriesCount", DefaultReconnectRetries, math.MinInt32, math.MaxInt32))
	// Values the Python connector cannot use (a delay of 0 or less, a factor below 1) fall back to its defaults.
	if s.ReconnectBackoffInitialDelay = o.Float("reconnectBackoffInitialDelay", 0, -math.MaxFloat64, math.MaxFloat64); s.ReconnectBackoffInitialDelay <= 0 {
		s.ReconnectBackoffInitialDelay = DefaultReconnectInitial
	}
	if s.ReconnectBackoffFactor = o.Float("reconnectBackoffFactor", 0, -math.MaxFloat64, math.MaxFloat64); s.ReconnectBackoffFactor < 1 {
		s.ReconnectBackoffFactor = DefaultReconnectFactor
	}
	s.URI = o.String("uri", "")
	s.Security = o.OneOf("security", "Basic128Rsa15", "None", "Basic128Rsa15", "Basic256", "Basic256Sha256",
		"Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
	s.Identity = IdentityConfig{Type: "anonymous", Mode: "SignAndEncrypt"}
	o.Sub("identity", s.Identity.decode)
	s.ShowMap = o.Bool("showMap", false)
	s.SubDataMaxBatchSize = int(o.Int("subDataMaxBatchSize", 0, 0, math.MaxInt32))
	s.SubDataMinBatchCreationTimeMs = int(o.Int("subDataMinBatchCreationTimeMs", 0, 0, math.MaxInt32))
	s.SubscriptionProcessBatchSize = int(o.Int("subscriptionProcessBatchSize", 0, 0, math.MaxInt32))
}

func (id *IdentityConfig) decode(o *confjson.Object) {
	id.Type = o.OneOf("type", "anonymous", "anonymous", "username", "cert.PEM", "certificates", "cert")
	id.Username = o.String("username", "")
	id.Password = o.String("password", "")
	if id.Type == "username" && id.Username == "" {
		o.Decoder().FailMissing(o.Key("username"), "a user name for identity type username")
	}
	id.Mode = o.OneOf("mode", "SignAndEncrypt", "None", "Sign", "SignAndEncrypt")
	id.CACert = o.String("caCert", "")
	id.PrivateKey = o.String("privateKey", "")
	id.Cert = o.String("cert", "")
	id.PathToCACert = o.String("pathToCACert", "")
	id.PathToPrivKey = o.String("pathToPrivateKey", "")
	id.PathToClientCt = o.String("pathToClientCert", "")
}

func (m *MappingConfig) decode(o *confjson.Object) {
	d := o.Decoder()
	o.Ignore("device_name", "device_type")
	m.Converter = decodeConverter(o)
	m.DeviceNodeSource = o.OneOf("deviceNodeSource", "path", "path", "identifier")
	m.DeviceNodePattern = o.String("deviceNodePattern", "")
	if _, err := parseNodeRef(m.DeviceNodePattern); err != nil {
		d.Failf(o.Key("deviceNodePattern"), "%v", err)
	}
	namePattern, typePattern := o.String("deviceNamePattern", ""), o.String("deviceTypePattern", "")
	o.Sub("deviceInfo", func(di *confjson.Object) {
		m.DeviceInfo = DeviceInfoConfig{
			DeviceNameExpression:          di.String("deviceNameExpression", ""),
			DeviceNameExpressionSource:    di.String("deviceNameExpressionSource", ""),
			DeviceProfileExpression:       di.String("deviceProfileExpression", ""),
			DeviceProfileExpressionSource: di.String("deviceProfileExpressionSource", ""),
		}
	})
	info := &m.DeviceInfo
	if info.DeviceNameExpression == "" {
		info.DeviceNameExpression = namePattern
	}
	if info.DeviceProfileExpression == "" {
		info.DeviceProfileExpression = typePattern
	}
	namePath := confjson.Join(o.Key("deviceInfo"), "deviceNameExpression")
	if strings.TrimSpace(info.DeviceNameExpression) == "" {
		d.FailMissing(namePath, "the device name or an expression naming it")
	}
	checkTemplate(d, namePath, info.DeviceNameExpression)
	checkTemplate(d, confjson.Join(o.Key("deviceInfo"), "deviceProfileExpression"), info.DeviceProfileExpression)
	m.ReportStrategy = report.Read(o, "reportStrategy")
	m.Attributes = decodeKeys(o, "attributes")
	m.Timeseries = decodeKeys(o, "timeseries")
	for _, ro := range o.Objects("rpc_methods") {
		m.RPCMethods = append(m.RPCMethods, decodeRPC(ro))
		ro.Done()
	}
	for _, uo := range o.Objects("attributes_updates") {
		u := UpdateConfig{Key: uo.String("key", ""), Type: uo.String("type", ""), Value: uo.String("value", "")}
		if u.Key == "" {
			u.Key = uo.String("attributeOnThingsBoard", "")
		} else {
			uo.Ignore("attributeOnThingsBoard")
		}
		if u.Value == "" {
			u.Value = uo.String("attributeOnDevice", "")
		} else {
			uo.Ignore("attributeOnDevice")
		}
		if strings.TrimSpace(u.Key) == "" {
			d.Fail(uo.Key("key"), "the shared attribute's name", u.Key)
		}
		if _, err := parseNodeExpr(u.Value); err != nil {
			d.Failf(uo.Key("value"), "%v", err)
		}
		uo.Done()
		m.AttributeUpdates = append(m.AttributeUpdates, u)
	}
}

func checkTemplate(d *confjson.Decoder, path, text string) {
	if _, err := parseTemplate(text); err != nil {
		d.Failf(path, "%v", err)
	}
}

// decodeKeys reads the "attributes" or "timeseries" list of a mapping; a key used twice in one list is an error.
func decodeKeys(o *confjson.Object, section string) []KeyConfig {
	d := o.Decoder()
	var out []KeyConfig
	seen := map[string]string{}
	for _, ko := range o.Objects(section) {
		k := KeyConfig{Key: ko.String("key", ""), Type: ko.OneOf("type", "path", "path", "identifier", "constant")}
		if v, ok := ko.Get("value"); ok {
			k.Value = v
			ko.Ignore("path")
		} else if p := ko.String("path", ""); p != "" {
			k.Value = p
		}
		k.TimestampLocation = ko.OneOf("timestampLocation", "gateway", "gateway", "sourceTimestamp", "serverTimestamp")
		k.ReportStrategy = report.Read(ko, "reportStrategy")
		ko.Done()
		switch {
		case !ko.Has("key"):
			d.FailMissing(ko.Key("key"), "the key's name")
		case strings.TrimSpace(k.Key) == "":
			d.Fail(ko.Key("key"), "the key's name", k.Key)
		case seen[k.Key] != "":
			d.Failf(ko.Key("key"), "%q already used at %s", k.Key, seen[k.Key])
		}
		seen[k.Key] = ko.Path()
		if k.Type == "constant" {
			v, err := values.FromJSON(k.Value)
			if err != nil {
				d.Failf(ko.Key("value"), "%v", err)
			}
			k.Value = v
		} else if _, err := k.source(); err != nil {
			d.Failf(ko.Key("value"), "%v", err)
		}
		out = append(out, k)
	}
	return out
}

// decodeRPC reads one "rpc_methods" entry; a configured argument value must convert to its configured type.
func decodeRPC(o *confjson.Object) RPCConfig {
	d := o.Decoder()
	r := RPCConfig{Method: o.String("method", "")}
	if o.Require("method", "the method's name") && strings.TrimSpace(r.Method) == "" {
		d.Fail(o.Key("method"), "the method's name", r.Method)
	}
	o.Each("arguments", func(path string, item any) {
		a := argumentDef(item)
		if ao, isObj := item.(map[string]any); isObj {
			// The object shape: its keys are checked like any other object's.
			obj := d.Object(path, ao)
			obj.String("type", "")
			obj.Get("value")
			obj.Done()
		}
		if _, err := argumentVariant(a.Type, a.Value, nil); a.Value != nil && err != nil {
			d.Failf(path, "%v", err)
		}
		r.Arguments = append(r.Arguments, a)
	})
	return r
}

// argumentDef reads an argument, from the configuration or from an RPC request: {"type": "integer", "value": 2}
// or a bare value.
func argumentDef(item any) ArgumentDef {
	if o, ok := item.(map[string]any); ok {
		t, _ := o["type"].(string)
		return ArgumentDef{Type: t, Value: o["value"]}
	}
	return ArgumentDef{Value: item}
}

// source returns the compiled value expression of an attribute or time series that reads a node.
func (k *KeyConfig) source() (nodeTemplate, error) {
	text, ok := k.Value.(string)
	if !ok {
		return nodeTemplate{}, fmt.Errorf("expected a string with one ${node} expression, found %s", confjson.Describe(k.Value))
	}
	t, err := parseTemplate(text)
	if err != nil {
		return nodeTemplate{}, err
	}
	if len(t.Exprs()) != 1 {
		return nodeTemplate{}, fmt.Errorf("expected exactly one ${node} expression, found %q", text)
	}
	return t, nil
}

func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }
