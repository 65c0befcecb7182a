package opcua

import (
	"context"
	"testing"

	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

// TestSecurityPolicies connects with every security policy the Python connector names besides Basic256Sha256 (see
// TestSecureUsername), in both Sign and SignAndEncrypt, to a peer that offers exactly those endpoints, no
// unsecured session and no anonymous user. The identity is cert.PEM, so each combination also signs the X.509
// user identity token with its policy's algorithm. Each connection reads the corpus values, and the server
// reports the session on the channel policy and mode of the configuration, with the X.509 user token.
func TestSecurityPolicies(t *testing.T) {
	policies := []string{"Basic128Rsa15", "Basic256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"}
	modes := []string{"Sign", "SignAndEncrypt"}
	certFile, keyFile := writeKeyPair(t, t.TempDir(), "user", "urn:tbgateway:test:policies")
	p := startPeerWith(t, "nodemap.json", &opcuapeer.Security{Policies: policies, Modes: modes, TrustedUserCerts: []string{certFile}})
	ctx := testContext(t)
	for _, policy := range policies {
		for _, mode := range modes {
			t.Run(policy+"/"+mode, func(t *testing.T) {
				cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_absolute_path.json", p.URL)
				cfg.Server.Security = policy
				cfg.Server.URI = "urn:tbgateway:test:policies"
				cfg.Server.Identity = IdentityConfig{Type: "cert.PEM", Cert: certFile, PrivateKey: keyFile, Mode: mode}
				n := p.SessionCount()
				dialOnce(t, ctx, cfg)
				s, err := p.WaitSession(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if s.Policy != policy || s.Mode != mode || s.User != "X509IdentityToken" {
					t.Errorf("the server saw the session on %s/%s with %s, want %s/%s with X509IdentityToken", s.Policy, s.Mode, s.User, policy, mode)
				}
				sink := newSink()
				runConnector(t, ctx, cfg, sink)
				waitValues(t, ctx, sink, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_paths_finding_methods_values.json"))
			})
		}
	}
}

// dialOnce opens and closes one session with cfg, so that a refused connection fails the test at once with the
// server's reason (the running connector would retry until the test's deadline).
func dialOnce(t *testing.T, ctx context.Context, cfg *Config) {
	t.Helper()
	c, err := New("OPC-UA", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.dial(ctx)
	if err != nil {
		t.Fatalf("connect with security %s, mode %s, identity %s: %v", cfg.Server.Security, cfg.Server.Identity.Mode, cfg.Server.Identity.Type, err)
	}
	_ = cl.Close(ctx)
}
