package config

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const envMain = `{"thingsboard": {"host": "file-host", "port": 1883,
	"security": {"type": "tlsAccessToken", "accessToken": "file-token", "caCert": "ca.pem"}}}`

func TestEnvOverrides(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": envMain})
	cfg, warns, err := Load(dir, envOf(map[string]string{
		"host":                             "bare-host",
		"TB_GW_HOST":                       "tbgw-host", // TB_GW_* wins over the bare name
		"port":                             "8883",
		"accessToken":                      "env-token",
		"TB_GW_RATE_LIMITS":                "10:1,300:60",
		"TB_GW_DEVICE_RATE_LIMITS":         "5:1",
		"TB_GW_DP_RATE_LIMITS":             "100:1",
		"TB_DEFAULT_RATE_LIMIT_PERCENTAGE": "50",
		"TB_GW_USERNAME":                   "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	tb := cfg.Thingsboard
	if tb.Host != "tbgw-host" || tb.Port != 8883 {
		t.Errorf("host/port = %q/%d", tb.Host, tb.Port)
	}
	// Merged key by key: the file's type and caCert stay.
	if s := tb.Security; s.AccessToken != "env-token" || s.Type != SecurityTLSAccessToken || s.CACert != "ca.pem" || s.Username != "" {
		t.Errorf("security = %+v", s)
	}
	if tb.RateLimits != "10:1,300:60" || tb.MessagesRateLimits != "10:1,300:60" || tb.DeviceMessagesRateLimits != "10:1,300:60" {
		t.Errorf("TB_GW_RATE_LIMITS not applied to all: %+v", tb)
	}
	if tb.DeviceRateLimits != "5:1" {
		t.Errorf("deviceRateLimits = %q, want the specific variable to win", tb.DeviceRateLimits)
	}
	if tb.DPRateLimits != "100:1" || tb.DeviceDPRateLimits != "100:1" {
		t.Errorf("dp limits = %q, %q", tb.DPRateLimits, tb.DeviceDPRateLimits)
	}
	if tb.DefaultRateLimitPercentage != 50 {
		t.Errorf("percentage = %d", tb.DefaultRateLimitPercentage)
	}
	if tb.Provisioning != nil {
		t.Errorf("provisioning = %+v, want nil", tb.Provisioning)
	}
}

func TestEnvSuppliesMissingHostAndCredentials(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {}}`})
	cfg, _, err := Load(dir, envOf(map[string]string{
		"TB_GW_HOST": "h", "TB_GW_SECURITY_TYPE": "usernamePassword", "TB_GW_CLIENT_ID": "c", "TB_GW_PASSWORD": "p",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Thingsboard.Security
	if cfg.Thingsboard.Host != "h" || s.Type != SecurityUsernamePassword || s.ClientID != "c" || s.Password != "p" {
		t.Errorf("config = %+v", cfg.Thingsboard)
	}
}

func TestEnvProvisioning(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h"}}`})
	cfg, _, err := Load(dir, envOf(map[string]string{
		"TB_GW_PROVISIONING_DEVICE_KEY": "k", "TB_GW_PROVISIONING_DEVICE_SECRET": "s",
		"TB_GW_PROVISIONING_DEVICE_NAME": "gw", "TB_GW_PROVISIONING_DEVICE_USERNAME": "u",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Provisioning{Type: "MQTT_BASIC", ProvisionDeviceKey: "k", ProvisionDeviceSecret: "s", DeviceName: "gw",
		Username: "u", FromEnvironment: true}
	if p := cfg.Thingsboard.Provisioning; p == nil || *p != want {
		t.Errorf("provisioning = %+v, want %+v", p, want)
	}

	_, _, err = Load(dir, envOf(map[string]string{"TB_GW_PROVISIONING_DEVICE_NAME": "gw"}))
	wantErr := "thingsboard.provisioning.provisionDeviceKey: expected the device profile's provision key, found nothing"
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("provisioning without key: %v", err)
	}
}

func TestEnvErrorsAndWarnings(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h"}}`})
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TB_GW_PORT": "abc"}, `environment: TB_GW_PORT: expected an integer 1-65535, found "abc"`},
		{map[string]string{"port": "0"}, `environment: port: expected an integer 1-65535, found "0"`},
		{map[string]string{"TB_GW_RATE_LIMITS": "10:x"},
			`environment: TB_GW_RATE_LIMITS: expected "cap:seconds[,cap:seconds...]" or a DEFAULT_* placeholder, found "10:x"`},
		{map[string]string{"TB_DEFAULT_RATE_LIMIT_PERCENTAGE": "120"},
			`environment: TB_DEFAULT_RATE_LIMIT_PERCENTAGE: expected an integer 1-100, found "120"`},
		{map[string]string{"TB_GW_SECURITY_TYPE": "x509"},
			`thingsboard.security.type: expected one of accessToken, usernamePassword, tlsAccessToken, tlsPrivateKey, found "x509"`},
	}
	for _, tc := range cases {
		_, _, err := Load(dir, envOf(tc.env))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("env %v: got %v, want %q", tc.env, err, tc.want)
		}
	}
	cfg, warns, err := Load(dir, envOf(map[string]string{"TB_GW_DEV_MODE": "true", "proxy_host": "p", "TB_GW_PROXY_PORT": "3128"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Thingsboard.ProxyHost != "p" || cfg.Thingsboard.ProxyPort != 3128 {
		t.Errorf("proxy from the environment: %q:%d, want p:3128", cfg.Thingsboard.ProxyHost, cfg.Thingsboard.ProxyPort)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{"environment: TB_GW_DEV_MODE: development hot reload is not supported, ignored"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings = %q, want %q", got, want)
	}
}

// TestProvisioningIgnoredBesideSecurity: a provisioning section beside security credentials is a warning (the
// Python gateway uses security), unless the provisioning variables are set, which come first.
func TestProvisioningIgnoredBesideSecurity(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"},
		"provisioning": {"provisionDeviceKey": "k", "provisionDeviceSecret": "s"}}}`})
	const msg = "thingsboard.provisioning: ignored: thingsboard.security holds credentials"
	has := func(warns []Warning) bool {
		for _, w := range warns {
			if strings.Contains(w.String(), msg) {
				return true
			}
		}
		return false
	}
	_, warns, err := Load(dir, nil)
	if err != nil || !has(warns) {
		t.Fatalf("no warning %q: %v %v", msg, warns, err)
	}
	_, warns, err = Load(dir, envOf(map[string]string{"TB_GW_PROVISIONING_DEVICE_KEY": "k2", "TB_GW_PROVISIONING_DEVICE_SECRET": "s2"}))
	if err != nil || has(warns) {
		t.Fatalf("warning %q with provisioning from the environment: %v %v", msg, warns, err)
	}
}
