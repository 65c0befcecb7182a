package config

import (
	"encoding/json"
	"net"
	"strconv"
	"time"
)

// Config is the decoded main configuration file with the Python gateway's defaults applied, the environment
// overrides merged in and every connector's configuration file read.
type Config struct {
	// File is the path of the main configuration file, as used in error messages.
	File string
	// Dir is the folder holding the main file; connector files and our own relative paths resolve against it.
	Dir string
	// Thingsboard is the "thingsboard" section: how to reach ThingsBoard and gateway-wide behaviour.
	Thingsboard Thingsboard
	// Storage is the "storage" section.
	Storage Storage
	// GRPC is the "grpc" section: the gRPC server for connectors running outside the gateway.
	GRPC GRPC
	// Connectors are the "connectors" entries in file order, each with its configuration file's content.
	Connectors []Connector
	// Gateway is our own top-level "gateway" section (absent from Python configs).
	Gateway Gateway
	// WebUI is our own top-level "webUI" section: the gateway's web UI listener (metrics and health).
	WebUI WebUI
	// StatisticsCommands are the custom statistics commands: those of the thingsboard.statistics.configuration
	// file (read by Load), then those of the inline thingsboard.statistics.commands list.
	StatisticsCommands []StatCommand
	// StatisticsCommandsErr is why the statistics.configuration file cannot be used (missing, not a list of
	// commands); the gateway then runs without its commands, and Check reports it as an error.
	StatisticsCommandsErr error
	// Raw holds every top-level section re-encoded as JSON (same values as the file, keys sorted; YAML
	// converted), keyed by the section name, including sections this package does not know. Environment overrides are not applied
	// to Raw; it is what remote configuration echoes and what a caller can re-decode for keys it owns.
	Raw map[string]json.RawMessage
}

// Thingsboard is the "thingsboard" section. Keys are the Python gateway's; the last four fields and
// DefaultRateLimitPercentage are our additions.
type Thingsboard struct {
	Host     string   // "host", required
	Port     int      // "port", 1-65535, default 1883
	QoS      int      // "qos", 0 or 1, default 1
	Security Security // "security"
	// Provisioning is "provisioning" (self-provisioning), nil when absent and not set by the environment.
	Provisioning *Provisioning

	RemoteShell                           bool            // "remoteShell", default false; true is not supported (warning)
	RemoteConfiguration                   bool            // "remoteConfiguration", default false (the Python code default)
	LatencyDebugMode                      bool            // "latencyDebugMode", default false
	Statistics                            Statistics      // "statistics"
	DeviceFiltering                       DeviceFiltering // "deviceFiltering"
	MaxPayloadSizeBytes                   int             // "maxPayloadSizeBytes", default 8196
	MinPackSendDelayMS                    int             // "minPackSendDelayMS", default 50
	MinPackSizeToSend                     int             // "minPackSizeToSend", default 500
	CheckConnectorsConfigurationInSeconds int             // "checkConnectorsConfigurationInSeconds", default 60
	HandleDeviceRenaming                  bool            // "handleDeviceRenaming", default true
	ReportStrategy                        ReportStrategy  // "reportStrategy", default type ON_RECEIVED
	// CheckingDeviceActivity is "checkingDeviceActivity".
	CheckingDeviceActivity CheckingDeviceActivity

	// Rate limits as written ("cap:sec,cap:sec" or a DEFAULT_* placeholder); see internal/ratelimit.Parse.
	RateLimits               string // "rateLimits", default DEFAULT_TELEMETRY_RATE_LIMIT
	DPRateLimits             string // "dpRateLimits", default DEFAULT_TELEMETRY_DP_RATE_LIMIT
	MessagesRateLimits       string // "messagesRateLimits", default DEFAULT_MESSAGES_RATE_LIMIT
	DeviceRateLimits         string // "deviceRateLimits", default DEFAULT_TELEMETRY_RATE_LIMIT
	DeviceDPRateLimits       string // "deviceDpRateLimits", default DEFAULT_TELEMETRY_DP_RATE_LIMIT
	DeviceMessagesRateLimits string // "deviceMessagesRateLimits", default DEFAULT_MESSAGES_RATE_LIMIT
	// DefaultRateLimitPercentage is the share (1-100) of each limit actually used; only from the environment
	// variable TB_DEFAULT_RATE_LIMIT_PERCENTAGE, default 80 as in the Python gateway.
	DefaultRateLimitPercentage int

	SyncDevicesSharedAttributesOnConnect bool   // "syncDevicesSharedAttributesOnConnect", default true
	ManagerEnabled                       bool   // "managerEnabled", default false; true is not supported (warning)
	ProxyHost                            string // "proxy_host": HTTP CONNECT proxy for the MQTT link; "" = direct
	ProxyPort                            int    // "proxy_port", 0 = 8080 (PySocks' default)
	KeepAlive                            int    // "keep_alive" seconds, 0-65535, default 120
	// ReportStrategyDataCacheCleanupInterval is "reportStrategyDataCacheCleanupInterval" seconds, default 3600.
	ReportStrategyDataCacheCleanupInterval int

	// ReconnectMinDelaySeconds is our "reconnectMinDelaySeconds": the first reconnect backoff step, default 1.
	ReconnectMinDelaySeconds float64
	// ReconnectMaxDelaySeconds is our "reconnectMaxDelaySeconds": the backoff cap, default 120.
	ReconnectMaxDelaySeconds float64
	// MaxInflightMessages is our "maxInflightMessages": unacknowledged QoS 1 publishes allowed at once, 1-65535,
	// default 100 (the server's Receive Maximum or session limit may lower it).
	MaxInflightMessages int
	// DeadLetterFile is our "deadLetterFile": where records ThingsBoard rejects as malformed are written.
	// Default "dead_letter.jsonl"; a relative path is resolved against Gateway.DataFolderPath by Load.
	DeadLetterFile string
}

