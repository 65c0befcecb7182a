package mqtt

import (
	"strings"
	"testing"
)

// TestDecodeOldSecurity: broker.security in the old shape (no type, or type "tls", with caCert, privateKey,
// cert) turns TLS on with those files, as the Python gateway does; other shapes keep their meaning.
func TestDecodeOldSecurity(t *testing.T) {
	for _, tc := range []struct {
		name, security string
		want           SecurityConfig
		err            string
	}{
		{"old all three", `{"caCert": "ca.pem", "privateKey": "k.pem", "cert": "c.pem"}`,
			SecurityConfig{Type: "certificates", CACert: "ca.pem", PrivateKey: "k.pem", ClientCert: "c.pem"}, ""},
		{"old CA only", `{"caCert": "ca.pem"}`, SecurityConfig{Type: "certificates", CACert: "ca.pem"}, ""},
		{"old insecure", `{"caCert": "ca.pem", "insecure": true}`,
			SecurityConfig{Type: "certificates", CACert: "ca.pem", Insecure: true}, ""},
		{"type tls", `{"type": "tls", "caCert": "ca.pem"}`, SecurityConfig{Type: "certificates", CACert: "ca.pem"}, ""},
		{"old cert without key", `{"caCert": "ca.pem", "cert": "c.pem"}`, SecurityConfig{},
			"broker.security.cert: cert and privateKey go together"},
		{"new shape", `{"type": "certificates", "pathToCACert": "ca.pem"}`,
			SecurityConfig{Type: "certificates", CACert: "ca.pem"}, ""},
		{"basic", `{"type": "basic", "username": "u"}`, SecurityConfig{Type: "basic", Username: "u"}, ""},
		{"empty", `{}`, SecurityConfig{Type: "anonymous"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Decode([]byte(`{"broker": {"host": "h", "security": ` + tc.security + `}}`))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Broker.Security != tc.want {
				t.Errorf("security %+v, want %+v", cfg.Broker.Security, tc.want)
			}
		})
	}
}
