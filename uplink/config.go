package uplink

import (
	"errors"
	"fmt"
	"time"
)

// Security type names, as the Python gateway's "thingsboard.security.type" spells them.
const (
	SecurityAccessToken      = "accessToken"
	SecurityUsernamePassword = "usernamePassword"
	SecurityTLSAccessToken   = "tlsAccessToken"
	SecurityTLSPrivateKey    = "tlsPrivateKey"
)

// Security says how the gateway authenticates to ThingsBoard, and whether over TLS (see Config.UsesTLS).
//
//   - accessToken: the token is the MQTT username.
//   - usernamePassword: MQTT basic credentials (ClientID, Username, Password).
//   - tlsAccessToken: the token as username, over TLS.
//   - tlsPrivateKey: X.509 client certificate (Cert, PrivateKey) over TLS.
//
// Over TLS the server's certificate is always verified, against CACert or else the system roots; there is never
// a plaintext fallback.
type Security struct {
	Type        string
	AccessToken string
	ClientID    string
	Username    string
	Password    string
	// CACert, Cert and PrivateKey are PEM file paths. A CACert turns TLS on, whatever the type; a Cert is
	// presented to the server whenever TLS is on.
	CACert     string
	Cert       string
	PrivateKey string
	// TLS is the config key "tls": true turns TLS on with any type; false never turns it off.
	TLS bool
	// Insecure skips only the host name check: the server's certificate chain is still verified against CACert
	// (or the system roots), so an unknown, expired or self-signed certificate is still refused. Use it when the
	// server's certificate does not name the host the gateway dials (an IP address, an internal name).
	Insecure bool
}

// Config is the uplink's configuration. Zero values take the documented defaults (see Validate).
type Config struct {
	Host     string
	Port     int
	Security Security
	// ProxyHost and ProxyPort, when ProxyHost is set, route the connection through that HTTP proxy with CONNECT
	// (thingsboard.proxy_host / proxy_port); ProxyPort 0 means 8080. TLS, when on, runs inside the tunnel.
	ProxyHost string
	ProxyPort int
	// KeepAlive is the MQTT keepalive; default 120s.
	KeepAlive time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff (see reconnectPolicy); defaults 1s and 120s.
	// They are the config keys thingsboard.reconnectMinDelaySeconds and reconnectMaxDelaySeconds.
	ReconnectMin, ReconnectMax time.Duration
	// MaxInflight is the number of unacknowledged QoS 1 publishes allowed at once; default 100. It is lowered to
	// the server's CONNACK ReceiveMaximum and to getSessionLimits' maxInflightMessages.
	MaxInflight int
	// MaxPayloadSize bounds a packed message's MQTT packet; default 65536. It is lowered to getSessionLimits'
	// maxPayloadSize and to the CONNACK MaximumPacketSize.
	MaxPayloadSize int
	// RateLimits, DPRateLimits and MessagesRateLimits are the gateway device's own limits ("cap:sec,..."):
	// telemetry messages, telemetry datapoints and all messages. Empty means: use what the server reports.
	RateLimits, DPRateLimits, MessagesRateLimits string
	// DeviceRateLimits, DeviceDPRateLimits and DeviceMessagesRateLimits are the same limits for each device
	// behind the gateway. Empty means: use the server's gatewayRateLimits.
	DeviceRateLimits, DeviceDPRateLimits, DeviceMessagesRateLimits string
	// DeadLetterPath is the JSON-lines file that receives records ThingsBoard rejects as malformed. Empty means
	// they are only logged and counted.
	DeadLetterPath string
	// BatchMax is the most records taken from storage per Next; default 1000.
	BatchMax int
	// LiveFirst sends telemetry produced since the connect beside the stored backlog instead of behind it, when
	// the storage implements tbgateway.LiveReader (otherwise it has no effect): the dispatcher reads both lanes
	// and, when both have records ready, takes a batch from each in turn, live first.
	LiveFirst bool
	// AckTimeout is how long a publish may wait for its PUBACK before the link is considered broken and
	// reconnected; default 30s.
	AckTimeout time.Duration
	// RequestTimeout bounds attribute requests; default 20s (as the Python gateway).
	RequestTimeout time.Duration
	// DownlinkWorkers is the number of goroutines that run Downlink calls; default 16. The shared-attribute
	// updates of devices run apart, one at a time in the order received.
	DownlinkWorkers int
	// LatencyMetadata (thingsboard.latencyDebugMode) adds to each telemetry entry the metadata the Python gateway
	// sends in its latency debug mode, {"connector", "receivedTs", "publishedTs"} (ms), which ThingsBoard strips
	// and aggregates per connector into the gateway's gatewayMetrics telemetry. Only records that name their
	// connector and reception time (Record.Connector, Record.ReceivedTS) carry it.
	LatencyMetadata bool
}

