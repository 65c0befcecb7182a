package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// ThingsBoard's provisioning session: the user name that opens it and its two topics.
const (
	provisionUser  = "provision"
	topicRequest   = "/provision/request"
	topicResponse  = "/provision/response"
	statusSuccess  = "SUCCESS"
	statusNotFound = "NOT_FOUND"
	statusFailure  = "FAILURE"
)

// ResponseTimeout bounds the wait for ThingsBoard's reply to one request (the Python gateway's 60 s).
const ResponseTimeout = 60 * time.Second

// Dialer opens a connection to ThingsBoard's MQTT listener (TLS and proxy as the link's).
type Dialer func(ctx context.Context) (net.Conn, error)

// RefusedError is ThingsBoard's refusal of the provisioning request; retrying cannot help.
type RefusedError struct {
	Status  string // NOT_FOUND, FAILURE, or what else ThingsBoard answered
	Message string // ThingsBoard's errorMsg
	Request *Request
}

// Error names the configuration keys (or variables) that decide the outcome.
func (e *RefusedError) Error() string {
	r := e.Request
	head := fmt.Sprintf("ThingsBoard refused to provision the gateway device %q: %s %q", r.DeviceName, e.Status, e.Message)
	switch e.Status {
	case statusNotFound:
		return head + fmt.Sprintf(": the provision key (%s) or secret (%s) is wrong, or provisioning is disabled in the device profile", r.KeyFrom, r.SecretFrom)
	case statusFailure:
		return head + fmt.Sprintf(": a device named %q (%s) already exists or was provisioned before; ThingsBoard provisions a name once: "+
			"delete that device in ThingsBoard, choose another name, or put its credentials in thingsboard.security", r.DeviceName, r.NameFrom)
	}
	return head
}

// Provision provisions the gateway device (p.Source must be FromProvisioning): it connects with dial as
// ThingsBoard's "provision" user, sends p.Request, and on success saves the credentials (p.File, mode 0600; for
// X.509 first cert.pem and key.pem in p.Dir) and returns the security section to connect with. A connection or
// session failure is logged and retried with policy's delays until ctx ends (its error is then returned); a
// refusal is a *RefusedError, and nothing is written.
func (p *Plan) Provision(ctx context.Context, dial Dialer, policy backoff.Policy, log *slog.Logger) (config.Security, error) {
	if p.Source != FromProvisioning {
		return config.Security{}, errors.New("provision: credentials do not come from provisioning")
	}
	req := p.Request
	var pair *keyPair
	if req.Type == TypeX509 {
		var err error
		if pair, err = newKeyPair(); err != nil {
			return config.Security{}, err
		}
	}
	payload, err := req.payload(pair)
	if err != nil {
		return config.Security{}, err
	}
	log.Info("provisioning the gateway device", "device", req.DeviceName, "credentials", req.Type)
	bo := backoff.New(policy)
	for {
		resp, err := exchange(ctx, dial, payload)
		if err == nil {
			if resp.Status != statusSuccess {
				return config.Security{}, &RefusedError{Status: resp.Status, Message: resp.ErrorMsg, Request: req}
			}
			return p.save(resp, pair, log)
		}
		if ctx.Err() != nil {
			return config.Security{}, ctx.Err()
		}
		d := bo.Next()
		log.Warn("provisioning: ThingsBoard not reached, retrying", "error", err, "in", d.Round(time.Millisecond))
		if backoff.Sleep(ctx, d) != nil {
			return config.Security{}, ctx.Err()
		}
	}
}

// save writes the provisioned credentials and returns the security section they make.
func (p *Plan) save(resp *response, pair *keyPair, log *slog.Logger) (config.Security, error) {
	s := &Saved{CredentialsType: resp.CredentialsType, CredentialsValue: resp.CredentialsValue, Status: resp.Status}
	if s.CredentialsType == TypeX509 {
		s.CACert = p.Request.CACert
		if pair == nil {
			return config.Security{}, errors.New("provision: ThingsBoard answered X.509 credentials to a request for " + p.Request.Type)
		}
		if err := writeAtomic(filepath.Join(p.Dir, KeyFile), pair.keyPEM, 0o600); err != nil {
			return config.Security{}, err
		}
		if err := writeAtomic(filepath.Join(p.Dir, CertFile), pair.certPEM, 0o644); err != nil {
			return config.Security{}, err
		}
	}
	if err := s.check(); err != nil {
		return config.Security{}, fmt.Errorf("provision: ThingsBoard's reply: %v", err)
	}
	if err := Save(p.File, s); err != nil {
		return config.Security{}, fmt.Errorf("provision: the gateway device was provisioned but its credentials could not be saved: %w", err)
	}
	log.Info("gateway device provisioned, credentials saved", "device", p.Request.DeviceName,
		"credentials", s.CredentialsType, "file", p.File)
	return s.Security(p.Security), nil
}

