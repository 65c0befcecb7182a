package runtime

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbgateway/tbgateway/config"
)

// Client attributes of the gateway device that ThingsBoard's gateway pages read (the Python gateway's names).
const (
	attrGeneral          = "general_configuration"
	attrStorage          = "storage_configuration"
	attrGRPC             = "grpc_configuration"
	attrLogs             = "logs_configuration"
	attrActiveConnectors = "active_connectors"
	attrRemoteLogLevel   = "RemoteLoggingLevel"
	// RemoteConfigErrorKey is the client attribute of the gateway device that holds the last remote change the
	// gateway refused or ignored: {"key": <shared attribute>, "ts": <its ts, 0 when it has none>, "error":
	// <why>, "time": <when, ms>}. ThingsBoard shows it next to the other client attributes.
	RemoteConfigErrorKey = "remoteConfigurationError"
	// RedactedValue replaces every secret (tokens, passwords, keys) in the published configurations. A pushed
	// connector configuration that still holds it at a place where the running one has a secret keeps the
	// running secret there.
	RedactedValue = "<redacted>"
)

// logsFile is the Python gateway's logging configuration file in the config folder.
const logsFile = "logs.json"

// connectorMetaKeys are moved out of a connector's configurationJson into the attribute itself (and back into
// the file's object on a push), as the Python gateway does.
var connectorMetaKeys = []string{"logLevel", "enableRemoteLogging", "reportStrategy", "configVersion"}

// isSecretKey reports whether a JSON object key names a secret.
func isSecretKey(k string) bool {
	l := strings.ToLower(k)
	switch l {
	case "accesstoken", "access_token", "token", "apikey", "api_key", "provisiondevicekey":
		return true
	}
	return strings.Contains(l, "password") || strings.Contains(l, "secret") || strings.Contains(l, "passphrase")
}

// redact returns a copy of a decoded JSON tree with every non-empty string, number or object under a secret
// key replaced by RedactedValue.
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if isSecretKey(k) && e != nil && e != "" {
				out[k] = RedactedValue
				continue
			}
			out[k] = redact(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redact(e)
		}
		return out
	}
	return v
}

// unredact returns pushed with every RedactedValue that stands where running has a value replaced by that
// value, so that a configuration ThingsBoard echoes back unchanged keeps its secrets.
func unredact(pushed, running any) any {
	switch x := pushed.(type) {
	case string:
		if x == RedactedValue && running != nil {
			return running
		}
	case map[string]any:
		r, _ := running.(map[string]any)
		for k, e := range x {
			x[k] = unredact(e, r[k])
		}
	case []any:
		r, _ := running.([]any)
		for i, e := range x {
			var ri any
			if i < len(r) {
				ri = r[i]
			}
			x[i] = unredact(e, ri)
		}
	}
	return pushed
}

// decodeTree decodes JSON into maps, slices and json.Number (numbers keep their text).
func decodeTree(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// objectOf decodes a JSON object; nil or anything else gives an empty object.
func objectOf(raw []byte) map[string]any {
	if len(raw) == 0 {
		return map[string]any{}
	}
	v, err := decodeTree(raw)
	if m, ok := v.(map[string]any); ok && err == nil {
		return m
	}
	return map[string]any{}
}

// sectionAttr is a main-file section in the attribute shape: its keys, secrets redacted, and ts.
func sectionAttr(raw json.RawMessage, ts int64) map[string]any {
	m := redact(objectOf(raw)).(map[string]any)
	m["ts"] = ts
	return m
}

// generalAttr is general_configuration: the thingsboard section with statistics in the Python remote shape,
// commands being the custom statistics commands in force.
func generalAttr(cfg *config.Config, commands []any, ts int64) map[string]any {
	m := sectionAttr(cfg.Raw["thingsboard"], ts)
	st := cfg.Thingsboard.Statistics
	conf := st.Configuration
	if conf == "" {
		conf = "statistics.json"
	}
	m["statistics"] = map[string]any{
		"enable":                         st.Enable,
		"enableCustom":                   st.EnableCustom,
		"statsSendPeriodInSeconds":       st.StatsSendPeriodInSeconds,
		"customStatsSendPeriodInSeconds": st.CustomStatsSendPeriodInSeconds,
		"configuration":                  conf,
		"commands":                       commands,
	}
	return m
}

// logsAttr is logs_configuration: the config folder's logs.json, {} when it is absent or not an object.
func logsAttr(dir string, ts int64) map[string]any {
	b, err := os.ReadFile(filepath.Join(dir, logsFile))
	if err != nil {
		b = nil
	}
	return sectionAttr(b, ts)
}

// connectorID is the connector's "id" from its file, else one derived from its name (stable across restarts).
func connectorID(name string, conf map[string]any) string {
	if id, ok := conf["id"].(string); ok && id != "" {
		return id
	}
	h := sha1.Sum([]byte("tbgateway connector " + name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// connectorAttr is one connector's attribute: {name, type, configuration, id, configVersion, grpc_key,
// configurationJson, logLevel, enableRemoteLogging, reportStrategy?, ts}, secrets redacted.
func connectorAttr(c config.Connector, ts int64) map[string]any {
	conf := redact(objectOf(c.Raw)).(map[string]any)
	m := map[string]any{
		"name":                c.Name,
		"type":                c.Type,
		"configuration":       c.Configuration,
		"id":                  connectorID(c.Name, conf),
		"configVersion":       nil,
		"grpc_key":            nil,
		"logLevel":            "INFO",
		"enableRemoteLogging": false,
		"ts":                  ts,
	}
	switch c.Key {
	case "":
	case "auto": // the generated key stays in persistent_keys.json
		m["grpc_key"] = c.Key
	default: // a key chosen by the user is a credential of the external connector
		m["grpc_key"] = RedactedValue
	}
	for _, k := range connectorMetaKeys {
		if v, ok := conf[k]; ok {
			m[k] = v
			delete(conf, k)
		}
	}
	m["configurationJson"] = conf
	return m
}
