package runtime

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tbgateway/tbgateway/config"
)

// TestUplinkConfigTLS: the "thingsboard" section's TLS keys reach the uplink, which decides by the Python
// gateway's rule (tls true, a caCert with any type, port 8883).
func TestUplinkConfigTLS(t *testing.T) {
	for _, tc := range []struct {
		name, security string
		port           int
		want           bool
	}{
		{"accessToken", `{"type": "accessToken", "accessToken": "t"}`, 1883, false},
		{"tls true", `{"type": "accessToken", "accessToken": "t", "tls": true}`, 1883, true},
		{"tls false", `{"type": "accessToken", "accessToken": "t", "tls": false}`, 1883, false},
		{"usernamePassword caCert", `{"type": "usernamePassword", "username": "u", "password": "p", "caCert": "ca.pem"}`, 1883, true},
		{"port 8883", `{"type": "accessToken", "accessToken": "t"}`, 8883, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := `{"thingsboard": {"host": "tb.example", "port": ` + strconv.Itoa(tc.port) + `, "security": ` + tc.security + `}}`
			if err := os.WriteFile(filepath.Join(dir, "tb_gateway.json"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := config.Load(dir, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			uc := uplinkConfig(cfg)
			if err := uc.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := uc.UsesTLS(); got != tc.want {
				t.Fatalf("UsesTLS() = %v, want %v (security %+v)", got, tc.want, uc.Security)
			}
		})
	}
}
