package opcua

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// DefaultApplicationURI is the client's application URI when server.uri is not set.
const DefaultApplicationURI = "urn:tbgateway:opcua:client"

// clientCert is the application instance certificate: from the identity's files, or generated once per
// connector (kept across reconnects so the server's trust list sees one certificate).
type clientCert struct {
	once sync.Once
	der  []byte
	key  *rsa.PrivateKey
	err  error
}

// dial connects a new client with the configured policy, mode and identity; AutoReconnect is off because the
// connector owns reconnects.
func (c *Connector) dial(ctx context.Context) (*opcua.Client, error) {
	srv := &c.cfg.Server
	timeout := ms(srv.TimeoutInMillis)
	policy := securityPolicies[strings.ToLower(srv.Security)]
	mode := ua.MessageSecurityModeFromString(srv.Identity.Mode)
	if policy == "None" {
		mode = ua.MessageSecurityModeNone
	} else if mode == ua.MessageSecurityModeNone || mode == ua.MessageSecurityModeInvalid {
		mode = ua.MessageSecurityModeSignAndEncrypt
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	eps, err := opcua.GetEndpoints(dctx, srv.URL, opcua.DialTimeout(timeout), opcua.RequestTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("get endpoints of %s: %w", srv.URL, err)
	}
	ep, err := opcua.SelectEndpoint(eps, policy, mode)
	if err != nil && policy != "None" && !isCertType(srv.Identity.Type) {
		// The Python gateway applies server.security only to a certificate identity: an anonymous or username
		// identity always connected without channel security there. Such a config keeps working against a
		// server that lacks the policy, with a warning; a certificate identity never falls back.
		if plain, perr := opcua.SelectEndpoint(eps, "None", ua.MessageSecurityModeNone); perr == nil {
			if !c.plainChannelLogged.Swap(true) {
				c.log.Warn("server offers no endpoint with the configured security; connecting without channel security, as the Python gateway does for this identity (set server.identity.type cert.PEM to require it)",
					"server", srv.URL, "security", policy, "mode", mode.String(), "identity", srv.Identity.Type)
			}
			ep, err, policy, mode = plain, nil, "None", ua.MessageSecurityModeNone
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s offers no endpoint with security %s/%s: %w", srv.URL, policy, mode, err)
	}
	uri := srv.URI
	if uri == "" {
		uri = DefaultApplicationURI
	}
	opts := []opcua.Option{
		opcua.AutoReconnect(false),
		opcua.ApplicationURI(uri),
		opcua.ApplicationName("tbgateway"),
		opcua.SecurityPolicy(policy),
		opcua.SecurityMode(mode),
		opcua.SessionTimeout(ms(srv.SessionTimeoutInMillis)),
		opcua.RequestTimeout(timeout),
		opcua.DialTimeout(timeout),
	}
	certFile, keyFile := firstOf(srv.Identity.Cert, srv.Identity.PathToClientCt), firstOf(srv.Identity.PrivateKey, srv.Identity.PathToPrivKey)
	var der []byte
	var key *rsa.PrivateKey
	if policy != "None" || certFile != "" || isCertType(srv.Identity.Type) {
		if der, key, err = c.certificate(uri, certFile, keyFile); err != nil {
			return nil, &fatalError{err: err}
		}
		opts = append(opts, opcua.Certificate(der), opcua.PrivateKey(key))
	}
	ident := c.chooseIdentity(ep, der, key)
	opts = append(opts, ident.opts...)
	opts = append(opts, opcua.SecurityFromEndpoint(ep, ident.token))
	if ca := firstOf(srv.Identity.CACert, srv.Identity.PathToCACert); ca != "" {
		b, err := readCert(ca)
		if err != nil {
			return nil, &fatalError{err: fmt.Errorf("server.identity.caCert: %w", err)}
		}
		opts = append(opts, opcua.RemoteCertificate(b))
	}
	cl, err := opcua.NewClient(srv.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", srv.URL, err)
	}
	if err := cl.Connect(dctx); err != nil {
		_ = cl.Close(context.Background())
		if identityRefused(err) {
			return nil, fmt.Errorf("opc-ua connector %s: server %s refused the %s: %w", c.name, srv.URL, ident.describe, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", srv.URL, err)
	}
	return cl, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// certificate returns the configured certificate and key, or a generated self-signed one for uri.
func (c *Connector) certificate(uri, certFile, keyFile string) ([]byte, *rsa.PrivateKey, error) {
	c.cert.once.Do(func() {
		if certFile != "" || keyFile != "" {
			c.cert.der, c.cert.key, c.cert.err = loadKeyPair(certFile, keyFile)
			return
		}
		c.cert.der, c.cert.key, c.cert.err = generateCert(uri)
	})
	return c.cert.der, c.cert.key, c.cert.err
}

func loadKeyPair(certFile, keyFile string) ([]byte, *rsa.PrivateKey, error) {
	if certFile == "" || keyFile == "" {
		return nil, nil, fmt.Errorf("server.identity: cert and privateKey must both be set")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("server.identity.cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("server.identity.privateKey: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("server.identity: %s and %s: %w", certFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("server.identity.privateKey: %s is not an RSA key", keyFile)
	}
	return pair.Certificate[0], key, nil
}

// readCert reads a PEM or DER certificate file and returns its DER bytes.
func readCert(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes, nil
	}
	return b, nil
}

// generateCert makes the self-signed RSA 2048 application certificate OPC-UA servers expect: URI SAN equal to
// the application URI, digital-signature/key/data-encipherment usages, client and server auth.
func generateCert(uri string) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate client key: %w", err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("server.uri %q: %w", uri, err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "tbgateway", Organization: []string{"tbgateway"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create client certificate: %w", err)
	}
	return der, key, nil
}