// Default values applied by Validate.
const (
	DefaultPort            = 1883
	DefaultKeepAlive       = 120 * time.Second
	DefaultReconnectMin    = time.Second
	DefaultReconnectMax    = 120 * time.Second
	DefaultMaxInflight     = 100
	DefaultMaxPayloadSize  = 65536
	DefaultBatchMax        = 1000
	DefaultAckTimeout      = 30 * time.Second
	DefaultRequestTimeout  = 20 * time.Second
	DefaultDownlinkWorkers = 16
)

// Validate fills defaults and checks the configuration without any I/O (certificate files are read at connect).
func (c *Config) Validate() error {
	if c.Host == "" {
		return errors.New("uplink: thingsboard host is empty")
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("uplink: thingsboard port %d out of range", c.Port)
	}
	if c.ProxyPort < 0 || c.ProxyPort > 65535 {
		return fmt.Errorf("uplink: proxy port %d out of range", c.ProxyPort)
	}
	s := &c.Security
	switch s.Type {
	case "":
		s.Type = SecurityAccessToken
		fallthrough
	case SecurityAccessToken, SecurityTLSAccessToken:
		if s.AccessToken == "" {
			return fmt.Errorf("uplink: security type %s needs an accessToken", s.Type)
		}
	case SecurityUsernamePassword:
		if s.ClientID == "" && s.Username == "" {
			return errors.New("uplink: security type usernamePassword needs a clientId or a username")
		}
	case SecurityTLSPrivateKey:
		if s.Cert == "" || s.PrivateKey == "" {
			return errors.New("uplink: security type tlsPrivateKey needs cert and privateKey files")
		}
	default:
		return fmt.Errorf("uplink: unknown security type %q", s.Type)
	}
	defDur(&c.KeepAlive, DefaultKeepAlive)
	defDur(&c.ReconnectMin, DefaultReconnectMin)
	defDur(&c.ReconnectMax, DefaultReconnectMax)
	defDur(&c.AckTimeout, DefaultAckTimeout)
	defDur(&c.RequestTimeout, DefaultRequestTimeout)
	if c.KeepAlive < 0 || c.KeepAlive > 65535*time.Second {
		return fmt.Errorf("uplink: keepalive %v out of range", c.KeepAlive)
	}
	if c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("uplink: reconnect delays min %v max %v are inconsistent", c.ReconnectMin, c.ReconnectMax)
	}
	if c.AckTimeout < 0 || c.RequestTimeout < 0 {
		return errors.New("uplink: negative timeout")
	}
	defInt(&c.MaxInflight, DefaultMaxInflight)
	defInt(&c.MaxPayloadSize, DefaultMaxPayloadSize)
	defInt(&c.BatchMax, DefaultBatchMax)
	defInt(&c.DownlinkWorkers, DefaultDownlinkWorkers)
	if c.MaxInflight < 1 || c.MaxInflight > 65535 {
		return fmt.Errorf("uplink: maxInflight %d out of range 1..65535", c.MaxInflight)
	}
	if c.MaxPayloadSize < minPacketSize {
		return fmt.Errorf("uplink: maxPayloadSize %d below %d", c.MaxPayloadSize, minPacketSize)
	}
	if c.BatchMax < 1 || c.DownlinkWorkers < 1 {
		return errors.New("uplink: batchMax and downlink workers must be positive")
	}
	for name, v := range map[string]string{
		"rateLimits": c.RateLimits, "dpRateLimits": c.DPRateLimits, "messagesRateLimits": c.MessagesRateLimits,
		"deviceRateLimits": c.DeviceRateLimits, "deviceDpRateLimits": c.DeviceDPRateLimits,
		"deviceMessagesRateLimits": c.DeviceMessagesRateLimits,
	} {
		if _, err := ParseRateLimits(v); err != nil {
			return fmt.Errorf("uplink: %s: %w", name, err)
		}
	}
	return nil
}

// minPacketSize is the smallest packet limit the uplink accepts: below it not even one datapoint of a
// reasonable size fits.
const minPacketSize = 512

func defDur(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func defInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}
