package opcua

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

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
	DefaultMaxNodesPerOperation = 100 // when the server publishes no OperationLimits
)

// Config is an OPC-UA connector file in the Python gateway's shape.
type Config struct {
	// Name and LogLevel are read by the runtime; kept here so they are not reported as unknown.
	Name     string `json:"name,omitempty"`
	LogLevel string `json:"logLevel,omitempty"`
	// ReportStrategy is the connector-wide strategy; the runtime applies it.
	ReportStrategy json.RawMessage `json:"reportStrategy,omitempty"`
	Server         ServerConfig    `json:"server"`
	Mapping        []MappingConfig `json:"mapping"`
}

// ServerConfig is the "server" section.
type ServerConfig struct {
	// URL is the endpoint; "opc.tcp://" is prepended when it has no scheme.
	URL string `json:"url"`
	// TimeoutInMillis bounds connecting and every request.
	TimeoutInMillis int `json:"timeoutInMillis,omitempty"`
	// ScanPeriodInMillis is how long resolved browse paths stay cached before they are resolved again.
	ScanPeriodInMillis int `json:"scanPeriodInMillis,omitempty"`
	// PollPeriodInMillis is the read period when subscriptions are disabled.
	PollPeriodInMillis int `json:"pollPeriodInMillis,omitempty"`
	// EnableSubscriptions selects monitored items (true, the default) or polling.
	EnableSubscriptions *bool `json:"enableSubscriptions,omitempty"`
	// SubCheckPeriodInMillis is the subscriptions' publishing and sampling interval (at least 100).
	SubCheckPeriodInMillis int `json:"subCheckPeriodInMillis,omitempty"`
	// SessionTimeoutInMillis is the requested session timeout.
	SessionTimeoutInMillis int `json:"sessionTimeoutInMillis,omitempty"`
	// SubKeepAlivePeriodInSeconds, when positive, arms the watchdog: a connection whose subscriptions delivered
	// nothing for this long is torn down and rebuilt. 0 leaves only the connection liveness probe.
	SubKeepAlivePeriodInSeconds float64 `json:"subKeepAlivePeriodInSeconds,omitempty"`
	// ReconnectRetriesCount is accepted; the Go connector retries forever (the runtime's supervision model).
	ReconnectRetriesCount        int     `json:"reconnectRetriesCount,omitempty"`
	ReconnectBackoffInitialDelay float64 `json:"reconnectBackoffInitialDelay,omitempty"`
	ReconnectBackoffFactor       float64 `json:"reconnectBackoffFactor,omitempty"`
	// URI is the client's application URI (also written into a generated client certificate).
	URI string `json:"uri,omitempty"`
	// Security is the policy: None, Basic128Rsa15, Basic256, Basic256Sha256, Aes128_Sha256_RsaOaep,
	// Aes256_Sha256_RsaPss. Empty means Basic128Rsa15 as in the Python gateway.
	Security string         `json:"security,omitempty"`
	Identity IdentityConfig `json:"identity"`
	// Accepted, not acted on (Python batching and debug knobs).
	ShowMap                       bool `json:"showMap,omitempty"`
	SubDataMaxBatchSize           int  `json:"subDataMaxBatchSize,omitempty"`
	SubDataMinBatchCreationTimeMs int  `json:"subDataMinBatchCreationTimeMs,omitempty"`
	SubscriptionProcessBatchSize  int  `json:"subscriptionProcessBatchSize,omitempty"`
}

