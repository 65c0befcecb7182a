package config

import (
	"fmt"
	"strconv"

	"github.com/tbgateway/tbgateway/internal/ratelimit"
)

// Validate checks every value against its type's range or enumeration, without I/O. Every problem found is an
// *Error naming c.File and the key path; several are joined (errors.Join, one per line). Load calls it; call it
// again after changing a Config in code.
func (c *Config) Validate() error {
	v := validator{file: c.File}
	v.thingsboard(&c.Thingsboard)
	v.storage(&c.Storage)
	v.grpc(&c.GRPC)
	v.webUI(&c.WebUI)
	names := map[string]int{}
	for i, conn := range c.Connectors {
		p := indexPath("connectors", i)
		v.required(p+".type", conn.Type, "a connector type (mqtt, modbus, ...)")
		v.required(p+".name", conn.Name, "a connector name")
		v.required(p+".configuration", conn.Configuration, "the connector's configuration file name")
		if first, dup := names[conn.Name]; dup && conn.Name != "" {
			v.fail(p+".name", fmt.Sprintf("a name not used by connectors[%d]", first), strconv.Quote(conn.Name))
		} else {
			names[conn.Name] = i
		}
	}
	return v.errs.err()
}

type validator struct {
	file string
	errs errorList
}

func (v *validator) fail(path, expected, found string) {
	v.errs.add(&Error{File: v.file, Path: path, Expected: expected, Found: found})
}

// foundString renders a string value; empty is "nothing" as a missing key and an empty string mean the same.
func foundString(s string) string {
	if s == "" {
		return "nothing"
	}
	return describe(s)
}

func (v *validator) required(path, s, expected string) {
	if s == "" {
		v.fail(path, expected, "nothing")
	}
}

func (v *validator) intRange(path string, n, lo, hi int, expected string) {
	if n < lo || n > hi {
		v.fail(path, expected, strconv.Itoa(n))
	}
}

func (v *validator) atLeast(path string, n, lo int, expected string) {
	if n < lo {
		v.fail(path, expected, strconv.Itoa(n))
	}
}

func (v *validator) positive(path string, f float64) {
	if !(f > 0) {
		v.fail(path, expPositiveNum, strconv.FormatFloat(f, 'g', -1, 64))
	}
}

func (v *validator) oneOf(path, s, expected string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.fail(path, expected, foundString(s))
}

func (v *validator) thingsboard(t *Thingsboard) {
	const p = "thingsboard."
	v.required(p+"host", t.Host, "a host name or address")
	v.intRange(p+"port", t.Port, 1, 65535, expPort)
	v.intRange(p+"qos", t.QoS, 0, 1, expQoS)
	v.security(&t.Security)
	if pr := t.Provisioning; pr != nil {
		v.oneOf(p+"provisioning.type", pr.Type, provisioningTypesDescribe, "ACCESS_TOKEN", "MQTT_BASIC", "X509_CERTIFICATE")
		v.required(p+"provisioning.provisionDeviceKey", pr.ProvisionDeviceKey, "the device profile's provision key")
		v.required(p+"provisioning.provisionDeviceSecret", pr.ProvisionDeviceSecret, "the device profile's provision secret")
	}
	v.atLeast(p+"statistics.statsSendPeriodInSeconds", t.Statistics.StatsSendPeriodInSeconds, minStatsPeriod, expStatsPeriod)
	v.atLeast(p+"statistics.customStatsSendPeriodInSeconds", t.Statistics.CustomStatsSendPeriodInSeconds, 1, positiveIntDescription)
	v.atLeast(p+"maxPayloadSizeBytes", t.MaxPayloadSizeBytes, 1, positiveIntDescription)
	v.atLeast(p+"minPackSendDelayMS", t.MinPackSendDelayMS, 0, nonNegativeIntDescription)
	v.atLeast(p+"minPackSizeToSend", t.MinPackSizeToSend, 0, nonNegativeIntDescription)
	v.atLeast(p+"checkConnectorsConfigurationInSeconds", t.CheckConnectorsConfigurationInSeconds, 0, nonNegativeIntDescription)
	v.reportStrategy(p+"reportStrategy", &t.ReportStrategy)
	v.atLeast(p+"checkingDeviceActivity.inactivityTimeoutSeconds", t.CheckingDeviceActivity.InactivityTimeoutSeconds, 1, positiveIntDescription)
	v.atLeast(p+"checkingDeviceActivity.inactivityCheckPeriodSeconds", t.CheckingDeviceActivity.InactivityCheckPeriodSeconds, 1, positiveIntDescription)
	for _, rl := range []struct{ key, val string }{
		{"rateLimits", t.RateLimits}, {"dpRateLimits", t.DPRateLimits}, {"messagesRateLimits", t.MessagesRateLimits},
		{"deviceRateLimits", t.DeviceRateLimits}, {"deviceDpRateLimits", t.DeviceDPRateLimits},
		{"deviceMessagesRateLimits", t.DeviceMessagesRateLimits},
	} {
		if _, err := ratelimit.Parse(rl.val); err != nil {
			v.fail(p+rl.key, expRateLimits, describe(rl.val))
		}
	}
	v.intRange("$TB_DEFAULT_RATE_LIMIT_PERCENTAGE", t.DefaultRateLimitPercentage, 1, 100, expPercentage)
	if t.ProxyPort != 0 {
		v.intRange(p+"proxy_port", t.ProxyPort, 1, 65535, expPort)
	}
	v.intRange(p+"keep_alive", t.KeepAlive, 0, 65535, expKeepAlive)
	v.atLeast(p+"reportStrategyDataCacheCleanupInterval", t.ReportStrategyDataCacheCleanupInterval, 1, positiveIntDescription)
	v.positive(p+"reconnectMinDelaySeconds", t.ReconnectMinDelaySeconds)
	v.positive(p+"reconnectMaxDelaySeconds", t.ReconnectMaxDelaySeconds)
	if t.ReconnectMinDelaySeconds > 0 && t.ReconnectMaxDelaySeconds > 0 && t.ReconnectMaxDelaySeconds < t.ReconnectMinDelaySeconds {
		v.fail(p+"reconnectMaxDelaySeconds",
			fmt.Sprintf("a number >= reconnectMinDelaySeconds (%g)", t.ReconnectMinDelaySeconds),
			strconv.FormatFloat(t.ReconnectMaxDelaySeconds, 'g', -1, 64))
	}
	v.intRange(p+"maxInflightMessages", t.MaxInflightMessages, 1, 65535, expInflight)
	v.required(p+"deadLetterFile", t.DeadLetterFile, "a file path")
}

func (v *validator) security(s *Security) {
	const p = "thingsboard.security."
	if s.Type == "" {
		return // no credentials configured: saved or provisioned credentials are the runtime's business
	}
	v.oneOf(p+"type", s.Type, securityTypesDescription,
		SecurityAccessToken, SecurityUsernamePassword, SecurityTLSAccessToken, SecurityTLSPrivateKey)
	switch s.Type {
	case SecurityAccessToken, SecurityTLSAccessToken:
		v.required(p+"accessToken", s.AccessToken, "an access token (security type "+s.Type+")")
	case SecurityUsernamePassword:
		if s.Username == "" && s.ClientID == "" {
			v.fail(p+"username", "a username or a clientId (security type usernamePassword)", "nothing")
		}
	case SecurityTLSPrivateKey:
		v.required(p+"cert", s.Cert, "a certificate file (security type tlsPrivateKey)")
		v.required(p+"privateKey", s.PrivateKey, "a private key file (security type tlsPrivateKey)")
	}
	v.atLeast(p+"checkCertPeriod", s.CheckCertPeriod, 1, positiveIntDescription)
	v.atLeast(p+"certificateDaysLeft", s.CertificateDaysLeft, 0, nonNegativeIntDescription)
}

// reportStrategy checks a report strategy object found at path.
func (v *validator) reportStrategy(path string, r *ReportStrategy) {
	v.oneOf(path+".type", r.Type, reportTypesDescription,
		ReportOnReceived, ReportOnChange, ReportOnReportPeriod, ReportOnChangeOrReportPeriod, ReportDisabled)
	v.atLeast(path+".reportPeriod", r.ReportPeriodMS, 1, positiveIntDescription)
	v.atLeast(path+".ttl", r.TTLSeconds, 1, positiveIntDescription)
}

func (v *validator) storage(s *Storage) {
	const p = "storage."
	v.oneOf(p+"type", s.Type, storageTypesDescription, StorageMemory, StorageFile, StorageSQLite)
	for _, n := range []struct {
		key string
		val int
	}{
		{"max_records_count", s.MaxRecordsCount}, {"read_records_count", s.ReadRecordsCount},
		{"max_file_count", s.MaxFileCount}, {"max_records_per_file", s.MaxRecordsPerFile},
		{"max_records_between_fsync", s.MaxRecordsBetweenFsync}, {"max_read_records_count", s.MaxReadRecordsCount},
		{"writing_batch_size", s.WritingBatchSize}, {"max_db_amount", s.MaxDBAmount},
		{"oversize_check_period", s.OversizeCheckPeriodMin},
	} {
		v.atLeast(p+n.key, n.val, 1, positiveIntDescription)
	}
	v.positive(p+"messages_ttl_check_in_hours", s.MessagesTTLCheckInHours)
	v.positive(p+"messages_ttl_in_days", s.MessagesTTLInDays)
	v.positive(p+"size_limit", s.SizeLimitMB)
	switch s.Type {
	case StorageFile:
		v.required(p+"data_folder_path", s.DataFolderPath, "a folder path")
	case StorageSQLite:
		v.required(p+"data_file_path", s.DataFilePath, "a file path")
	}
	v.oneOf(p+"fullPolicy", s.FullPolicy, fullPoliciesDescription, FullPolicyRefuseNew, FullPolicyDropOldest)
}

func (v *validator) grpc(g *GRPC) {
	const p = "grpc."
	v.intRange(p+"serverPort", g.ServerPort, 0, 65535, expServerPort)
	for _, n := range []struct {
		key string
		val int
	}{
		{"keepAliveTimeMs", g.KeepAliveTimeMs}, {"keepAliveTimeoutMs", g.KeepAliveTimeoutMs},
		{"maxPingsWithoutData", g.MaxPingsWithoutData}, {"minTimeBetweenPingsMs", g.MinTimeBetweenPingsMs},
		{"minPingIntervalWithoutDataMs", g.MinPingIntervalWithoutDataMs},
	} {
		v.atLeast(p+n.key, n.val, 0, nonNegativeIntDescription)
	}
}