// ReconnectMinDelay returns ReconnectMinDelaySeconds as a duration.
func (t *Thingsboard) ReconnectMinDelay() time.Duration {
	return time.Duration(t.ReconnectMinDelaySeconds * float64(time.Second))
}

// ReconnectMaxDelay returns ReconnectMaxDelaySeconds as a duration.
func (t *Thingsboard) ReconnectMaxDelay() time.Duration {
	return time.Duration(t.ReconnectMaxDelaySeconds * float64(time.Second))
}

// Security types accepted in thingsboard.security.type.
const (
	SecurityAccessToken       = "accessToken"
	SecurityUsernamePassword  = "usernamePassword"
	SecurityTLSAccessToken    = "tlsAccessToken"
	SecurityTLSPrivateKey     = "tlsPrivateKey"
	securityTypesDescription  = "one of accessToken, usernamePassword, tlsAccessToken, tlsPrivateKey"
	provisioningTypesDescribe = "one of ACCESS_TOKEN, MQTT_BASIC, X509_CERTIFICATE"
)

// Security is thingsboard.security: the gateway device's credentials. When "type" is absent it is inferred from
// the keys present as the Python gateway does (accessToken, then username/clientId, then cert); Type stays empty
// when there are no credentials at all (the runtime then needs saved or provisioned credentials).
type Security struct {
	Type        string // "type"
	AccessToken string // "accessToken" (sent as the MQTT username)
	ClientID    string // "clientId"
	Username    string // "username"
	Password    string // "password"
	// CACert, PrivateKey and Cert are file paths as written ("caCert", "privateKey", "cert"); the Python gateway
	// looks for them in the config folder first.
	CACert     string
	PrivateKey string
	Cert       string
	// TLS is "tls": force TLS; nil when absent (TLS is then used if caCert is set or the port is 8883).
	TLS      *bool
	Insecure bool // "insecure": skip the server hostname check
	// CheckCertPeriod is "checkCertPeriod" seconds between certificate expiry checks, default 86400.
	CheckCertPeriod int
	// CertificateDaysLeft is "certificateDaysLeft": renew/announce when fewer days are left, default 3.
	CertificateDaysLeft int
}

