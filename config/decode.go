package config

import (
	"encoding/json"
	"fmt"
)

// Descriptions of valid values, shared by decoding (wrong type) and Validate (wrong value) so both say the same.
const (
	expPort        = "an integer 1-65535"
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
	d := &decoder{file: file}
	cfg := defaults()
	cfg.File = file
	cfg.Raw = map[string]json.RawMessage{}

	root := d.object("", tree)
	if len(d.errs) > 0 {
		// The whole document is not an object: report it as the top level, not as an empty key.
		d.errs = errorList{&Error{File: file, Path: "(top level)", Expected: "an object", Found: describe(tree)}}
		return nil, nil, d.errs.err()
	}
	for k, v := range root.m {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: re-encoding section: %w", file, k, err)
		}
		cfg.Raw[k] = raw
	}

	if v, ok := root.get("thingsboard"); !ok || v == nil {
		d.errs.add(&Error{File: file, Path: "thingsboard", Expected: `an object with at least "host"`, Found: "nothing"})
	} else {
		root.sub("thingsboard", func(o *object) { decodeThingsboard(o, &cfg.Thingsboard) })
	}
	root.sub("storage", func(o *object) { decodeStorage(o, &cfg.Storage) })
	root.sub("grpc", func(o *object) { decodeGRPC(o, &cfg.GRPC) })
	root.sub("gateway", func(o *object) { o.str("dataFolderPath", &cfg.Gateway.DataFolderPath) })
	root.list("connectors", func(path string, item any) {
		o := d.object(path, item)
		var c Connector
		o.str("type", &c.Type)
		o.str("name", &c.Name)
		o.str("configuration", &c.Configuration)
		o.str("class", &c.Class)
		o.str("key", &c.Key)
		o.boolean("useGRPCForce", &c.UseGRPCForce)
		o.done()
		cfg.Connectors = append(cfg.Connectors, c)
	})
	root.done()

	if cfg.GRPC.Enabled {
		d.warn("grpc.enabled", "gRPC connectors are not supported, ignored")
	}
	if err := d.errs.err(); err != nil {
		return nil, d.warns, err
	}
	return &cfg, d.warns, nil
}

