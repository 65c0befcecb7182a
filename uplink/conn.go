package uplink

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

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"
	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for systems without any (a scratch container)
)

// UsesTLS reports whether the link to ThingsBoard is TLS. The Python gateway's rule decides: security "tls" true,
// a caCert (with any security type, usernamePassword included) or port 8883; a tls* type does too (the Python
// gateway dials plain TCP for a tls* type without caCert, never what its user meant). "tls": false never turns
// TLS off. Call it on a validated Config (the port's default filled in).
func (c *Config) UsesTLS() bool {
	s := c.Security
	return s.TLS || s.CACert != "" || c.Port == 8883 || s.Type == SecurityTLSAccessToken || s.Type == SecurityTLSPrivateKey
}

// dial opens the connection to ThingsBoard: TLS if useTLS, else TCP; through the HTTP proxy when one is
// configured (see dialTCP). There is never a plaintext fallback.
func dial(ctx context.Context, cfg *Config, useTLS bool) (net.Conn, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if useTLS {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		raw, err := dialTCP(ctx, cfg, addr)
		if err != nil {
			return nil, fmt.Errorf("tls dial %s: %w", addr, err)
		}
		conn := tls.Client(raw, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls dial %s: %w", addr, err)
		}
		return conn, nil
	}
	conn, err := dialTCP(ctx, cfg, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// tlsConfig builds the client TLS configuration. The server's chain is always verified: against CACert when
// given, else the system roots (else the fallback bundle linked in, for systems without roots). Insecure skips
// the host name check only. A client certificate is presented whenever Cert is set (as the Python gateway
// does, whatever the security type); its key is PrivateKey, or Cert itself when PrivateKey is empty.
func tlsConfig(cfg *Config) (*tls.Config, error) {
	s := cfg.Security
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate %s: %w", s.CACert, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", s.CACert)
		}
		tc.RootCAs = roots
	}
	if s.Cert != "" {
		key := s.PrivateKey
		if key == "" {
			key = s.Cert
		}
		pair, err := tls.LoadX509KeyPair(s.Cert, key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s / key %s: %w", s.Cert, key, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if s.Insecure {
		// The standard check is off only so that the chain can be verified here without the host name.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			if err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			return nil
		}
	}
	return tc, nil
}

// batchConn makes paho's packet writes thread-safe and sends each packet with one write: paho locks the
// connection (sync.Locker) around writing the pieces of a packet; the pieces are gathered and written at Unlock.
// Every paho write goes through ControlPacket.WriteTo, which holds the lock.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
	err error
}

func (c *batchConn) Lock() { c.mu.Lock() }

func (c *batchConn) Unlock() {
	if len(c.buf) > 0 && c.err == nil {
		if _, err := c.Conn.Write(c.buf); err != nil {
			c.err = err
			_ = c.Conn.Close() // the reader then fails and the client shuts down
		}
	}
	if cap(c.buf) > 256<<10 {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	c.mu.Unlock()
}

func (c *batchConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// tracked is a published message awaiting its PUBACK.
type tracked struct {
	msg    *outMsg
	sentAt time.Time
}

// trackingSession wraps paho's session state so the uplink can publish asynchronously (the write happens in the
// caller, in order) and still learn each message's PUBACK: a publish whose payload is the one announced with
// expect is added to the session with the shared acks channel instead of paho's private one, and registered by
// packet id. Other publishes (own telemetry, requests, replies) pass through untouched.
type trackingSession struct {
	session.SessionManager
	acks chan packets.ControlPacket

	mu   sync.Mutex
	next *tracked
	byID map[uint16][]*tracked
}

func newTrackingSession(inner session.SessionManager, window int) *trackingSession {
	return &trackingSession{SessionManager: inner, acks: make(chan packets.ControlPacket, window+1), byID: map[uint16][]*tracked{}}
}

// expect announces the next tracked publish (the caller serialises tracked publishes).
func (s *trackingSession) expect(t *tracked) {
	s.mu.Lock()
	s.next = t
	s.mu.Unlock()
}

func (s *trackingSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	pub, ok := p.(*packets.Publish)
	s.mu.Lock()
	t := s.next
	if ok && t != nil && len(pub.Payload) > 0 && &pub.Payload[0] == &t.msg.payload[0] {
		s.next = nil
	} else {
		t = nil
	}
	s.mu.Unlock()
	if t == nil {
		return s.SessionManager.AddToSession(ctx, p, resp)
	}
	if err := s.SessionManager.AddToSession(ctx, p, s.acks); err != nil {
		return err
	}
	// Registered before paho writes the packet, hence before its PUBACK can arrive. Ids are reused only after
	// their PUBACK was queued on acks, so a FIFO per id pairs every PUBACK with its message.
	s.mu.Lock()
	s.byID[pub.PacketID] = append(s.byID[pub.PacketID], t)
	s.mu.Unlock()
	return nil
}

// resolve returns the message a PUBACK belongs to.
func (s *trackingSession) resolve(id uint16) *tracked {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.byID[id]
	if len(q) == 0 {
		return nil
	}
	t := q[0]
	if len(q) == 1 {
		delete(s.byID, id)
	} else {
		s.byID[id] = q[1:]
	}
	return t
}

// pending returns the number of tracked messages awaiting their PUBACK.
func (s *trackingSession) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.byID {
		n += len(q)
	}
	return n
}

// inflightSeqs returns the records of every message still awaiting its PUBACK.
func (s *trackingSession) inflightSeqs() map[uint64]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint64]struct{}{}
	for _, q := range s.byID {
		for _, t := range q {
			for _, seq := range t.msg.seqs {
				out[seq] = struct{}{}
			}
		}
	}
	return out
}

// oldest returns the send time of the longest-waiting tracked message (zero if none).
func (s *trackingSession) oldest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o time.Time
	for _, q := range s.byID {
		for _, t := range q {
			if o.IsZero() || t.sentAt.Before(o) {
				o = t.sentAt
			}
		}
	}
	return o
}