// Provisioning is thingsboard.provisioning (device self-provisioning).
type Provisioning struct {
	Type                  string // "type": ACCESS_TOKEN (default), MQTT_BASIC or X509_CERTIFICATE
	ProvisionDeviceKey    string // "provisionDeviceKey", required
	ProvisionDeviceSecret string // "provisionDeviceSecret", required
	DeviceName            string // "deviceName"; empty = chosen by the runtime
	AccessToken           string // "access_token"
	Username              string // "username"
	Password              string // "password"
	ClientID              string // "client_id"
	CACert                string // "caCert"
	// FromEnvironment is set when TB_GW_PROVISIONING_DEVICE_* variables supplied provisioning; the Python
	// gateway then provisions even when "security" holds credentials.
	FromEnvironment bool
}

// Statistics is thingsboard.statistics.
type Statistics struct {
	Enable                         bool // "enable", default true
	StatsSendPeriodInSeconds       int  // "statsSendPeriodInSeconds", default 60, at least 10
	CustomStatsSendPeriodInSeconds int  // "customStatsSendPeriodInSeconds", default 300 (Python code default)
	// EnableCustom is "enableCustom": run the custom statistics commands (Config.StatisticsCommands) every
	// CustomStatsSendPeriodInSeconds. Absent, it follows Enable, as in the Python gateway.
	EnableCustom  bool
	Configuration string // "configuration": file of custom commands, relative to the config folder
	// HasCommands reports whether the section has an inline "commands" list (the remote configuration shape).
	HasCommands bool
}

// DeviceFiltering is thingsboard.deviceFiltering.
type DeviceFiltering struct {
	Enable     bool   // "enable", default false
	FilterFile string // "filterFile", default "list.json", relative to the config folder
}

// Report strategy types, for thingsboard.reportStrategy.type and connectors' reportStrategy.
const (
	ReportOnReceived             = "ON_RECEIVED"
	ReportOnChange               = "ON_CHANGE"
	ReportOnReportPeriod         = "ON_REPORT_PERIOD"
	ReportOnChangeOrReportPeriod = "ON_CHANGE_OR_REPORT_PERIOD"
	ReportDisabled               = "DISABLED"
	reportTypesDescription       = "one of ON_RECEIVED, ON_CHANGE, ON_REPORT_PERIOD, ON_CHANGE_OR_REPORT_PERIOD, DISABLED"
)

// ReportStrategy is a reportStrategy object.
type ReportStrategy struct {
	Type           string // "type", default ON_RECEIVED
	ReportPeriodMS int    // "reportPeriod" milliseconds, default 10000
	TTLSeconds     int    // "ttl" seconds of the value cache, default 86400
}

// CheckingDeviceActivity is thingsboard.checkingDeviceActivity.
type CheckingDeviceActivity struct {
	CheckDeviceInactivity        bool // "checkDeviceInactivity", default false
	InactivityTimeoutSeconds     int  // "inactivityTimeoutSeconds", default 50 (Python code default)
	InactivityCheckPeriodSeconds int  // "inactivityCheckPeriodSeconds", default 1 (Python code default)
}

// Storage types and full policies.
const (
	StorageMemory             = "memory"
	StorageFile               = "file"
	StorageSQLite             = "sqlite"
	FullPolicyRefuseNew       = "refuse-new"
	FullPolicyDropOldest      = "drop-oldest"
	storageTypesDescription   = "one of memory, file, sqlite"
	fullPoliciesDescription   = "one of refuse-new, drop-oldest"
	nonNegativeIntDescription = "an integer >= 0"
	positiveIntDescription    = "an integer >= 1"
)

