package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
)

func TestConfigValidateDefaultsAndErrors(t *testing.T) {
	c := Config{Host: "tb", Security: Security{AccessToken: "t"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Port != 1883 || c.KeepAlive != 120*time.Second || c.ReconnectMin != time.Second || c.ReconnectMax != 120*time.Second ||
		c.MaxInflight != 100 || c.MaxPayloadSize != 65536 || c.BatchMax != 1000 || c.Security.Type != SecurityAccessToken ||
		c.RequestTimeout != 20*time.Second || c.DownlinkWorkers != 16 {
		t.Fatalf("defaults: %+v", c)
	}
	bad := map[string]Config{
		"host":        {Security: Security{AccessToken: "t"}},
		"accessToken": {Host: "tb", Security: Security{Type: SecurityTLSAccessToken}},
		"clientId":    {Host: "tb", Security: Security{Type: SecurityUsernamePassword}},
		"cert":        {Host: "tb", Security: Security{Type: SecurityTLSPrivateKey, Cert: "c"}},
		"unknown":     {Host: "tb", Security: Security{Type: "kerberos"}},
		"min":         {Host: "tb", Security: Security{AccessToken: "t"}, ReconnectMin: time.Minute, ReconnectMax: time.Second},
		"deviceDp":    {Host: "tb", Security: Security{AccessToken: "t"}, DeviceDPRateLimits: "10"},
		"range":       {Host: "tb", Port: 70000, Security: Security{AccessToken: "t"}},
		"payload":     {Host: "tb", Security: Security{AccessToken: "t"}, MaxPayloadSize: 100},
	}
	for want, cfg := range bad {
		err := cfg.Validate()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	for raw, want := range map[string]any{`"x"`: "x", `12`: int64(12), `1.5`: 1.5, `1e3`: 1000.0, `true`: true,
		`null`: nil, `99999999999999999999`: 1e20} {
		if got := decodeValue([]byte(raw)); got != want {
			t.Errorf("%s -> %#v, want %#v", raw, got, want)
		}
	}
	if got, ok := decodeValue([]byte(`{"a":1}`)).(tbgateway.RawJSON); !ok || string(got) != `{"a":1}` {
		t.Errorf("object: %v", got)
	}
}