// IdentityConfig is "server.identity".
type IdentityConfig struct {
	// Type is anonymous (default), username, or cert.PEM / certificates.
	Type     string `json:"type,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Mode is the message security mode: None, Sign or SignAndEncrypt (default).
	Mode string `json:"mode,omitempty"`
	// Certificate files (PEM or DER); CACert is the server certificate to trust, when given.
	CACert         string `json:"caCert,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"`
	Cert           string `json:"cert,omitempty"`
	PathToCACert   string `json:"pathToCACert,omitempty"`
	PathToPrivKey  string `json:"pathToPrivateKey,omitempty"`
	PathToClientCt string `json:"pathToClientCert,omitempty"`
}

// MappingConfig is one entry of "mapping": a device node and what to read from it.
type MappingConfig struct {
	DeviceNodeSource  string           `json:"deviceNodeSource,omitempty"`
	DeviceNodePattern string           `json:"deviceNodePattern"`
	DeviceInfo        DeviceInfoConfig `json:"deviceInfo"`
	// DeviceNamePattern and DeviceTypePattern are the older shape of deviceInfo.
	DeviceNamePattern string          `json:"deviceNamePattern,omitempty"`
	DeviceTypePattern string          `json:"deviceTypePattern,omitempty"`
	ReportStrategy    json.RawMessage `json:"reportStrategy,omitempty"`
	Attributes        []KeyConfig     `json:"attributes,omitempty"`
	Timeseries        []KeyConfig     `json:"timeseries,omitempty"`
	RPCMethods        []RPCConfig     `json:"rpc_methods,omitempty"`
	AttributeUpdates  []UpdateConfig  `json:"attributes_updates,omitempty"`
}

// DeviceInfoConfig is "mapping[].deviceInfo".
type DeviceInfoConfig struct {
	DeviceNameExpression          string `json:"deviceNameExpression,omitempty"`
	DeviceNameExpressionSource    string `json:"deviceNameExpressionSource,omitempty"`
	DeviceProfileExpression       string `json:"deviceProfileExpression,omitempty"`
	DeviceProfileExpressionSource string `json:"deviceProfileExpressionSource,omitempty"`
}

// KeyConfig is one attribute or time series: a key and the node it is read from.
type KeyConfig struct {
	Key string `json:"key"`
	// Type is path, identifier or constant.
	Type string `json:"type,omitempty"`
	// Value is "${node}" (a path or node id), optionally with text around it; for "constant" the literal value.
	Value json.RawMessage `json:"value,omitempty"`
	// Path is the older name of Value.
	Path string `json:"path,omitempty"`
	// TimestampLocation is gateway (default), sourceTimestamp or serverTimestamp.
	TimestampLocation string          `json:"timestampLocation,omitempty"`
	ReportStrategy    json.RawMessage `json:"reportStrategy,omitempty"`
}

// RPCConfig is one "rpc_methods" entry.
type RPCConfig struct {
	Method    string        `json:"method"`
	Arguments []ArgumentDef `json:"arguments,omitempty"`
}

// ArgumentDef is one configured method argument: {"type", "value"} or a bare value (older shape).
type ArgumentDef struct {
	Type  string
	Value any // nil when the value comes from the request
}

// UnmarshalJSON accepts {"type": "integer", "value": 2} and a bare JSON value.
func (a *ArgumentDef) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		var o struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil {
			return err
		}
		a.Type, a.Value = o.Type, o.Value
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	return dec.Decode(&a.Value)
}

// UpdateConfig is one "attributes_updates" entry: a shared attribute written to a node.
type UpdateConfig struct {
	Key   string `json:"key"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
	// Older shape.
	AttributeOnThingsBoard string `json:"attributeOnThingsBoard,omitempty"`
	AttributeOnDevice      string `json:"attributeOnDevice,omitempty"`
}

// Decode parses a connector file, applies defaults and validates it. Warnings name unknown keys by their path;
// the error names the key path of the first problem. It never panics.
func Decode(raw []byte) (*Config, []string, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, nil, fmt.Errorf("%s: expected %s, found JSON %s", te.Field, te.Type, te.Value)
		}
		return nil, nil, fmt.Errorf("decode: %w", err)
	}
	warnings, err := unknownKeys(raw)
	if err != nil {
		return nil, nil, err
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, warnings, err
	}
	return &cfg, warnings, nil
}