// Storage is the "storage" section: every type's keys with the Python code defaults, whichever type is chosen
// (the Python sample mixes them too). Paths are kept as written (the Python gateway resolves them against its
// working directory).
type Storage struct {
	Type string // "type": memory (default), file or sqlite

	MaxRecordsCount  int // memory "max_records_count", default 10000
	ReadRecordsCount int // memory "read_records_count", default 1000

	DataFolderPath         string // file "data_folder_path", default "./"
	MaxFileCount           int    // file "max_file_count", default 5
	MaxRecordsPerFile      int    // file "max_records_per_file", default 3
	MaxRecordsBetweenFsync int    // file "max_records_between_fsync", default 1
	MaxReadRecordsCount    int    // file and sqlite "max_read_records_count", default 1000

	DataFilePath            string  // sqlite "data_file_path", default "./"
	MessagesTTLCheckInHours float64 // sqlite "messages_ttl_check_in_hours", default 1
	MessagesTTLInDays       float64 // sqlite "messages_ttl_in_days", default 7
	WritingBatchSize        int     // sqlite "writing_batch_size", default 1000
	SizeLimitMB             float64 // sqlite "size_limit" megabytes per database file, default 1024
	MaxDBAmount             int     // sqlite "max_db_amount", default 10
	OversizeCheckPeriodMin  int     // sqlite "oversize_check_period" minutes, default 1

	// FullPolicy is our "fullPolicy": what a full storage does with a new record, "refuse-new" (default, the
	// Python behaviour: the writer gets an error) or "drop-oldest" (the oldest stored record is dropped).
	FullPolicy string
	// LiveFirst is our "liveFirst", default false: after an outage, telemetry produced since the reconnect is
	// sent beside the stored backlog instead of behind it. Attributes, connects and disconnects always keep
	// their order (see tbgateway.LiveReader).
	LiveFirst bool
}

// GRPC is the "grpc" section: the gRPC server that connectors of type "grpc" (running outside the gateway, in any
// language) connect to.
type GRPC struct {
	Enabled bool // "enabled", default false: the server runs only when true
	// ServerHost is our "serverHost", default "" (every interface, as the Python gateway listens): the address
	// the server listens on, e.g. "127.0.0.1" to accept local clients only.
	ServerHost                   string
	ServerPort                   int  // "serverPort", default 9595; 0 lets the system choose a free port
	KeepAliveTimeMs              int  // "keepAliveTimeMs", default 10001
	KeepAliveTimeoutMs           int  // "keepAliveTimeoutMs", default 5000
	KeepAlivePermitWithoutCalls  bool // "keepAlivePermitWithoutCalls", default true
	MaxPingsWithoutData          int  // "maxPingsWithoutData", default 0 (read; the Go server has no such limit)
	MinTimeBetweenPingsMs        int  // "minTimeBetweenPingsMs", default 10000 (read; the Go server has no such limit)
	MinPingIntervalWithoutDataMs int  // "minPingIntervalWithoutDataMs", default 5000
}

// Connector is one "connectors" entry with its configuration file read.
type Connector struct {
	Type          string // "type", required: the connector package that handles it (mqtt, modbus, ...)
	Name          string // "name", required, unique
	Configuration string // "configuration", required: the file name as written
	Class         string // "class": Python connector class; selects the built-in type declaring it (runtime), else an error
	Key           string // "key": gRPC connector key
	UseGRPCForce  bool   // "useGRPCForce"
	// File is the configuration file's path, resolved against the main file's folder.
	File string
	// Raw is the configuration file's content: a JSON object, syntax-checked, otherwise undecoded; nil when Err
	// is set.
	Raw json.RawMessage
	// Err is why the configuration file could not be used (missing, unreadable, not JSON, not an object), naming
	// the file; nil otherwise. Such a connector fails alone: Load still returns the Config.
	Err error
}