// payload is the request as the Python gateway's SDK sends it.
func (r *Request) payload(pair *keyPair) ([]byte, error) {
	m := map[string]any{"provisionDeviceKey": r.Key, "provisionDeviceSecret": r.Secret, "deviceName": r.DeviceName, "gateway": true}
	switch r.Type {
	case TypeAccessToken:
		m["credentialsType"], m["token"] = TypeAccessToken, r.AccessToken
	case TypeBasic:
		m["credentialsType"], m["clientId"], m["username"], m["password"] = TypeBasic, r.ClientID, r.Username, r.Password
	case TypeX509:
		m["credentialsType"], m["hash"] = TypeX509, string(pair.certPEM)
	}
	return json.Marshal(m)
}

// response is ThingsBoard's provisioning reply.
type response struct {
	Status           string          `json:"status"`
	CredentialsType  string          `json:"credentialsType"`
	CredentialsValue json.RawMessage `json:"credentialsValue"`
	ErrorMsg         string          `json:"errorMsg"`
}

// exchange runs one provisioning session and returns ThingsBoard's reply.
func exchange(ctx context.Context, dial Dialer, payload []byte) (*response, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	replies := make(chan []byte, 1)
	cli := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if pr.Packet.Topic == topicResponse {
				select {
				case replies <- pr.Packet.Payload:
				default:
				}
			}
			return true, nil
		}},
		PacketTimeout: ResponseTimeout,
	})
	ctx, cancel := context.WithTimeout(ctx, ResponseTimeout)
	defer cancel()
	ca, err := cli.Connect(ctx, &paho.Connect{Username: provisionUser, UsernameFlag: true, CleanStart: true, KeepAlive: 60})
	if err != nil {
		if ca != nil {
			return nil, fmt.Errorf("provisioning session refused: reason 0x%02x: %w", ca.ReasonCode, err)
		}
		return nil, fmt.Errorf("provisioning session: %w", err)
	}
	defer func() { _ = cli.Disconnect(&paho.Disconnect{}) }()
	if _, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topicResponse, QoS: 1}}}); err != nil {
		return nil, fmt.Errorf("provisioning session: subscribe %s: %w", topicResponse, err)
	}
	if _, err := cli.Publish(ctx, &paho.Publish{Topic: topicRequest, QoS: 1, Payload: payload}); err != nil {
		return nil, fmt.Errorf("provisioning session: publish %s: %w", topicRequest, err)
	}
	select {
	case b := <-replies:
		var r response
		if err := json.Unmarshal(b, &r); err != nil || r.Status == "" {
			return nil, fmt.Errorf("provisioning session: ThingsBoard's reply is not a provisioning response: %.200q", b)
		}
		return &r, nil
	case <-cli.Done():
		return nil, errors.New("provisioning session: ThingsBoard closed the connection before replying")
	case <-ctx.Done():
		return nil, fmt.Errorf("provisioning session: no reply within %v: %w", ResponseTimeout, ctx.Err())
	}
}

// keyPair is the X.509 certificate and key generated for X509_CERTIFICATE provisioning.
type keyPair struct{ certPEM, keyPEM []byte }

// newKeyPair generates what the Python gateway generates: an EC P-256 key and a self-signed certificate for
// "localhost", valid from a day ago for a year.
func newKeyPair() (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provision: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("provision: generate certificate: %w", err)
	}
	now := time.Now()
	name := pkix.Name{CommonName: "localhost"}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: name, Issuer: name,
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("provision: generate certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("provision: encode key: %w", err)
	}
	return &keyPair{certPEM: pemBlock("CERTIFICATE", der), keyPEM: pemBlock("EC PRIVATE KEY", kder)}, nil
}
