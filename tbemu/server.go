// Package tbemu is a ThingsBoard emulator: it speaks ThingsBoard's MQTT
// device and gateway API (MQTT 3.1.1 and 5, plain and TLS) the way
// ThingsBoard's MQTT transport does, stores what it receives in memory, and
// offers a Go API and an HTTP JSON API to inspect it, to act as the server
// side (shared attributes, RPC, rename/delete) and to inject faults. It is not
// a broker: publishes are never forwarded to other clients.
package tbemu

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Options configures a Server. The zero value is usable: MQTT on a free
// loopback port, no TLS, no HTTP, memory only.
type Options struct {
	MQTTAddr        string        // default "127.0.0.1:0"
	TLSAddr         string        // "" = no TLS listener
	TLSConfig       *tls.Config   // server cert for the TLS listener; client certs are requested, not chain-verified
	HTTPAddr        string        // "" = no HTTP API
	StateFile       string        // load on Start if it exists, save on Close; "" = memory only
	MaxValuesPerKey int           // default 100000
	MaxRawLog       int           // default 1000000
	RPCTimeout      time.Duration // default 10s
	MaxPayloadSize  int           // default 65536
	Logger          *slog.Logger  // nil = discard
	// MaxStringValueLength is ThingsBoard's JSON_MAX_STRING_VALUE_LENGTH: a string value longer than this many
	// bytes is a bad value (class C: PUBACK 0x99 under MQTT 5, the connection closed under 3.x); 0 = no limit.
	MaxStringValueLength int
	// ClientRPCTimeout is how long a client-side RPC with no handler waits
	// before it is answered {"error":"timeout"}; default 60s.
	ClientRPCTimeout time.Duration
	// ProvisionCloseDelay is how long after a provisioning response the
	// connection is closed; default 60s.
	ProvisionCloseDelay time.Duration
	// GatewayMetricsInterval is how often the gatewayMetrics telemetry of
	// gateways is written (as ThingsBoard does); default 60s.
	GatewayMetricsInterval time.Duration
	// InactivityTimeout closes sessions and drops gateway sub-sessions idle
	// this long (as in ThingsBoard; MQTT keepalive itself is not enforced, as in
	// ThingsBoard); default 600s.
	InactivityTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.MQTTAddr == "" {
		o.MQTTAddr = "127.0.0.1:0"
	}
	if o.MaxValuesPerKey <= 0 {
		o.MaxValuesPerKey = 100000
	}
	if o.MaxRawLog <= 0 {
		o.MaxRawLog = 1000000
	}
	if o.RPCTimeout <= 0 {
		o.RPCTimeout = 10 * time.Second
	}
	if o.MaxPayloadSize <= 0 {
		o.MaxPayloadSize = 65536
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ClientRPCTimeout <= 0 {
		o.ClientRPCTimeout = 60 * time.Second
	}
	if o.ProvisionCloseDelay <= 0 {
		o.ProvisionCloseDelay = 60 * time.Second
	}
	if o.GatewayMetricsInterval <= 0 {
		o.GatewayMetricsInterval = 60 * time.Second
	}
	if o.InactivityTimeout <= 0 {
		o.InactivityTimeout = 600 * time.Second
	}
}

// DeviceSpec describes a device and its credentials. A device may have an
// access token, MQTT basic credentials (any of ClientID/Username with an
// optional Password) and/or an X.509 certificate (CertPEM).
type DeviceSpec struct {
	Name     string `json:"name"`
	Type     string `json:"type,omitempty"`
	Gateway  bool   `json:"gateway,omitempty"`
	Token    string `json:"token,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	CertPEM  string `json:"certPem,omitempty"`
}

// DeviceState is a snapshot of a device's identity and connectivity.
// Connected is true while the device has a session of its own or a
// sub-session through a gateway.
type DeviceState struct {
	Name           string    `json:"name"`
	Type           string    `json:"type"`
	Gateway        bool      `json:"gateway"`
	Connected      bool      `json:"connected"`
	LastConnect    time.Time `json:"lastConnectTime"`
	LastDisconnect time.Time `json:"lastDisconnectTime"`
	LastActivity   time.Time `json:"lastActivityTime"`
	LastGateway    string    `json:"lastConnectedGateway,omitempty"`
}

// TSValue is one telemetry value. Value is an int64, float64, bool, string,
// or json.RawMessage for JSON values.
type TSValue struct {
	TS    int64 `json:"ts"`
	Value any   `json:"value"`
}

// Scope is an attribute scope.
type Scope string

// The attribute scopes.
const (
	ScopeClient Scope = "client"
	ScopeShared Scope = "shared"
	ScopeServer Scope = "server"
)

// Message is one publish received from a client, as logged in the raw log.
// Device is the name of the session's device (the gateway for gateway
// topics, "" for provisioning sessions); Reason is the PUBACK reason code
// decided for it (sent or not).
type Message struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Device  string    `json:"device"`
	Topic   string    `json:"topic"`
	Payload []byte    `json:"payload"`
	QoS     byte      `json:"qos"`
	Reason  byte      `json:"reason"`
}

// RateLimits are ThingsBoard transport limits in its "cap:seconds,..."
// format; "" means unlimited.
type RateLimits struct {
	Messages            string `json:"messages"`
	TelemetryMessages   string `json:"telemetryMessages"`
	TelemetryDataPoints string `json:"telemetryDataPoints"`
}

// Errors returned by RPC.
var (
	// ErrRPCTimeout means the RPC was sent but no reply came in time.
	ErrRPCTimeout = errors.New("rpc timeout")
	// ErrNoActiveConnection means no session subscribed to RPC took the call in time.
	ErrNoActiveConnection = errors.New("no active connection")
	// ErrNoDevice means the named device does not exist.
	ErrNoDevice = errors.New("device not found")
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	mq   *mqtt.Server
	tcp  *listener
	tlsL *listener
	http *http.Server
	hURL string

	mu          sync.Mutex
	devices     map[string]*device
	tokens      map[string]*device
	basic       map[string]*device
	certs       map[string]*device
	profiles    map[string]string
	sessions    map[*mqtt.Client]*session
	pendingAuth map[*mqtt.Client]*session
	msgs        msgLog
	refuseUntil time.Time
	ackDelay    time.Duration
	withhold    bool
	dropPubs    bool   // DropPublishes
	dropped     uint64 // publishes discarded by DropPublishes
	gwLimits    RateLimits
	devLimits   RateLimits
	sessSeq     uint64
	clientRPC   ClientRPCHandler

	waitMu  sync.Mutex
	changed chan struct{}
	waiters atomic.Int32

	done      chan struct{}
	bgMu      sync.Mutex
	bgClosed  bool
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup
}

// Start starts the listeners and returns a running server. ctx bounds start-up
// only; call Close to stop it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.setDefaults()
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		devices:     map[string]*device{},
		tokens:      map[string]*device{},
		basic:       map[string]*device{},
		certs:       map[string]*device{},
		profiles:    map[string]string{},
		sessions:    map[*mqtt.Client]*session{},
		pendingAuth: map[*mqtt.Client]*session{},
		msgs:        msgLog{max: opts.MaxRawLog},
		changed:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	if opts.StateFile != "" {
		if err := s.loadState(opts.StateFile); err != nil {
			return nil, err
		}
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1
	caps.RetainAvailable = 0
	caps.MaximumSessionExpiryInterval = 0
	// Packets above MaxPayloadSize are refused by our hook with a proper
	// DISCONNECT; mochi's own cap only protects memory beyond that.
	caps.MaximumPacketSize = uint32(max(opts.MaxPayloadSize+1, 16<<20))
	s.mq = mqtt.New(&mqtt.Options{
		Capabilities:            caps,
		Logger:                  slog.New(minLevel{s.log.Handler(), slog.LevelWarn}).With("component", "mochi"),
		SysTopicResendInterval:  math.MaxInt32,
		ClientNetReadBufferSize: 64 << 10,
	})
	if err := s.mq.AddHook(&hook{s: s}, nil); err != nil {
		return nil, fmt.Errorf("add tbemu hook: %w", err)
	}
	var err error
	s.tcp, err = newListener(ctx, "tcp", opts.MQTTAddr, nil, s.log)
	if err != nil {
		return nil, err
	}
	if err := s.mq.AddListener(s.tcp); err != nil {
		s.tcp.closeNet()
		return nil, fmt.Errorf("add mqtt listener: %w", err)
	}
	if opts.TLSAddr != "" {
		if opts.TLSConfig == nil {
			s.tcp.closeNet()
			return nil, errors.New("tls listener needs Options.TLSConfig")
		}
		cfg := opts.TLSConfig.Clone()
		if cfg.ClientAuth == tls.NoClientCert {
			// ThingsBoard checks only the validity dates and the hash of a
			// client certificate, not its chain.
			cfg.ClientAuth = tls.RequestClientCert
		}
		s.tlsL, err = newListener(ctx, "tls", opts.TLSAddr, cfg, s.log)
		if err == nil {
			err = s.mq.AddListener(s.tlsL)
		}
		if err != nil {
			s.tcp.closeNet()
			if s.tlsL != nil {
				s.tlsL.closeNet()
			}
			return nil, fmt.Errorf("tls listener %s: %w", opts.TLSAddr, err)
		}
	}
	if err := s.mq.Serve(); err != nil {
		s.mq.Close()
		return nil, fmt.Errorf("serve mqtt: %w", err)
	}
	s.goBG(s.reportGatewayMetricsLoop)
	s.goBG(s.expireLoop)
	if opts.HTTPAddr != "" {
		if err := s.startHTTP(ctx); err != nil {
			s.mq.Close()
			return nil, err
		}
	}
	s.log.Info("tbemu started", "mqtt", s.MQTTAddr(), "tls", s.TLSAddr(), "http", s.hURL)
	return s, nil
}

// Close stops the listeners, closes every connection, fails pending RPC
// calls and saves the state file if one is configured. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.http.Shutdown(ctx); err != nil {
				s.http.Close()
			}
			cancel()
		}
		s.mu.Lock()
		open := make([]*session, 0, len(s.sessions))
		for _, ss := range s.sessions {
			open = append(open, ss)
		}
		s.mu.Unlock()
		for _, ss := range open {
			s.closeSession(ss, packets.ErrServerShuttingDown.Code)
		}
		s.mq.Close()
		s.bgMu.Lock()
		s.bgClosed = true
		s.bgMu.Unlock()
		s.bg.Wait()
		if s.opts.StateFile != "" {
			s.closeErr = s.saveState(s.opts.StateFile)
		}
		s.notify()
	})
	return s.closeErr
}

// MQTTAddr returns the plain MQTT listener's address ("127.0.0.1:port").
func (s *Server) MQTTAddr() string { return s.tcp.Address() }

// TLSAddr returns the TLS listener's address, or "" without one.
func (s *Server) TLSAddr() string {
	if s.tlsL == nil {
		return ""
	}
	return s.tlsL.Address()
}

// HTTPURL returns the HTTP API's base URL ("http://127.0.0.1:port"), or "".
func (s *Server) HTTPURL() string { return s.hURL }

// WaitFor blocks until cond returns true or ctx ends (returning ctx.Err()).
// cond is re-checked after every state change (a publish handled, a connect,
// a disconnect, ...) and is called without internal locks held, so it may
// call the server's getters.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		s.waitMu.Lock()
		ch := s.changed
		s.waitMu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes WaitFor callers; it is cheap when nobody waits.
func (s *Server) notify() {
	if s.waiters.Load() == 0 {
		return
	}
	s.waitMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.waitMu.Unlock()
}

// after runs f after d unless the server closes first; it is how delayed
// work (delayed PUBACKs, timeouts) is bounded by the server's lifetime.
func (s *Server) after(d time.Duration, f func()) {
	s.goBG(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f()
		case <-s.done:
		}
	})
}

// goBG runs f on a goroutine that Close waits for; after Close it does nothing.
func (s *Server) goBG(f func()) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// marshal encodes v for an outgoing message; the inputs are always encodable.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tbemu: encode %T: %v", v, err))
	}
	return b
}

// minLevel drops records below min; mochi logs routine events at info.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}

func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{m.Handler.WithGroup(g), m.min} }