// Gateway is our own top-level "gateway" section.
type Gateway struct {
	// DataFolderPath is "dataFolderPath": where our own state files live (dead-letter file, ...). Default: the
	// main file's folder, as the Python gateway keeps its state files there; a relative path is resolved against
	// that folder by Load.
	DataFolderPath string
	// RebootCommand is "rebootCommand": the command gateway_reboot runs (a list of program and arguments, or a
	// string split into words; never run by a shell). Empty (the default): gateway_reboot answers that it is
	// not enabled. Remote configuration cannot set it (it never replaces this section).
	RebootCommand []string
	// AllowedRemoteFolders is "allowedRemoteFolders": folders, besides the config folder and DataFolderPath,
	// where a change from ThingsBoard (remote configuration) may place files, such as a storage folder. Empty
	// (the default): only those two. Relative paths are resolved against the main file's folder by Load. Remote
	// configuration cannot set it (it never replaces this section).
	AllowedRemoteFolders []string
}

// defaults returns a Config holding every code default; decoding overwrites the keys present.
func defaults() Config {
	return Config{
		Thingsboard: Thingsboard{
			Port: 1883,
			QoS:  1,
			Security: Security{
				CheckCertPeriod:     86400,
				CertificateDaysLeft: 3,
			},
			Statistics: Statistics{
				Enable:                         true,
				StatsSendPeriodInSeconds:       60,
				CustomStatsSendPeriodInSeconds: 300,
			},
			DeviceFiltering:                       DeviceFiltering{FilterFile: "list.json"},
			MaxPayloadSizeBytes:                   8196,
			MinPackSendDelayMS:                    50,
			MinPackSizeToSend:                     500,
			CheckConnectorsConfigurationInSeconds: 60,
			HandleDeviceRenaming:                  true,
			ReportStrategy: ReportStrategy{
				Type:           ReportOnReceived,
				ReportPeriodMS: 10000,
				TTLSeconds:     86400,
			},
			CheckingDeviceActivity: CheckingDeviceActivity{
				InactivityTimeoutSeconds:     50,
				InactivityCheckPeriodSeconds: 1,
			},
			RateLimits:                             "DEFAULT_TELEMETRY_RATE_LIMIT",
			DPRateLimits:                           "DEFAULT_TELEMETRY_DP_RATE_LIMIT",
			MessagesRateLimits:                     "DEFAULT_MESSAGES_RATE_LIMIT",
			DeviceRateLimits:                       "DEFAULT_TELEMETRY_RATE_LIMIT",
			DeviceDPRateLimits:                     "DEFAULT_TELEMETRY_DP_RATE_LIMIT",
			DeviceMessagesRateLimits:               "DEFAULT_MESSAGES_RATE_LIMIT",
			DefaultRateLimitPercentage:             80,
			SyncDevicesSharedAttributesOnConnect:   true,
			KeepAlive:                              120,
			ReportStrategyDataCacheCleanupInterval: 3600,
			ReconnectMinDelaySeconds:               1,
			ReconnectMaxDelaySeconds:               120,
			MaxInflightMessages:                    100,
			DeadLetterFile:                         "dead_letter.jsonl",
		},
		Storage: Storage{
			Type:                    StorageMemory,
			MaxRecordsCount:         10000,
			ReadRecordsCount:        1000,
			DataFolderPath:          "./",
			MaxFileCount:            5,
			MaxRecordsPerFile:       3,
			MaxRecordsBetweenFsync:  1,
			MaxReadRecordsCount:     1000,
			DataFilePath:            "./",
			MessagesTTLCheckInHours: 1,
			MessagesTTLInDays:       7,
			WritingBatchSize:        1000,
			SizeLimitMB:             1024,
			MaxDBAmount:             10,
			OversizeCheckPeriodMin:  1,
			FullPolicy:              FullPolicyRefuseNew,
		},
		WebUI: WebUI{Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultWebUIPort))},
		GRPC: GRPC{
			ServerPort:                   9595,
			KeepAliveTimeMs:              10001,
			KeepAliveTimeoutMs:           5000,
			KeepAlivePermitWithoutCalls:  true,
			MinTimeBetweenPingsMs:        10000,
			MinPingIntervalWithoutDataMs: 5000,
		},
	}
}
