package runtime

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/config"
)

// TestCheckSecurityPaths: a pushed certificate or key path must lie in the config folder, the data folder or a
// folder of the local gateway.allowedRemoteFolders, or be the file the running configuration already names.
func TestCheckSecurityPaths(t *testing.T) {
	dir := t.TempDir()
	old := &config.Config{File: filepath.Join(dir, "tb_gateway.json"), Dir: dir,
		Gateway: config.Gateway{DataFolderPath: filepath.Join(dir, "data"), AllowedRemoteFolders: []string{"/srv/certs"}}}
	old.Thingsboard.Security.CACert = "/etc/tb/ca.pem"
	for _, tc := range []struct {
		name, caCert, cert string
		ok                 bool
	}{
		{"config folder, relative", "certs/ca.pem", "", true},
		{"data folder", filepath.Join(dir, "data", "ca.pem"), "", true},
		{"allowed folder", "/srv/certs/ca.pem", "/srv/certs/client.pem", true},
		{"the running file", "/etc/tb/ca.pem", "", true},
		{"elsewhere", "/etc/ssl/private/ca.pem", "", false},
		{"escaping the config folder", "../outside/ca.pem", "", false},
		{"a prefix of an allowed folder is not it", "/srv/certs-evil/ca.pem", "", false},
		{"cert elsewhere", "", "/root/client.pem", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := *old
			next.Thingsboard.Security.CACert, next.Thingsboard.Security.Cert = tc.caCert, tc.cert
			err := checkSecurityPaths(old, &next)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "thingsboard.security.") {
				t.Errorf("err = %v, want the key named", err)
			}
		})
	}
}
