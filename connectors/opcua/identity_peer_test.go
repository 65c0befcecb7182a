package opcua

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

// writeKeyPair generates a client certificate for uri and writes it and its key as PEM files into dir.
func writeKeyPair(t *testing.T, dir, name, uri string) (certFile, keyFile string) {
	t.Helper()
	der, key, err := generateCert(uri)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestX509UserIdentity: identity type cert.PEM sends the certificate as the X.509 user identity token. The peer
// offers no anonymous login and trusts one user certificate: with it the connector reads the corpus values (over
// an encrypted channel and over an unsecured one), with another certificate the session is refused with an error
// naming the connector, the server and the certificate.
func TestX509UserIdentity(t *testing.T) {
	dir := t.TempDir()
	trustedCert, trustedKey := writeKeyPair(t, dir, "trusted", "urn:tbgateway:test:trusted-user")
	strangerCert, strangerKey := writeKeyPair(t, dir, "stranger", "urn:tbgateway:test:stranger")
	p := startPeerWith(t, "nodemap.json", &opcuapeer.Security{
		Policies: []string{"Basic256Sha256"}, Modes: []string{"None", "SignAndEncrypt"},
		AllowAnonymous: false, TrustedUserCerts: []string{trustedCert},
	})
	ctx := testContext(t)
	config := func(security, certFile, keyFile, uri string) *Config {
		cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_identifier.json", p.URL)
		cfg.Server.Security = security
		cfg.Server.URI = uri
		cfg.Server.Identity = IdentityConfig{Type: "cert.PEM", Cert: certFile, PrivateKey: keyFile, Mode: "SignAndEncrypt"}
		return cfg
	}
	for _, security := range []string{"Basic256Sha256", "None"} {
		t.Run("trusted over "+security, func(t *testing.T) {
			uri := "urn:tbgateway:test:trusted-user"
			cfg := config(security, trustedCert, trustedKey, uri)
			n := p.SessionCount()
			dialOnce(t, ctx, cfg)
			s, err := p.WaitSession(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if s.Policy != security || s.User != "X509IdentityToken" {
				t.Errorf("the server saw the session over %s with %s, want %s with X509IdentityToken", s.Policy, s.User, security)
			}
			sink := newSink()
			runConnector(t, ctx, cfg, sink)
			waitValues(t, ctx, sink, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_identifier_finding_methods_values.json"))
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		c, err := New("opcua-x509", config("Basic256Sha256", strangerCert, strangerKey, "urn:tbgateway:test:stranger"), testLogger())
		if err != nil {
			t.Fatal(err)
		}
		cl, err := c.dial(ctx)
		if err == nil {
			_ = cl.Close(ctx)
			t.Fatal("a user certificate the server does not trust opened a session")
		}
		for _, want := range []string{"opcua-x509", p.URL, "X.509 user certificate", strangerCert, "server.identity.cert", "BadIdentityTokenRejected"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not name %q", err, want)
			}
		}
	})
}