func (c *Config) applyDefaults() {
	s := &c.Server
	if s.URL != "" && !strings.Contains(s.URL, "://") {
		s.URL = "opc.tcp://" + s.URL
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.TimeoutInMillis, DefaultTimeoutMs)
	def(&s.ScanPeriodInMillis, DefaultScanPeriodMs)
	def(&s.PollPeriodInMillis, DefaultPollPeriodMs)
	def(&s.SubCheckPeriodInMillis, DefaultSubCheckPeriodMs)
	def(&s.SessionTimeoutInMillis, DefaultSessionTimeoutMs)
	if s.SubCheckPeriodInMillis < 100 {
		s.SubCheckPeriodInMillis = 100
	}
	if s.EnableSubscriptions == nil {
		t := true
		s.EnableSubscriptions = &t
	}
	if s.ReconnectBackoffInitialDelay <= 0 {
		s.ReconnectBackoffInitialDelay = DefaultReconnectInitial
	}
	if s.ReconnectBackoffFactor < 1 {
		s.ReconnectBackoffFactor = DefaultReconnectFactor
	}
	if s.Security == "" {
		s.Security = "Basic128Rsa15"
	}
	if s.Identity.Type == "" {
		s.Identity.Type = "anonymous"
	}
	if s.Identity.Mode == "" {
		s.Identity.Mode = "SignAndEncrypt"
	}
	for i := range c.Mapping {
		m := &c.Mapping[i]
		if m.DeviceNodeSource == "" {
			m.DeviceNodeSource = "path"
		}
		if m.DeviceInfo.DeviceNameExpression == "" {
			m.DeviceInfo.DeviceNameExpression = m.DeviceNamePattern
		}
		if m.DeviceInfo.DeviceProfileExpression == "" {
			m.DeviceInfo.DeviceProfileExpression = m.DeviceTypePattern
		}
		for j := range m.AttributeUpdates {
			u := &m.AttributeUpdates[j]
			if u.Key == "" {
				u.Key = u.AttributeOnThingsBoard
			}
			if u.Value == "" {
				u.Value = u.AttributeOnDevice
			}
		}
	}
}

// Security policies the connector accepts in "server.security".
var securityPolicies = map[string]string{
	"none": "None", "basic128rsa15": "Basic128Rsa15", "basic256": "Basic256", "basic256sha256": "Basic256Sha256",
	"aes128_sha256_rsaoaep": "Aes128_Sha256_RsaOaep", "aes256_sha256_rsapss": "Aes256_Sha256_RsaPss",
}

