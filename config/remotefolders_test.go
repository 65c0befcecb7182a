package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAllowedRemoteFolders: gateway.allowedRemoteFolders is a list of folders, relative ones resolved against the
// main file's folder; an item that is not a string is an error naming the key.
func TestAllowedRemoteFolders(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"}},
		"gateway": {"allowedRemoteFolders": ["/mnt/usb", "spool"]}}`})
	cfg, warns, err := Load(dir, nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("%v %v", err, warns)
	}
	if want := []string{"/mnt/usb", filepath.Join(dir, "spool")}; !slices.Equal(cfg.Gateway.AllowedRemoteFolders, want) {
		t.Errorf("allowedRemoteFolders = %q, want %q", cfg.Gateway.AllowedRemoteFolders, want)
	}
	dir = writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"}},
		"gateway": {"allowedRemoteFolders": [1]}}`})
	if _, _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "gateway.allowedRemoteFolders[0]") {
		t.Errorf("a number in allowedRemoteFolders: %v, want an error naming gateway.allowedRemoteFolders[0]", err)
	}
}
