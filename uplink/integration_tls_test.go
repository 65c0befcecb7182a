package uplink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
)

type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func makeCert(t *testing.T, cn string, parent *testCert, isCA bool, dns []string, ips []net.IP) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: dns, IPAddresses: ips, IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	return &testCert{cert: c, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTLSEmu runs tbemu with a TLS listener whose certificate is issued by ca for the given names.
func startTLSEmu(t *testing.T, ca *testCert, dns []string, ips []net.IP) (*tbemu.Server, string, int) {
	t.Helper()
	srv := makeCert(t, "tbemu", ca, false, dns, ips)
	pair, err := tls.X509KeyPair(srv.certPEM, srv.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := tbemu.Start(t.Context(), tbemu.Options{TLSAddr: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "gw", Gateway: true, Token: gwToken}); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(emu.TLSAddr())
	p, _ := strconv.Atoi(port)
	return emu, host, p
}

// tryConnect runs a client until its first connection event and returns it.
func tryConnect(t *testing.T, cfg Config) Event {
	t.Helper()
	cfg.ReconnectMin, cfg.ReconnectMax = time.Second, time.Second
	c, err := New(cfg, newMemStore(), newTestDownlink(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case ev := <-c.Events():
		return ev
	case <-time.After(waitBound):
		t.Fatal("no connection event")
	}
	return Event{}
}

func TestIntegrationTLSAccessTokenVerifiesServer(t *testing.T) {
	ca := makeCert(t, "test-ca", nil, true, nil, nil)
	_, host, port := startTLSEmu(t, ca, []string{"tb.example"}, nil) // the certificate does not name 127.0.0.1
	caFile := writeFile(t, "ca.pem", ca.certPEM)
	base := Config{Host: host, Port: port, Security: Security{Type: SecurityTLSAccessToken, AccessToken: gwToken, CACert: caFile}}

	if ev := tryConnect(t, base); ev.Type != EventConnectFailed {
		t.Fatalf("host name mismatch must fail, got %v %v", ev.Type, ev.Err)
	}
	insecure := base
	insecure.Security.Insecure = true
	if ev := tryConnect(t, insecure); ev.Type != EventConnected {
		t.Fatalf("Insecure skips only the host name: got %v %v", ev.Type, ev.Err)
	}
	other := makeCert(t, "other-ca", nil, true, nil, nil)
	wrongCA := insecure
	wrongCA.Security.CACert = writeFile(t, "other.pem", other.certPEM)
	if ev := tryConnect(t, wrongCA); ev.Type != EventConnectFailed {
		t.Fatalf("an unknown CA must fail even with Insecure, got %v %v", ev.Type, ev.Err)
	}
	plain := base
	plain.Security.Type = SecurityAccessToken // plaintext against the TLS port never works
	if ev := tryConnect(t, plain); ev.Type == EventConnected {
		t.Fatal("plaintext connected to the TLS port")
	}
}

func TestIntegrationTLSClientCertificate(t *testing.T) {
	ca := makeCert(t, "test-ca", nil, true, nil, nil)
	emu, host, port := startTLSEmu(t, ca, nil, []net.IP{net.ParseIP("127.0.0.1")})
	client := makeCert(t, "gw-x509", ca, false, nil, nil)
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "gw-x509", Gateway: true, CertPEM: string(client.certPEM)}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: host, Port: port, Security: Security{Type: SecurityTLSPrivateKey,
		CACert: writeFile(t, "ca.pem", ca.certPEM), Cert: writeFile(t, "c.pem", client.certPEM), PrivateKey: writeFile(t, "k.pem", client.keyPEM)}}
	if ev := tryConnect(t, cfg); ev.Type != EventConnected {
		t.Fatalf("x509: %v %v", ev.Type, ev.Err)
	}
	if d, ok := emu.Device("gw-x509"); !ok || d.LastConnect.IsZero() {
		t.Fatalf("the certificate's device did not connect: %+v", d)
	}
}

func TestIntegrationBadTokenIsRejected(t *testing.T) {
	emu := startEmu(t)
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	ev := tryConnect(t, Config{Host: host, Port: p, Security: Security{AccessToken: "wrong"}})
	if ev.Type != EventRejected {
		t.Fatalf("got %v %v", ev.Type, ev.Err)
	}
}

func TestIntegrationBasicCredentials(t *testing.T) {
	emu := startEmu(t)
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "gw-basic", Gateway: true, ClientID: "cid", Username: "user", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	sec := Security{Type: SecurityUsernamePassword, ClientID: "cid", Username: "user", Password: "pw"}
	if ev := tryConnect(t, Config{Host: host, Port: p, Security: sec}); ev.Type != EventConnected {
		t.Fatalf("basic: %v %v", ev.Type, ev.Err)
	}
	sec.Password = "bad"
	if ev := tryConnect(t, Config{Host: host, Port: p, Security: sec}); ev.Type != EventRejected {
		t.Fatalf("bad password: %v %v", ev.Type, ev.Err)
	}
}
