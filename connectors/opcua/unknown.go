package opcua

import (
	"encoding/json"
	"fmt"
	"sort"
)

// keySet is the set of keys one object of the configuration may carry.
type keySet map[string]bool

func keys(ks ...string) keySet {
	m := keySet{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// Known keys per object, including keys the Python gateway or its UI writes that this connector does not act on
// (they are accepted silently so that real configs do not warn).
var (
	topKeys    = keys("name", "logLevel", "reportStrategy", "server", "mapping", "id", "configVersion", "enableRemoteLogging", "sendDataOnlyOnChange")
	serverKeys = keys("name", "url", "timeoutInMillis", "scanPeriodInMillis", "pollPeriodInMillis", "enableSubscriptions",
		"subCheckPeriodInMillis", "sessionTimeoutInMillis", "subKeepAlivePeriodInSeconds", "reconnectRetriesCount",
		"reconnectBackoffInitialDelay", "reconnectBackoffFactor", "uri", "security", "identity", "showMap",
		"subDataMaxBatchSize", "subDataMinBatchCreationTimeMs", "subscriptionProcessBatchSize", "disableSubscriptions")
	identityKeys = keys("type", "username", "password", "mode", "caCert", "privateKey", "cert", "pathToCACert",
		"pathToPrivateKey", "pathToClientCert")
	mappingKeys = keys("deviceNodeSource", "deviceNodePattern", "deviceInfo", "deviceNamePattern", "deviceTypePattern",
		"reportStrategy", "attributes", "timeseries", "rpc_methods", "attributes_updates", "device_name", "device_type",
		"converter")
	deviceInfoKeys = keys("deviceNameExpression", "deviceNameExpressionSource", "deviceProfileExpression",
		"deviceProfileExpressionSource")
	keyKeys    = keys("key", "type", "value", "path", "timestampLocation", "reportStrategy")
	rpcKeys    = keys("method", "arguments")
	argKeys    = keys("type", "value")
	updateKeys = keys("key", "type", "value", "attributeOnThingsBoard", "attributeOnDevice")
)

// unknownKeys lists keys the connector does not know, by their path, as warnings.
func unknownKeys(raw []byte) ([]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []string
	check := func(prefix string, m map[string]json.RawMessage, known keySet) {
		for k := range m {
			if !known[k] {
				out = append(out, fmt.Sprintf("%s%s: unknown key, ignored", prefix, k))
			}
		}
	}
	obj := func(raw json.RawMessage) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m) // shapes were checked by the typed decode
		return m
	}
	list := func(raw json.RawMessage) []json.RawMessage {
		var l []json.RawMessage
		_ = json.Unmarshal(raw, &l)
		return l
	}
	check("", top, topKeys)
	server := obj(top["server"])
	check("server.", server, serverKeys)
	check("server.identity.", obj(server["identity"]), identityKeys)
	for i, mr := range list(top["mapping"]) {
		p := fmt.Sprintf("mapping[%d].", i)
		m := obj(mr)
		check(p, m, mappingKeys)
		check(p+"deviceInfo.", obj(m["deviceInfo"]), deviceInfoKeys)
		for _, section := range []string{"attributes", "timeseries"} {
			for j, kr := range list(m[section]) {
				check(fmt.Sprintf("%s%s[%d].", p, section, j), obj(kr), keyKeys)
			}
		}
		for j, rr := range list(m["rpc_methods"]) {
			rp := fmt.Sprintf("%srpc_methods[%d].", p, j)
			r := obj(rr)
			check(rp, r, rpcKeys)
			for a, ar := range list(r["arguments"]) {
				if am := obj(ar); am != nil {
					check(fmt.Sprintf("%sarguments[%d].", rp, a), am, argKeys)
				}
			}
		}
		for j, ur := range list(m["attributes_updates"]) {
			check(fmt.Sprintf("%sattributes_updates[%d].", p, j), obj(ur), updateKeys)
		}
	}
	sort.Strings(out)
	return out, nil
}
