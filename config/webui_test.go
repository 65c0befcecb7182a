package config

import (
	"strings"
	"testing"
)

// TestWebUISection: the webUI section's defaults and keys, an unknown key warned with its path, and the listen
// address: malformed always an error, beyond loopback an error while enabled (no TLS yet), fine while disabled.
func TestWebUISection(t *testing.T) {
	load := func(section string) (*Config, []Warning, error) {
		t.Helper()
		extra := ""
		if section != "" {
			extra = `, "webUI": ` + section
		}
		return Load(writeFiles(t, map[string]string{"tb_gateway.json": tb("", extra)}), nil)
	}
	cfg, warns, err := load("")
	if err != nil || len(warns) != 0 {
		t.Fatalf("no webUI section: %v %v", err, warns)
	}
	if cfg.WebUI.Enabled || cfg.WebUI.Listen != "127.0.0.1:9596" {
		t.Errorf("defaults %+v", cfg.WebUI)
	}

	cfg, warns, err = load(`{"enabled": true, "listen": "[::1]:0", "user": "admin"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.WebUI.Enabled || cfg.WebUI.Listen != "[::1]:0" {
		t.Errorf("decoded %+v", cfg.WebUI)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "webUI.user: unknown key") {
		t.Errorf("warnings %v", warns)
	}

	for _, ok := range []string{"localhost:8080", "127.0.0.2:1", "[::ffff:127.0.0.1]:9596"} {
		if _, _, err := load(`{"enabled": true, "listen": "` + ok + `"}`); err != nil {
			t.Errorf("listen %s: %v", ok, err)
		}
	}
	for listen, want := range map[string]string{
		"0.0.0.0:9596":    "webUI.listen: expected a loopback host",
		":9596":           "listening beyond loopback requires TLS",
		"192.0.2.1:9596":  "found \"192.0.2.1:9596\"",
		"127.0.0.1":       "webUI.listen: expected \"host:port\"",
		"127.0.0.1:http":  "webUI.listen: expected \"host:port\"",
		"localhost:70000": "webUI.listen: expected \"host:port\"",
	} {
		_, _, err := load(`{"enabled": true, "listen": "` + listen + `"}`)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "tb_gateway.json") {
			t.Errorf("listen %s: error %v, want one naming the file and holding %q", listen, err, want)
		}
	}
	if _, _, err := load(`{"enabled": false, "listen": "0.0.0.0:9596"}`); err != nil {
		t.Errorf("a disabled UI's listen beyond loopback: %v", err)
	}
	if _, _, err := load(`{"enabled": "yes"}`); err == nil || !strings.Contains(err.Error(), "webUI.enabled") {
		t.Errorf("enabled as text: %v", err)
	}
}