func decodeThingsboard(o *object, t *Thingsboard) {
	o.str("host", &t.Host)
	o.integer("port", &t.Port, expPort)
	o.integer("qos", &t.QoS, expQoS)
	o.sub("security", func(s *object) { decodeSecurity(s, &t.Security) })
	o.sub("provisioning", func(p *object) {
		t.Provisioning = &Provisioning{}
		decodeProvisioning(p, t.Provisioning)
	})
	o.boolean("remoteShell", &t.RemoteShell)
	o.boolean("remoteConfiguration", &t.RemoteConfiguration)
	o.boolean("latencyDebugMode", &t.LatencyDebugMode)
	o.sub("statistics", func(s *object) { decodeStatistics(s, &t.Statistics) })
	o.sub("deviceFiltering", func(f *object) {
		f.boolean("enable", &t.DeviceFiltering.Enable)
		f.str("filterFile", &t.DeviceFiltering.FilterFile)
	})
	o.integer("maxPayloadSizeBytes", &t.MaxPayloadSizeBytes, positiveIntDescription)
	o.integer("minPackSendDelayMS", &t.MinPackSendDelayMS, nonNegativeIntDescription)
	o.integer("minPackSizeToSend", &t.MinPackSizeToSend, nonNegativeIntDescription)
	o.integer("checkConnectorsConfigurationInSeconds", &t.CheckConnectorsConfigurationInSeconds, nonNegativeIntDescription)
	o.boolean("handleDeviceRenaming", &t.HandleDeviceRenaming)
	o.sub("reportStrategy", func(r *object) { decodeReportStrategy(r, &t.ReportStrategy) })
	o.sub("checkingDeviceActivity", func(a *object) {
		c := &t.CheckingDeviceActivity
		a.boolean("checkDeviceInactivity", &c.CheckDeviceInactivity)
		a.integer("inactivityTimeoutSeconds", &c.InactivityTimeoutSeconds, positiveIntDescription)
		a.integer("inactivityCheckPeriodSeconds", &c.InactivityCheckPeriodSeconds, positiveIntDescription)
	})
	o.str("rateLimits", &t.RateLimits)
	o.str("dpRateLimits", &t.DPRateLimits)
	o.str("messagesRateLimits", &t.MessagesRateLimits)
	o.str("deviceRateLimits", &t.DeviceRateLimits)
	o.str("deviceDpRateLimits", &t.DeviceDPRateLimits)
	o.str("deviceMessagesRateLimits", &t.DeviceMessagesRateLimits)
	o.boolean("syncDevicesSharedAttributesOnConnect", &t.SyncDevicesSharedAttributesOnConnect)
	o.boolean("managerEnabled", &t.ManagerEnabled)
	o.str("proxy_host", &t.ProxyHost)
	o.integer("proxy_port", &t.ProxyPort, expPort)
	o.integer("keep_alive", &t.KeepAlive, expKeepAlive)
	o.integer("reportStrategyDataCacheCleanupInterval", &t.ReportStrategyDataCacheCleanupInterval, positiveIntDescription)
	o.number("reconnectMinDelaySeconds", &t.ReconnectMinDelaySeconds, expPositiveNum)
	o.number("reconnectMaxDelaySeconds", &t.ReconnectMaxDelaySeconds, expPositiveNum)
	o.integer("maxInflightMessages", &t.MaxInflightMessages, expInflight)
	o.str("deadLetterFile", &t.DeadLetterFile)

	if t.RemoteShell {
		o.d.warn(joinPath(o.path, "remoteShell"), "remote shell is not supported, ignored")
	}
	if t.ManagerEnabled {
		o.d.warn(joinPath(o.path, "managerEnabled"), "the local manager is not supported, ignored")
	}
	if t.ProxyHost != "" {
		o.d.warn(joinPath(o.path, "proxy_host"), "an HTTP proxy is not supported, ignored")
	}
	if t.RemoteConfiguration {
		o.d.warn(joinPath(o.path, "remoteConfiguration"), "remote configuration is not supported yet, ignored")
	}
	if t.LatencyDebugMode {
		o.d.warn(joinPath(o.path, "latencyDebugMode"), "latency debug mode is not supported yet, ignored")
	}
	if t.DeviceFiltering.Enable {
		o.d.warn(joinPath(o.path, "deviceFiltering.enable"), "device filtering is not supported yet, ignored")
	}
	if t.CheckingDeviceActivity.CheckDeviceInactivity {
		o.d.warn(joinPath(o.path, "checkingDeviceActivity.checkDeviceInactivity"), "device inactivity checks are not supported yet, ignored")
	}
	if t.Provisioning != nil {
		o.d.warn(joinPath(o.path, "provisioning"), "self-provisioning is not supported yet, ignored")
	}
	if t.Statistics.EnableCustom {
		o.d.warn(joinPath(o.path, "statistics.enableCustom"), "custom command statistics are not supported, ignored")
	}
}

func decodeSecurity(o *object, s *Security) {
	o.str("type", &s.Type)
	o.str("accessToken", &s.AccessToken)
	o.str("clientId", &s.ClientID)
	o.str("username", &s.Username)
	o.str("password", &s.Password)
	o.str("caCert", &s.CACert)
	o.str("privateKey", &s.PrivateKey)
	o.str("cert", &s.Cert)
	o.optBool("tls", &s.TLS)
	o.boolean("insecure", &s.Insecure)
	o.integer("checkCertPeriod", &s.CheckCertPeriod, positiveIntDescription)
	o.integer("certificateDaysLeft", &s.CertificateDaysLeft, nonNegativeIntDescription)
}

func decodeProvisioning(o *object, p *Provisioning) {
	o.str("type", &p.Type)
	o.str("provisionDeviceKey", &p.ProvisionDeviceKey)
	o.str("provisionDeviceSecret", &p.ProvisionDeviceSecret)
	o.str("deviceName", &p.DeviceName)
	o.str("access_token", &p.AccessToken)
	o.str("username", &p.Username)
	o.str("password", &p.Password)
	o.str("client_id", &p.ClientID)
	o.str("caCert", &p.CACert)
}

