package runtime_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/provision"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// Provision profile of the emulator in these tests.
const (
	provKey    = "gw-profile-key"
	provSecret = "gw-profile-secret"
)

// provisioningOnly is a "thingsboard" section override with no credentials and the provisioning section prov.
func provisioningOnly(prov map[string]any) map[string]any {
	return map[string]any{"security": map[string]any{}, "provisioning": prov}
}

// provisionRequests counts the provisioning requests the emulator received.
func provisionRequests(emu *tbemu.Server) int {
	n := 0
	for _, m := range emu.Messages() {
		if m.Topic == "/provision/request" {
			n++
		}
	}
	return n
}

// readCredentials returns the credentials file's content, failing the test unless its mode is 0600.
func readCredentials(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, provision.FileName)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestE2EProvisionAccessToken: a gateway whose config holds only a provisioning section provisions its device
// (ACCESS_TOKEN, gateway flag) at ThingsBoard, saves the reply in the Python gateway's .credentials (0600, its
// JSON shape), connects with it and delivers data; a restart reads the saved credentials and provisions nothing.
// gateway_remove_provisioned_credentials deletes the file while the connection carries on (404 the second
// time); with the device deleted at ThingsBoard, the next start provisions it again.
func TestE2EProvisionAccessToken(t *testing.T) {
	e := newE2E(t)
	e.emu.AddProvisionProfile(provKey, provSecret)
	const gwDevice = "Provisioned GW"
	p := newProbe(t, "probe")
	s := setup{connectors: []connSpec{p.conn()}, tb: provisioningOnly(map[string]any{
		"provisionDeviceKey": provKey, "provisionDeviceSecret": provSecret, "deviceName": gwDevice})}
	run := e.start(s)

	d, ok := e.emu.Device(gwDevice)
	cr, _ := e.emu.DeviceCredentials(gwDevice)
	if !ok || !d.Gateway || !d.Connected || cr.Token == "" {
		t.Fatalf("provisioned device %+v (%v), credentials %+v", d, ok, cr)
	}
	want := `{"credentialsType": "ACCESS_TOKEN", "credentialsValue": "` + cr.Token + `", "status": "SUCCESS"}`
	if got := readCredentials(t, e.dir); got != want {
		t.Fatalf("credentials file\n%s\nwant\n%s", got, want)
	}
	p.send(t, e.ctx, tbgateway.Record{Device: "sensor", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"v": int64(1)}}}})
	e.waitFor("the record", func() bool { return len(e.emu.Telemetry("sensor", "v")) == 1 })
	if sd, _ := e.emu.Device("sensor"); sd.LastGateway != gwDevice {
		t.Fatalf("sensor came through %q, want the provisioned gateway %q", sd.LastGateway, gwDevice)
	}
	run.stop()

	// Restart: the saved credentials are used, nothing is provisioned again.
	run = e.start(s)
	if n := provisionRequests(e.emu); n != 1 {
		t.Fatalf("%d provisioning requests after a restart, want 1", n)
	}
	if d, _ := e.emu.Device(gwDevice); !d.Connected || len(e.emu.Devices()) != 3 {
		t.Fatalf("after the restart: %+v, devices %+v", d, e.emu.Devices())
	}

	reply := e.rpc(gwDevice, "gateway_remove_provisioned_credentials", nil)
	if reply["code"] != float64(200) || reply["resp"] != "Provisioned credentials file removed successfully." {
		t.Fatalf("remove reply %v", reply)
	}
	if _, err := os.Stat(filepath.Join(e.dir, provision.FileName)); !os.IsNotExist(err) {
		t.Fatalf("credentials file after removal: %v", err)
	}
	p.send(t, e.ctx, tbgateway.Record{Device: "sensor", Telemetry: []tbgateway.Telemetry{{TS: 2, Values: map[string]any{"v": int64(2)}}}})
	e.waitFor("a record after the removal", func() bool { return len(e.emu.Telemetry("sensor", "v")) == 2 })
	reply = e.rpc(gwDevice, "gateway_remove_provisioned_credentials", nil)
	if reply["code"] != float64(404) || reply["message"] != "Provisioned credentials file does not exist." {
		t.Fatalf("second remove reply %v", reply)
	}
	run.stop()

	if err := e.emu.DeleteDevice(gwDevice); err != nil {
		t.Fatal(err)
	}
	e.start(s)
	cr2, ok := e.emu.DeviceCredentials(gwDevice)
	if n := provisionRequests(e.emu); n != 2 || !ok || cr2.Token == cr.Token {
		t.Fatalf("provisioning after the removal: %d requests, credentials %+v (before %+v)", n, cr2, cr)
	}
	if got := readCredentials(t, e.dir); !strings.Contains(got, cr2.Token) {
		t.Fatalf("credentials file %s, want the new token", got)
	}
}

// TestE2EProvisionMQTTBasicFromEnvironment: the TB_GW_PROVISIONING_DEVICE_* variables provision with MQTT basic
// credentials even though the file's security section holds a token (the Python gateway's precedence); the
// device is created with exactly those credentials and the gateway connects as it.
func TestE2EProvisionMQTTBasicFromEnvironment(t *testing.T) {
	e := newE2E(t)
	e.emu.AddProvisionProfile(provKey, provSecret)
	e.writeConfig(setup{})
	env := e.EmulatorEnv()
	for k, v := range map[string]string{"TB_GW_PROVISIONING_DEVICE_KEY": provKey, "TB_GW_PROVISIONING_DEVICE_SECRET": provSecret,
		"TB_GW_PROVISIONING_DEVICE_NAME": "Env GW", "TB_GW_PROVISIONING_DEVICE_CLIENT_ID": "env-client",
		"TB_GW_PROVISIONING_DEVICE_USERNAME": "env-user", "TB_GW_PROVISIONING_DEVICE_PASSWORD": "env-pass"} {
		env[k] = v
	}
	e.Start(gwtest.StartOptions{Env: env})
	cr, ok := e.emu.DeviceCredentials("Env GW")
	if !ok || cr.ClientID != "env-client" || cr.Username != "env-user" || cr.Password != "env-pass" || cr.Token != "" {
		t.Fatalf("provisioned credentials %+v (%v)", cr, ok)
	}
	if d, _ := e.emu.Device("Env GW"); !d.Connected || !d.Gateway {
		t.Fatalf("device %+v", d)
	}
	if d, _ := e.emu.Device(gwtest.GatewayName); !d.LastConnect.IsZero() {
		t.Fatalf("the token of thingsboard.security was used: %+v", d)
	}
	// credentialsValue as ThingsBoard (here the emulator) sent it, in the Python gateway's spacing.
	want := `{"credentialsType": "MQTT_BASIC", "credentialsValue": {"clientId": "env-client", "password": "env-pass", "userName": "env-user"}, "status": "SUCCESS"}`
	if got := readCredentials(t, e.dir); got != want {
		t.Fatalf("credentials file\n%s\nwant\n%s", got, want)
	}
}

// TestE2EProvisionX509: X509_CERTIFICATE provisioning over TLS (the provisioning section's caCert verifies
// ThingsBoard): the gateway generates cert.pem and key.pem (0600), ThingsBoard creates the device with that
// certificate, and the gateway connects with it.
func TestE2EProvisionX509(t *testing.T) {
	ca, caKey := testCA(t)
	srvPair := serverCert(t, ca, caKey)
	e := gwtest.New(t, gwtest.Options{Emulator: tbemu.Options{TLSAddr: "127.0.0.1:0",
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{srvPair}}}})
	e.Emu.AddProvisionProfile(provKey, provSecret)
	e.WriteFile("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	_, tlsPort, _ := net.SplitHostPort(e.Emu.TLSAddr())
	port, _ := strconv.Atoi(tlsPort)
	tb := provisioningOnly(map[string]any{"type": "X509_CERTIFICATE", "provisionDeviceKey": provKey,
		"provisionDeviceSecret": provSecret, "deviceName": "X509 GW", "caCert": "ca.pem"})
	tb["port"] = port
	e.WriteConfig(gwtest.Config{Thingsboard: tb})
	e.Start(gwtest.StartOptions{})

	certPEM, err := os.ReadFile(filepath.Join(e.Dir, provision.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(e.Dir, provision.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	cr, ok := e.Emu.DeviceCredentials("X509 GW")
	if !ok || cr.CertPEM != string(certPEM) {
		t.Fatalf("device credentials %+v, want the generated certificate", cr)
	}
	if d, _ := e.Emu.Device("X509 GW"); !d.Connected || !d.Gateway {
		t.Fatalf("device %+v", d)
	}
	var saved map[string]any
	if err := json.Unmarshal([]byte(readCredentials(t, e.Dir)), &saved); err != nil ||
		saved["credentialsType"] != "X509_CERTIFICATE" || saved["caCert"] != "ca.pem" || saved["status"] != "SUCCESS" {
		t.Fatalf("credentials file %v (%v)", saved, err)
	}
}

// TestE2EProvisionRefused: a refused provisioning stops the start with an error naming the keys to fix, writes
// nothing, and leaves ThingsBoard as it was: a wrong secret, a device name that exists already (the Python
// gateway's behaviour: ThingsBoard answers FAILURE and the gateway does not start), provisioning disabled at
// the server (no profile with that key).
func TestE2EProvisionRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile bool
		secret  string
		device  string
		want    []string
	}{
		{"wrong secret", true, "wrong", "New GW", []string{"NOT_FOUND", "thingsboard.provisioning.provisionDeviceSecret", "thingsboard.provisioning.provisionDeviceKey"}},
		{"device exists", true, provSecret, "Existing GW", []string{"FAILURE", `"Existing GW"`, "thingsboard.provisioning.deviceName", "already exists"}},
		{"provisioning disabled", false, provSecret, "New GW", []string{"NOT_FOUND", "disabled in the device profile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newE2E(t)
			if tc.profile {
				e.emu.AddProvisionProfile(provKey, provSecret)
			}
			if err := e.emu.AddDevice(tbemu.DeviceSpec{Name: "Existing GW", Gateway: true, Token: "existing-token"}); err != nil {
				t.Fatal(err)
			}
			before := e.emu.Devices()
			e.writeConfig(setup{tb: provisioningOnly(map[string]any{
				"provisionDeviceKey": provKey, "provisionDeviceSecret": tc.secret, "deviceName": tc.device})})
			cfg, _, err := config.Load(e.dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			gw, err := runtime.New(cfg, runtime.Options{Logger: testLogger("gateway")})
			if err != nil {
				t.Fatal(err)
			}
			err = gw.Run(e.ctx)
			if err == nil {
				t.Fatal("the gateway ran after a refused provisioning")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), provSecret) || strings.Contains(err.Error(), "wrong\"") {
				t.Errorf("error %q shows the secret", err)
			}
			if _, err := os.Stat(filepath.Join(e.dir, provision.FileName)); !os.IsNotExist(err) {
				t.Errorf("credentials file after a refusal: %v", err)
			}
			after := e.emu.Devices()
			if len(after) != len(before) {
				t.Fatalf("devices %+v, want them unchanged: %+v", after, before)
			}
			if cr, _ := e.emu.DeviceCredentials("Existing GW"); cr.Token != "existing-token" {
				t.Fatalf("existing device's credentials changed: %+v", cr)
			}
			if n := provisionRequests(e.emu); n != 1 {
				t.Fatalf("%d provisioning requests, want 1 (a refusal is not retried)", n)
			}
		})
	}
}

// testCA returns a self-signed CA certificate and its key.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provision test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// serverCert returns a certificate for 127.0.0.1 issued by ca.
func serverCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tbemu"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
