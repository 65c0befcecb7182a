package provision

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestResolvePrecedence is the Python gateway's order: security (unless provisioning comes from the
// environment), then the saved credentials, then provisioning, else an error naming the token.
func TestResolvePrecedence(t *testing.T) {
	token := config.Security{Type: config.SecurityAccessToken, AccessToken: "T", CACert: "ca.pem"}
	fileProv := &config.Provisioning{Type: TypeAccessToken, ProvisionDeviceKey: "k", ProvisionDeviceSecret: "s"}
	envProv := &config.Provisioning{Type: TypeBasic, ProvisionDeviceKey: "k", ProvisionDeviceSecret: "s", Username: "u", FromEnvironment: true}
	const saved = `{"credentialsType": "ACCESS_TOKEN", "credentialsValue": "saved-token", "status": "SUCCESS"}`
	for _, tc := range []struct {
		name  string
		sec   config.Security
		prov  *config.Provisioning
		saved string
		want  Source
		token string
	}{
		{"security", token, nil, "", FromConfig, "T"},
		{"security over saved and file provisioning", token, fileProv, saved, FromConfig, "T"},
		{"environment provisioning over security: saved", token, envProv, saved, FromSaved, "saved-token"},
		{"environment provisioning over security", token, envProv, "", FromProvisioning, ""},
		{"saved over provisioning", config.Security{}, fileProv, saved, FromSaved, "saved-token"},
		{"provisioning", config.Security{}, fileProv, "", FromProvisioning, ""},
		{"saved alone", config.Security{}, nil, saved, FromSaved, "saved-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.saved != "" {
				if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tc.saved), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := &config.Config{File: filepath.Join(dir, "tb_gateway.json"), Dir: dir,
				Thingsboard: config.Thingsboard{Security: tc.sec, Provisioning: tc.prov}}
			p, err := Resolve(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != tc.want || p.Security.AccessToken != tc.token {
				t.Fatalf("source %v security %+v, want %v with token %q", p.Source, p.Security, tc.want, tc.token)
			}
			if p.Source != FromConfig && p.Security.CACert != tc.sec.CACert {
				t.Fatalf("the configured caCert is not kept: %+v", p.Security)
			}
			if p.Source == FromProvisioning && p.StandIn().Type == "" {
				t.Fatalf("stand-in without a type: %+v", p.StandIn())
			}
		})
	}
	dir := t.TempDir()
	_, err := Resolve(&config.Config{File: filepath.Join(dir, "tb_gateway.json"), Dir: dir})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Path != "thingsboard.security.accessToken" {
		t.Fatalf("no credentials at all: %v", err)
	}
}

// TestLoadRefusesUnusableFile: a credentials file that is not the reply a provisioning saves is an error naming
// the file; a missing one is fs.ErrNotExist.
func TestLoadRefusesUnusableFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, FileName)
	if _, err := Load(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	for _, body := range []string{`{`, `{"credentialsType": "ACCESS_TOKEN"}`, `{"credentialsType": "MQTT_BASIC", "credentialsValue": {}}`,
		`{"credentialsType": "PSK", "credentialsValue": "x"}`} {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(file); err == nil || !strings.Contains(err.Error(), file) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// TestSaveIsAtomicAndPrivate: Save replaces the file whole, mode 0600, leaves no temporary file, and writes
// the Python gateway's spacing without touching the spacing inside strings.
func TestSaveIsAtomicAndPrivate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, FileName)
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Saved{CredentialsType: TypeBasic, CredentialsValue: []byte(`{"clientId":"a,b","userName":"u: v","password":"p\",q"}`), Status: "SUCCESS"}
	if err := Save(file, s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	got, _ := os.ReadFile(file)
	want := `{"credentialsType": "MQTT_BASIC", "credentialsValue": {"clientId": "a,b", "userName": "u: v", "password": "p\",q"}, "status": "SUCCESS"}`
	if string(got) != want {
		t.Fatalf("file\n%s\nwant\n%s", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the credentials file", len(entries))
	}
	back, err := Load(file)
	if err != nil || back.Security(config.Security{}).Username != "u: v" {
		t.Fatalf("read back %+v, %v", back, err)
	}
}

// TestProvisionRetriesUntilReached: while ThingsBoard cannot be reached the exchange is retried (logged), then
// it succeeds and the credentials are saved.
func TestProvisionRetriesUntilReached(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	emu.AddProvisionProfile("k", "s")
	dir := t.TempDir()
	p, err := Resolve(&config.Config{File: filepath.Join(dir, "tb_gateway.json"), Dir: dir, Thingsboard: config.Thingsboard{
		Provisioning: &config.Provisioning{Type: TypeAccessToken, ProvisionDeviceKey: "k", ProvisionDeviceSecret: "s", DeviceName: "R"}}})
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	dial := func(ctx context.Context) (net.Conn, error) {
		if attempts.Add(1) <= 2 {
			return nil, errors.New("connection refused (test)")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", emu.MQTTAddr())
	}
	var logs bytes.Buffer
	sec, err := p.Provision(ctx, dial, backoff.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if attempts.Load() != 3 || strings.Count(logs.String(), "provisioning: ThingsBoard not reached, retrying") != 2 {
		t.Fatalf("%d attempts, log:\n%s", attempts.Load(), logs.String())
	}
	cr, ok := emu.DeviceCredentials("R")
	if !ok || sec.Type != config.SecurityAccessToken || sec.AccessToken != cr.Token || cr.Token != p.Request.AccessToken {
		t.Fatalf("security %+v, device credentials %+v", sec, cr)
	}
	if strings.Contains(logs.String(), cr.Token) || strings.Contains(logs.String(), `"s"`) {
		t.Fatalf("the log shows a secret:\n%s", logs.String())
	}
	if _, err := Load(p.File); err != nil {
		t.Fatal(err)
	}
}

// TestNewRequestFillsLikePython: absent values are generated (device name "Gateway xxxxx", credentials of the
// type asked for); an unknown type is an error naming the key.
func TestNewRequestFillsLikePython(t *testing.T) {
	r, err := newRequest(&config.Provisioning{Type: "mqtt_basic", ProvisionDeviceKey: "k", ProvisionDeviceSecret: "s", Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != TypeBasic || r.Username != "u" || r.ClientID == "" || r.Password == "" || !strings.HasPrefix(r.DeviceName, "Gateway ") || len(r.DeviceName) != 13 {
		t.Fatalf("request %+v", r)
	}
	if _, err := newRequest(&config.Provisioning{Type: "PSK"}); err == nil || !strings.Contains(err.Error(), "thingsboard.provisioning.type") {
		t.Fatalf("unknown type: %v", err)
	}
}