func decodeStatistics(o *object, s *Statistics) {
	o.boolean("enable", &s.Enable)
	o.integer("statsSendPeriodInSeconds", &s.StatsSendPeriodInSeconds, expStatsPeriod)
	o.integer("customStatsSendPeriodInSeconds", &s.CustomStatsSendPeriodInSeconds, positiveIntDescription)
	o.boolean("enableCustom", &s.EnableCustom)
	o.str("configuration", &s.Configuration)
	// The Python gateway never sends statistics more often than every 10 s; say so rather than refuse.
	if s.StatsSendPeriodInSeconds > 0 && s.StatsSendPeriodInSeconds < minStatsPeriod {
		o.d.warn(joinPath(o.path, "statsSendPeriodInSeconds"),
			fmt.Sprintf("%d is below the minimum %d, %d used", s.StatsSendPeriodInSeconds, minStatsPeriod, minStatsPeriod))
		s.StatsSendPeriodInSeconds = minStatsPeriod
	}
}

func decodeReportStrategy(o *object, r *ReportStrategy) {
	o.str("type", &r.Type)
	o.integer("reportPeriod", &r.ReportPeriodMS, positiveIntDescription)
	o.integer("ttl", &r.TTLSeconds, positiveIntDescription)
	if _, ok := o.get("aggregationFunction"); ok {
		o.d.warn(joinPath(o.path, "aggregationFunction"), "aggregation is not implemented (nor in the Python gateway), ignored")
	}
}

func decodeStorage(o *object, s *Storage) {
	o.str("type", &s.Type)
	o.integer("max_records_count", &s.MaxRecordsCount, positiveIntDescription)
	o.integer("read_records_count", &s.ReadRecordsCount, positiveIntDescription)
	o.str("data_folder_path", &s.DataFolderPath)
	o.integer("max_file_count", &s.MaxFileCount, positiveIntDescription)
	o.integer("max_records_per_file", &s.MaxRecordsPerFile, positiveIntDescription)
	o.integer("max_records_between_fsync", &s.MaxRecordsBetweenFsync, positiveIntDescription)
	o.integer("max_read_records_count", &s.MaxReadRecordsCount, positiveIntDescription)
	o.str("data_file_path", &s.DataFilePath)
	o.number("messages_ttl_check_in_hours", &s.MessagesTTLCheckInHours, expPositiveNum)
	o.number("messages_ttl_in_days", &s.MessagesTTLInDays, expPositiveNum)
	o.integer("writing_batch_size", &s.WritingBatchSize, positiveIntDescription)
	o.number("size_limit", &s.SizeLimitMB, expPositiveNum)
	o.integer("max_db_amount", &s.MaxDBAmount, positiveIntDescription)
	o.integer("oversize_check_period", &s.OversizeCheckPeriodMin, positiveIntDescription)
	o.str("fullPolicy", &s.FullPolicy)
	o.boolean("liveFirst", &s.LiveFirst)
}

func decodeGRPC(o *object, g *GRPC) {
	o.boolean("enabled", &g.Enabled)
	o.integer("serverPort", &g.ServerPort, expPort)
	o.integer("keepAliveTimeMs", &g.KeepAliveTimeMs, nonNegativeIntDescription)
	o.integer("keepAliveTimeoutMs", &g.KeepAliveTimeoutMs, nonNegativeIntDescription)
	o.boolean("keepAlivePermitWithoutCalls", &g.KeepAlivePermitWithoutCalls)
	o.integer("maxPingsWithoutData", &g.MaxPingsWithoutData, nonNegativeIntDescription)
	o.integer("minTimeBetweenPingsMs", &g.MinTimeBetweenPingsMs, nonNegativeIntDescription)
	o.integer("minPingIntervalWithoutDataMs", &g.MinPingIntervalWithoutDataMs, nonNegativeIntDescription)
}
