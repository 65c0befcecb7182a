package config

import (
	"strconv"
	"strings"

	"github.com/tbgateway/tbgateway/internal/ratelimit"
)

// envFile is the File of errors and warnings about environment variables.
const envFile = "environment"

// applyEnv merges the environment overrides the Python gateway's Docker image accepts into c.Thingsboard:
// bare names (host, port, type, accessToken, ...) first, then TB_GW_* names, which win. Credential keys go into
// Security, key by key (the Python code replaces the whole security object; merging keeps e.g. a caCert from
// the file when only the token comes from the environment). An empty variable counts as unset.
func applyEnv(c *Config, env func(string) string) ([]Warning, error) {
	if env == nil {
		return nil, nil
	}
	var errs errorList
	var warns []Warning
	t := &c.Thingsboard
	get := func(names ...string) (string, string) {
		val, from := "", ""
		for _, n := range names {
			if v := env(n); v != "" {
				val, from = v, n
			}
		}
		return val, from
	}
	setStr := func(dst *string, names ...string) {
		if v, _ := get(names...); v != "" {
			*dst = v
		}
	}
	setPort := func(dst *int, names ...string) {
		v, from := get(names...)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 65535 {
			errs.add(&Error{File: envFile, Path: from, Expected: expPort, Found: describe(v)})
			return
		}
		*dst = n
	}

	setStr(&t.Host, "host", "TB_GW_HOST")
	setPort(&t.Port, "port", "TB_GW_PORT")
	setStr(&t.ProxyHost, "proxy_host", "TB_GW_PROXY_HOST")
	setPort(&t.ProxyPort, "proxy_port", "TB_GW_PROXY_PORT")
	s := &t.Security
	setStr(&s.Type, "type", "TB_GW_SECURITY_TYPE")
	setStr(&s.AccessToken, "accessToken", "TB_GW_ACCESS_TOKEN")
	setStr(&s.CACert, "caCert", "TB_GW_CA_CERT")
	setStr(&s.PrivateKey, "privateKey", "TB_GW_PRIVATE_KEY")
	setStr(&s.Cert, "cert", "TB_GW_CERT")
	setStr(&s.ClientID, "clientId", "TB_GW_CLIENT_ID")
	setStr(&s.Username, "username", "TB_GW_USERNAME")
	setStr(&s.Password, "password", "TB_GW_PASSWORD")

	// TB_GW_RATE_LIMITS sets every message/telemetry limit; the specific variables, applied after it, win.
	if v, _ := get("TB_GW_RATE_LIMITS"); v != "" {
		t.RateLimits, t.MessagesRateLimits, t.DeviceMessagesRateLimits, t.DeviceRateLimits = v, v, v, v
	}
	if v, _ := get("TB_GW_DP_RATE_LIMITS"); v != "" {
		t.DPRateLimits, t.DeviceDPRateLimits = v, v
	}
	setStr(&t.MessagesRateLimits, "TB_GW_MESSAGES_RATE_LIMITS")
	setStr(&t.DeviceMessagesRateLimits, "TB_GW_DEVICE_MESSAGES_RATE_LIMIT")
	setStr(&t.DeviceRateLimits, "TB_GW_DEVICE_RATE_LIMITS")
	setStr(&t.DeviceDPRateLimits, "TB_GW_DEVICE_DP_RATE_LIMITS")
	for _, name := range []string{"TB_GW_RATE_LIMITS", "TB_GW_DP_RATE_LIMITS", "TB_GW_MESSAGES_RATE_LIMITS",
		"TB_GW_DEVICE_MESSAGES_RATE_LIMIT", "TB_GW_DEVICE_RATE_LIMITS", "TB_GW_DEVICE_DP_RATE_LIMITS"} {
		if v := env(name); v != "" {
			if _, err := ratelimit.Parse(v); err != nil {
				errs.add(&Error{File: envFile, Path: name, Expected: expRateLimits, Found: describe(v)})
			}
		}
	}
	if v, from := get("TB_DEFAULT_RATE_LIMIT_PERCENTAGE"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 100 {
			errs.add(&Error{File: envFile, Path: from, Expected: expPercentage, Found: describe(v)})
		} else {
			t.DefaultRateLimitPercentage = n
		}
	}
	applyProvisioningEnv(t, get)
	if v, from := get("TB_GW_DEV_MODE"); v != "" && isTruthy(v) {
		warns = append(warns, Warning{File: envFile, Path: from, Msg: "development hot reload is not supported, ignored"})
	}
	return warns, errs.err()
}

// applyProvisioningEnv fills Provisioning from TB_GW_PROVISIONING_DEVICE_*; the credentials type follows from
// which variables are set, as in the Python gateway.
func applyProvisioningEnv(t *Thingsboard, get func(...string) (string, string)) {
	const pre = "TB_GW_PROVISIONING_DEVICE_"
	vars := []string{"KEY", "SECRET", "NAME", "ACCESS_TOKEN", "USERNAME", "PASSWORD", "CLIENT_ID", "CA_CERT_FILENAME"}
	found := false
	for _, v := range vars {
		if val, _ := get(pre + v); val != "" {
			found = true
		}
	}
	if !found {
		return
	}
	if t.Provisioning == nil {
		t.Provisioning = &Provisioning{}
	}
	p := t.Provisioning
	p.FromEnvironment = true
	set := func(dst *string, name string) {
		if v, _ := get(pre + name); v != "" {
			*dst = v
		}
	}
	set(&p.ProvisionDeviceKey, "KEY")
	set(&p.ProvisionDeviceSecret, "SECRET")
	set(&p.DeviceName, "NAME")
	set(&p.AccessToken, "ACCESS_TOKEN")
	set(&p.Username, "USERNAME")
	set(&p.Password, "PASSWORD")
	set(&p.ClientID, "CLIENT_ID")
	set(&p.CACert, "CA_CERT_FILENAME")
	// The Python gateway's order: an access token, then MQTT basic credentials, then a CA certificate.
	switch {
	case p.AccessToken != "":
		p.Type = "ACCESS_TOKEN"
	case p.Username != "" || p.Password != "" || p.ClientID != "":
		p.Type = "MQTT_BASIC"
	case p.CACert != "":
		p.Type = "X509_CERTIFICATE"
	default:
		p.Type = "ACCESS_TOKEN"
	}
}

// isTruthy follows Python's strtobool: y, yes, t, true, on, 1 (any case).
func isTruthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "t", "true", "on", "1":
		return true
	}
	return false
}