func (c *Config) validate() error {
	s := &c.Server
	if strings.TrimSpace(s.URL) == "" {
		return errors.New("server.url: required")
	}
	if !strings.HasPrefix(s.URL, "opc.tcp://") {
		return fmt.Errorf("server.url: expected an opc.tcp:// URL, found %q", s.URL)
	}
	for key, v := range map[string]int{"timeoutInMillis": s.TimeoutInMillis, "scanPeriodInMillis": s.ScanPeriodInMillis,
		"pollPeriodInMillis": s.PollPeriodInMillis, "sessionTimeoutInMillis": s.SessionTimeoutInMillis} {
		if v < 0 {
			return fmt.Errorf("server.%s: expected a positive number, found %d", key, v)
		}
	}
	if s.SubKeepAlivePeriodInSeconds < 0 {
		return fmt.Errorf("server.subKeepAlivePeriodInSeconds: expected 0 or more, found %v", s.SubKeepAlivePeriodInSeconds)
	}
	if _, ok := securityPolicies[strings.ToLower(s.Security)]; !ok {
		return fmt.Errorf("server.security: expected None, Basic128Rsa15, Basic256, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss, found %q", s.Security)
	}
	switch strings.ToLower(s.Identity.Type) {
	case "anonymous":
	case "username":
		if s.Identity.Username == "" {
			return errors.New("server.identity.username: required for identity type username")
		}
	case "cert.pem", "certificates", "cert":
	default:
		return fmt.Errorf("server.identity.type: expected anonymous, username or cert.PEM, found %q", s.Identity.Type)
	}
	switch strings.ToLower(s.Identity.Mode) {
	case "none", "sign", "signandencrypt":
	default:
		return fmt.Errorf("server.identity.mode: expected None, Sign or SignAndEncrypt, found %q", s.Identity.Mode)
	}
	if err := checkStrategy("reportStrategy", c.ReportStrategy); err != nil {
		return err
	}
	if len(c.Mapping) == 0 {
		return errors.New("mapping: expected at least one device mapping")
	}
	for i := range c.Mapping {
		if err := c.Mapping[i].validate(fmt.Sprintf("mapping[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (m *MappingConfig) validate(p string) error {
	switch m.DeviceNodeSource {
	case "path", "identifier":
	default:
		return fmt.Errorf("%s.deviceNodeSource: expected path or identifier, found %q", p, m.DeviceNodeSource)
	}
	if _, err := parseNodeRef(m.DeviceNodePattern); err != nil {
		return fmt.Errorf("%s.deviceNodePattern: %w", p, err)
	}
	if strings.TrimSpace(m.DeviceInfo.DeviceNameExpression) == "" {
		return fmt.Errorf("%s.deviceInfo.deviceNameExpression: required", p)
	}
	if _, err := parseTemplate(m.DeviceInfo.DeviceNameExpression); err != nil {
		return fmt.Errorf("%s.deviceInfo.deviceNameExpression: %w", p, err)
	}
	if _, err := parseTemplate(m.DeviceInfo.DeviceProfileExpression); err != nil {
		return fmt.Errorf("%s.deviceInfo.deviceProfileExpression: %w", p, err)
	}
	if err := checkStrategy(p+".reportStrategy", m.ReportStrategy); err != nil {
		return err
	}
	seen := map[string]string{}
	for section, keys := range map[string][]KeyConfig{"attributes": m.Attributes, "timeseries": m.Timeseries} {
		for j, k := range keys {
			kp := fmt.Sprintf("%s.%s[%d]", p, section, j)
			if strings.TrimSpace(k.Key) == "" {
				return fmt.Errorf("%s.key: required", kp)
			}
			if _, err := k.source(); err != nil {
				return fmt.Errorf("%s.value: %w", kp, err)
			}
			switch k.TimestampLocation {
			case "", "gateway", "sourceTimestamp", "serverTimestamp":
			default:
				return fmt.Errorf("%s.timestampLocation: expected gateway, sourceTimestamp or serverTimestamp, found %q", kp, k.TimestampLocation)
			}
			if err := checkStrategy(kp+".reportStrategy", k.ReportStrategy); err != nil {
				return err
			}
			if prev, dup := seen[section+"/"+k.Key]; dup {
				return fmt.Errorf("%s.key: %q already used at %s", kp, k.Key, prev)
			}
			seen[section+"/"+k.Key] = kp
		}
	}
	for j, r := range m.RPCMethods {
		if strings.TrimSpace(r.Method) == "" {
			return fmt.Errorf("%s.rpc_methods[%d].method: required", p, j)
		}
		for a, arg := range r.Arguments {
			if _, err := argumentVariant(arg.Type, arg.Value, nil); arg.Value != nil && err != nil {
				return fmt.Errorf("%s.rpc_methods[%d].arguments[%d]: %w", p, j, a, err)
			}
		}
	}
	for j, u := range m.AttributeUpdates {
		up := fmt.Sprintf("%s.attributes_updates[%d]", p, j)
		if strings.TrimSpace(u.Key) == "" {
			return fmt.Errorf("%s.key: required", up)
		}
		if _, err := parseNodeExpr(u.Value); err != nil {
			return fmt.Errorf("%s.value: %w", up, err)
		}
	}
	return nil
}

// source returns the compiled value expression of an attribute or time series.
func (k *KeyConfig) source() (*template, error) {
	if k.Type == "constant" {
		var v any
		if len(k.Value) > 0 {
			if err := json.Unmarshal(k.Value, &v); err != nil {
				return nil, err
			}
		}
		return &template{constant: v, isConst: true}, nil
	}
	text := k.Path
	if len(k.Value) > 0 {
		if err := json.Unmarshal(k.Value, &text); err != nil {
			return nil, fmt.Errorf("expected a string, found %s", k.Value)
		}
	}
	switch k.Type {
	case "", "path", "identifier":
	default:
		return nil, fmt.Errorf("type: expected path, identifier or constant, found %q", k.Type)
	}
	t, err := parseTemplate(text)
	if err != nil {
		return nil, err
	}
	if len(t.refs) != 1 {
		return nil, fmt.Errorf("expected exactly one ${node} expression, found %q", text)
	}
	return t, nil
}

func checkStrategy(path string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := report.ParseConfig(raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }
