package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// Descriptions of valid values, shared by decoding (wrong type) and Validate (wrong value) so both say the same.
const (
	expPort        = "an integer 1-65535"
	expServerPort  = "an integer 0-65535 (0: a free port chosen by the system)"
	expQoS         = "0 or 1"
	expKeepAlive   = "an integer 0-65535"
	expInflight    = "an integer 1-65535"
	expPositiveNum = "a number > 0"
	expPercentage  = "an integer 1-100"
	expStatsPeriod = "an integer >= 10"
	expRateLimits  = `"cap:seconds[,cap:seconds...]" or a DEFAULT_* placeholder`
	minStatsPeriod = 10
)

// decodeMain turns the main file's tree into a Config with defaults for absent keys. It does no I/O and does
// not validate values (Validate does); errors here are wrong types.
func decodeMain(file string, tree any) (*Config, []Warning, error) {
	d := confjson.NewWith(file, mainOptions)
	cfg := defaults()
	cfg.File = file
	cfg.Raw = map[string]json.RawMessage{}

	root := d.Object("", tree)
	if root == nil {
		return nil, nil, d.Err()
	}
	for k, v := range root.Map() {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: re-encoding section: %w", file, k, err)
		}
		cfg.Raw[k] = raw
	}

	if root.Require("thingsboard", `an object with at least "host"`) {
		root.Sub("thingsboard", func(o *confjson.Object) { decodeThingsboard(o, &cfg.Thingsboard) })
	}
	root.Sub("storage", func(o *confjson.Object) { decodeStorage(o, &cfg.Storage) })
	root.Sub("grpc", func(o *confjson.Object) { decodeGRPC(o, &cfg.GRPC) })
	root.Sub("gateway", func(o *confjson.Object) { decodeGateway(o, &cfg.Gateway) })
	root.Sub("webUI", func(o *confjson.Object) { decodeWebUI(o, &cfg.WebUI) })
	cfg.StatisticsCommands = decodeInlineStatCommands(d, tree)
	for _, o := range root.Objects("connectors") {
		var c Connector
		str(o, "type", &c.Type)
		str(o, "name", &c.Name)
		str(o, "configuration", &c.Configuration)
		str(o, "class", &c.Class)
		str(o, "key", &c.Key)
		boolean(o, "useGRPCForce", &c.UseGRPCForce)
		o.Done()
		c.Type = strings.ToLower(c.Type) // the Python gateway reads "OPCUA", "Modbus", ... as their lower-case types
		cfg.Connectors = append(cfg.Connectors, c)
	}
	root.Done()

	for i, c := range cfg.Connectors {
		switch {
		case c.Type != "grpc":
		case !cfg.GRPC.Enabled:
			d.Warn(fmt.Sprintf("connectors[%d]", i), fmt.Sprintf("connector %q of type grpc does not start: grpc.enabled is false", c.Name))
		case c.Key == "":
			d.Warn(fmt.Sprintf("connectors[%d].key", i), fmt.Sprintf(`connector %q of type grpc does not start without a key (one of your choice, or "auto")`, c.Name))
		}
	}
	if err := d.Err(); err != nil {
		return nil, d.Warnings(), err
	}
	return &cfg, d.Warnings(), nil
}

// mainOptions make the main file strict, as it always was: several errors reported at once, null is not a
// number or a boolean, numbers are not written as text.
var mainOptions = confjson.Options{MaxErrors: maxErrors, StrictNull: true, StrictNumbers: true}

// str, boolean, integer and number read a key into a field that holds its default (left as it is when the key
// is absent). integer takes any int32 and number any finite number: ranges are Validate's, with the same
// expected texts.
func str(o *confjson.Object, k string, dst *string)   { *dst = o.String(k, *dst) }
func boolean(o *confjson.Object, k string, dst *bool) { *dst = o.Bool(k, *dst) }

func integer(o *confjson.Object, k string, dst *int, expected string) {
	*dst = int(o.IntAs(k, int64(*dst), math.MinInt32, math.MaxInt32, expected))
}

func number(o *confjson.Object, k string, dst *float64, expected string) {
	*dst = o.FloatAs(k, *dst, -math.MaxFloat64, math.MaxFloat64, expected)
}

func decodeThingsboard(o *confjson.Object, t *Thingsboard) {
	str(o, "host", &t.Host)
	integer(o, "port", &t.Port, expPort)
	integer(o, "qos", &t.QoS, expQoS)
	o.Sub("security", func(s *confjson.Object) { decodeSecurity(s, &t.Security) })
	o.Sub("provisioning", func(p *confjson.Object) {
		t.Provisioning = &Provisioning{}
		decodeProvisioning(p, t.Provisioning)
	})
	boolean(o, "remoteShell", &t.RemoteShell)
	boolean(o, "remoteConfiguration", &t.RemoteConfiguration)
	boolean(o, "latencyDebugMode", &t.LatencyDebugMode)
	o.Sub("statistics", func(s *confjson.Object) { decodeStatistics(s, &t.Statistics) })
	o.Sub("deviceFiltering", func(f *confjson.Object) {
		boolean(f, "enable", &t.DeviceFiltering.Enable)
		str(f, "filterFile", &t.DeviceFiltering.FilterFile)
	})
	integer(o, "maxPayloadSizeBytes", &t.MaxPayloadSizeBytes, positiveIntDescription)
	integer(o, "minPackSendDelayMS", &t.MinPackSendDelayMS, nonNegativeIntDescription)
	integer(o, "minPackSizeToSend", &t.MinPackSizeToSend, nonNegativeIntDescription)
	integer(o, "checkConnectorsConfigurationInSeconds", &t.CheckConnectorsConfigurationInSeconds, nonNegativeIntDescription)
	boolean(o, "handleDeviceRenaming", &t.HandleDeviceRenaming)
	o.Sub("reportStrategy", func(r *confjson.Object) { decodeReportStrategy(r, &t.ReportStrategy) })
	o.Sub("checkingDeviceActivity", func(a *confjson.Object) {
		c := &t.CheckingDeviceActivity
		boolean(a, "checkDeviceInactivity", &c.CheckDeviceInactivity)
		integer(a, "inactivityTimeoutSeconds", &c.InactivityTimeoutSeconds, positiveIntDescription)
		integer(a, "inactivityCheckPeriodSeconds", &c.InactivityCheckPeriodSeconds, positiveIntDescription)
	})
	str(o, "rateLimits", &t.RateLimits)
	str(o, "dpRateLimits", &t.DPRateLimits)
	str(o, "messagesRateLimits", &t.MessagesRateLimits)
	str(o, "deviceRateLimits", &t.DeviceRateLimits)
	str(o, "deviceDpRateLimits", &t.DeviceDPRateLimits)
	str(o, "deviceMessagesRateLimits", &t.DeviceMessagesRateLimits)
	boolean(o, "syncDevicesSharedAttributesOnConnect", &t.SyncDevicesSharedAttributesOnConnect)
	boolean(o, "managerEnabled", &t.ManagerEnabled)
	str(o, "proxy_host", &t.ProxyHost)
	integer(o, "proxy_port", &t.ProxyPort, expPort)
	integer(o, "keep_alive", &t.KeepAlive, expKeepAlive)
	integer(o, "reportStrategyDataCacheCleanupInterval", &t.ReportStrategyDataCacheCleanupInterval, positiveIntDescription)
	number(o, "reconnectMinDelaySeconds", &t.ReconnectMinDelaySeconds, expPositiveNum)
	number(o, "reconnectMaxDelaySeconds", &t.ReconnectMaxDelaySeconds, expPositiveNum)
	integer(o, "maxInflightMessages", &t.MaxInflightMessages, expInflight)
	str(o, "deadLetterFile", &t.DeadLetterFile)

	if t.RemoteShell {
		o.Decoder().Warn(o.Key("remoteShell"), "remote shell is not supported, ignored")
	}
	if t.ManagerEnabled {
		o.Decoder().Warn(o.Key("managerEnabled"), "the local manager is not supported, ignored")
	}
	if t.RemoteConfiguration {
		o.Decoder().Warn(o.Key("remoteConfiguration"), "remote configuration applies connector configurations, active_connectors, general_configuration, storage_configuration and logs_configuration from ThingsBoard; its grpc section is not applied yet")
	}
}

func decodeSecurity(o *confjson.Object, s *Security) {
	str(o, "type", &s.Type)
	str(o, "accessToken", &s.AccessToken)
	str(o, "clientId", &s.ClientID)
	str(o, "username", &s.Username)
	str(o, "password", &s.Password)
	str(o, "caCert", &s.CACert)
	str(o, "privateKey", &s.PrivateKey)
	str(o, "cert", &s.Cert)
	s.TLS = o.OptBool("tls")
	boolean(o, "insecure", &s.Insecure)
	integer(o, "checkCertPeriod", &s.CheckCertPeriod, positiveIntDescription)
	integer(o, "certificateDaysLeft", &s.CertificateDaysLeft, nonNegativeIntDescription)
}

func decodeProvisioning(o *confjson.Object, p *Provisioning) {
	str(o, "type", &p.Type)
	str(o, "provisionDeviceKey", &p.ProvisionDeviceKey)
	str(o, "provisionDeviceSecret", &p.ProvisionDeviceSecret)
	str(o, "deviceName", &p.DeviceName)
	str(o, "access_token", &p.AccessToken)
	str(o, "username", &p.Username)
	str(o, "password", &p.Password)
	str(o, "client_id", &p.ClientID)
	str(o, "caCert", &p.CACert)
}

func decodeStatistics(o *confjson.Object, s *Statistics) {
	boolean(o, "enable", &s.Enable)
	integer(o, "statsSendPeriodInSeconds", &s.StatsSendPeriodInSeconds, expStatsPeriod)
	integer(o, "customStatsSendPeriodInSeconds", &s.CustomStatsSendPeriodInSeconds, positiveIntDescription)
	s.EnableCustom = s.Enable // absent, it follows enable (the Python gateway's reading)
	if v := o.OptBool("enableCustom"); v != nil {
		s.EnableCustom = *v
	}
	str(o, "configuration", &s.Configuration)
	s.HasCommands = o.Has("commands")
	o.Ignore("commands") // decoded with the whole tree: decodeInlineStatCommands
	// The Python gateway never sends statistics more often than every 10 s; say so rather than refuse.
	if s.StatsSendPeriodInSeconds > 0 && s.StatsSendPeriodInSeconds < minStatsPeriod {
		o.Decoder().Warn(o.Key("statsSendPeriodInSeconds"),
			fmt.Sprintf("%d is below the minimum %d, %d used", s.StatsSendPeriodInSeconds, minStatsPeriod, minStatsPeriod))
		s.StatsSendPeriodInSeconds = minStatsPeriod
	}
}

func decodeReportStrategy(o *confjson.Object, r *ReportStrategy) {
	str(o, "type", &r.Type)
	integer(o, "reportPeriod", &r.ReportPeriodMS, positiveIntDescription)
	integer(o, "ttl", &r.TTLSeconds, positiveIntDescription)
	if _, ok := o.Map()["aggregationFunction"]; ok {
		o.Ignore("aggregationFunction")
		o.Decoder().Warn(o.Key("aggregationFunction"), "aggregation is not implemented (nor in the Python gateway), ignored")
	}
}

func decodeStorage(o *confjson.Object, s *Storage) {
	str(o, "type", &s.Type)
	integer(o, "max_records_count", &s.MaxRecordsCount, positiveIntDescription)
	integer(o, "read_records_count", &s.ReadRecordsCount, positiveIntDescription)
	str(o, "data_folder_path", &s.DataFolderPath)
	integer(o, "max_file_count", &s.MaxFileCount, positiveIntDescription)
	integer(o, "max_records_per_file", &s.MaxRecordsPerFile, positiveIntDescription)
	integer(o, "max_records_between_fsync", &s.MaxRecordsBetweenFsync, positiveIntDescription)
	integer(o, "max_read_records_count", &s.MaxReadRecordsCount, positiveIntDescription)
	str(o, "data_file_path", &s.DataFilePath)
	number(o, "messages_ttl_check_in_hours", &s.MessagesTTLCheckInHours, expPositiveNum)
	number(o, "messages_ttl_in_days", &s.MessagesTTLInDays, expPositiveNum)
	integer(o, "writing_batch_size", &s.WritingBatchSize, positiveIntDescription)
	number(o, "size_limit", &s.SizeLimitMB, expPositiveNum)
	integer(o, "max_db_amount", &s.MaxDBAmount, positiveIntDescription)
	integer(o, "oversize_check_period", &s.OversizeCheckPeriodMin, positiveIntDescription)
	str(o, "fullPolicy", &s.FullPolicy)
	boolean(o, "liveFirst", &s.LiveFirst)
}

func decodeGRPC(o *confjson.Object, g *GRPC) {
	boolean(o, "enabled", &g.Enabled)
	str(o, "serverHost", &g.ServerHost)
	integer(o, "serverPort", &g.ServerPort, expServerPort)
	integer(o, "keepAliveTimeMs", &g.KeepAliveTimeMs, nonNegativeIntDescription)
	// The Python gateway also reads these two keys spelled with a lower-case "a".
	integer(o, "keepaliveTimeoutMs", &g.KeepAliveTimeoutMs, nonNegativeIntDescription)
	integer(o, "keepAliveTimeoutMs", &g.KeepAliveTimeoutMs, nonNegativeIntDescription)
	boolean(o, "keepalivePermitWithoutCalls", &g.KeepAlivePermitWithoutCalls)
	boolean(o, "keepAlivePermitWithoutCalls", &g.KeepAlivePermitWithoutCalls)
	integer(o, "maxPingsWithoutData", &g.MaxPingsWithoutData, nonNegativeIntDescription)
	integer(o, "minTimeBetweenPingsMs", &g.MinTimeBetweenPingsMs, nonNegativeIntDescription)
	integer(o, "minPingIntervalWithoutDataMs", &g.MinPingIntervalWithoutDataMs, nonNegativeIntDescription)
}
