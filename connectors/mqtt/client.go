package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// message is one PUBLISH received from the broker. ack sends its acknowledgement (PUBACK for QoS 1); it is
// called only after the message's records were stored, and does nothing once the connection is gone.
type message struct {
	topic   string
	payload []byte
	qos     byte
	ack     func()
}

// subscription is one topic filter subscribed on every (re)connect.
type subscription struct {
	filter string
	qos    byte
}

// brokerConn is one connection to the broker, whichever protocol version it speaks. Its methods are safe for
// concurrent use. Done is closed when the connection is lost or closed.
type brokerConn interface {
	Subscribe(ctx context.Context, subs []subscription) error
	Unsubscribe(ctx context.Context, filters ...string) error
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
	Done() <-chan struct{}
	// Err returns why the connection ended, once Done is closed.
	Err() error
	Close()
}

// dialFunc connects to the broker. onMessage is called for every PUBLISH, in order, from one goroutine of the
// connection; it may block (that is backpressure on the broker).
type dialFunc func(ctx context.Context, b *BrokerConfig, clientID string, tlsCfg *tls.Config, onMessage func(message)) (brokerConn, error)

// dialBroker picks the client library for the configured protocol version.
func dialBroker(ctx context.Context, b *BrokerConfig, clientID string, tlsCfg *tls.Config, onMessage func(message)) (brokerConn, error) {
	if b.Version == 5 {
		return dialV5(ctx, b, clientID, tlsCfg, onMessage)
	}
	return dialV3(ctx, b, clientID, tlsCfg, onMessage)
}

// connectTimeout bounds the TCP, TLS and MQTT handshakes of one connection attempt.
const connectTimeout = 10 * time.Second

// tlsConfig builds the TLS settings of security type "certificates", reading the files named in the config.
// It returns nil for the other types.
func tlsConfig(s *SecurityConfig, host string) (*tls.Config, error) {
	if s.Type != "certificates" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: s.Insecure, MinVersion: tls.VersionTLS12}
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return nil, fmt.Errorf("broker.security.pathToCACert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker.security.pathToCACert: %s holds no PEM certificate", s.CACert)
		}
		cfg.RootCAs = pool
	}
	if s.ClientCert != "" {
		pair, err := tls.LoadX509KeyPair(s.ClientCert, s.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("broker.security.pathToClientCert / pathToPrivateKey: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// dialNet opens the TCP (or TLS) connection for the MQTT 5 client.
func dialNet(ctx context.Context, b *BrokerConfig, tlsCfg *tls.Config) (net.Conn, error) {
	addr := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	d := &net.Dialer{Timeout: connectTimeout}
	if tlsCfg != nil {
		td := &tls.Dialer{NetDialer: d, Config: tlsCfg}
		return td.DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// lossSignal is the Done/Err pair of a connection.
type lossSignal struct {
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func newLossSignal() *lossSignal { return &lossSignal{done: make(chan struct{})} }

func (l *lossSignal) lost(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *lossSignal) Done() <-chan struct{} { return l.done }

func (l *lossSignal) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return errors.New("connection closed")
	}
	return l.err
}
