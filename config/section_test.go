package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWithSectionDecodesAndValidates: a replaced thingsboard section is decoded with the defaults and checked
// like the main file (errors name the file and key); the connectors and the other sections stay; c is untouched.
func TestWithSectionDecodesAndValidates(t *testing.T) {
	cfg, _, err := Load(filepath.Join("testdata", "corpus"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := cfg.WithSection("thingsboard", []byte(`{"host":"tb2.example","port":1884,"security":{"accessToken":"T2"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Thingsboard.Host != "tb2.example" || out.Thingsboard.Port != 1884 || out.Thingsboard.Security.Type != SecurityAccessToken ||
		out.Thingsboard.KeepAlive != 120 {
		t.Errorf("thingsboard = %+v", out.Thingsboard)
	}
	if len(out.Connectors) != len(cfg.Connectors) || out.Storage != cfg.Storage || out.Dir != cfg.Dir || out.File != cfg.File {
		t.Errorf("other sections changed: %+v", out)
	}
	if cfg.Thingsboard.Host != "thingsboard.cloud" {
		t.Errorf("the original changed: %q", cfg.Thingsboard.Host)
	}
	_, _, err = cfg.WithSection("thingsboard", []byte(`{"host":"tb2.example","port":70000}`), nil)
	if err == nil || !strings.Contains(err.Error(), "thingsboard.port") || !strings.Contains(err.Error(), cfg.File) {
		t.Errorf("port 70000: err = %v", err)
	}
}
