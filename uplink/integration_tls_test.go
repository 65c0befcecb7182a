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
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// certSpec describes a test certificate; zero validity means valid from an hour ago to an hour from now.
type certSpec struct {
	cn                  string
	parent              *testCert
	isCA                bool
	dns                 []string
	ips                 []net.IP
	notBefore, notAfter time.Time
}

func issue(t *testing.T, s certSpec) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if s.notBefore.IsZero() {
		s.notBefore, s.notAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: s.cn},
		NotBefore: s.notBefore, NotAfter: s.notAfter,
		DNSNames: s.dns, IPAddresses: s.ips, IsCA: s.isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	signer, signKey := tmpl, key
	if s.parent != nil {
		signer, signKey = s.parent.cert, s.parent.key
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

func makeCert(t *testing.T, cn string, parent *testCert, isCA bool, dns []string, ips []net.IP) *testCert {
	return issue(t, certSpec{cn: cn, parent: parent, isCA: isCA, dns: dns, ips: ips})
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var loopback = []net.IP{net.ParseIP("127.0.0.1")}

// tlsEmu is tbemu with a plain and a TLS listener, the gateway devices of every security type, and the files a
// gateway needs.
type tlsEmu struct {
	emu            *tbemu.Server
	host           string
	plainPort      int
	tlsPort        int
	caFile         string
	certFile       string // client certificate of the device "gw-x509", issued by the CA
	keyFile        string
	certAndKeyFile string // the same certificate and key in one file
	otherCAFile    string // a CA that signed nothing here
}

// startTLSEmu runs tbemu whose TLS certificate is srv (issued by ca); clientAuth is the TLS listener's policy
// for client certificates (tls.NoClientCert: tbemu's default, requested and not verified).
func startTLSEmu(t *testing.T, ca, srv *testCert, clientAuth tls.ClientAuthType) *tlsEmu {
	t.Helper()
	pair, err := tls.X509KeyPair(srv.certPEM, srv.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	emu, err := tbemu.Start(t.Context(), tbemu.Options{TLSAddr: "127.0.0.1:0", TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, ClientAuth: clientAuth, ClientCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	client := makeCert(t, "gw-x509", ca, false, nil, nil)
	for _, d := range []tbemu.DeviceSpec{
		{Name: "gw", Gateway: true, Token: gwToken},
		{Name: "gw-basic", Gateway: true, ClientID: "cid", Username: "user", Password: "pw"},
		{Name: "gw-x509", Gateway: true, CertPEM: string(client.certPEM)},
	} {
		if err := emu.AddDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	e := &tlsEmu{emu: emu, caFile: writeFile(t, "ca.pem", ca.certPEM),
		certFile: writeFile(t, "c.pem", client.certPEM), keyFile: writeFile(t, "k.pem", client.keyPEM),
		certAndKeyFile: writeFile(t, "ck.pem", append(append([]byte{}, client.certPEM...), client.keyPEM...)),
		otherCAFile:    writeFile(t, "other.pem", makeCert(t, "other-ca", nil, true, nil, nil).certPEM)}
	host, port, _ := net.SplitHostPort(emu.TLSAddr())
	e.host = host
	e.tlsPort, _ = strconv.Atoi(port)
	_, port, _ = net.SplitHostPort(emu.MQTTAddr())
	e.plainPort, _ = strconv.Atoi(port)
	return e
}

// tryConnect runs a client until its first connection event and returns it. port, if not zero, replaces the
// configured port after the client decided on TLS (so port 8883's rule can be tested on a free port).
func tryConnect(t *testing.T, cfg Config, port ...int) Event {
	t.Helper()
	cfg.ReconnectMin, cfg.ReconnectMax = time.Second, time.Second
	c, err := New(cfg, newMemStore(), newTestDownlink(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(port) > 0 {
		set := *c.set.Load()
		set.cfg.Port = port[0]
		c.set.Store(&set)
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

// TestUsesTLS is the decision table: the Python gateway's rule (tls true, a caCert with any type, port 8883)
// plus the tls* types; tls false never turns TLS off.
func TestUsesTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		port int
		sec  Security
		want bool
	}{
		{"accessToken", 1883, Security{Type: SecurityAccessToken}, false},
		{"usernamePassword", 1883, Security{Type: SecurityUsernamePassword}, false},
		{"accessToken tls", 1883, Security{Type: SecurityAccessToken, TLS: true}, true},
		{"usernamePassword tls", 1883, Security{Type: SecurityUsernamePassword, TLS: true}, true},
		{"accessToken caCert", 1883, Security{Type: SecurityAccessToken, CACert: "ca.pem"}, true},
		{"usernamePassword caCert", 1883, Security{Type: SecurityUsernamePassword, CACert: "ca.pem"}, true},
		{"accessToken 8883", 8883, Security{Type: SecurityAccessToken}, true},
		{"usernamePassword 8883", 8883, Security{Type: SecurityUsernamePassword}, true},
		{"tlsAccessToken", 1883, Security{Type: SecurityTLSAccessToken}, true},
		{"tlsPrivateKey", 1883, Security{Type: SecurityTLSPrivateKey}, true},
		{"tlsAccessToken caCert", 1883, Security{Type: SecurityTLSAccessToken, CACert: "ca.pem"}, true},
		{"accessToken other port", 8884, Security{Type: SecurityAccessToken}, false},
		{"accessToken cert without caCert", 1883, Security{Type: SecurityAccessToken, Cert: "c.pem"}, false},
		{"insecure alone", 1883, Security{Type: SecurityAccessToken, Insecure: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Port: tc.port, Security: tc.sec}
			if got := c.UsesTLS(); got != tc.want {
				t.Fatalf("UsesTLS() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIntegrationTLSCombinations connects with every security type whose config turns TLS on, to tbemu's TLS
// listener, and with the plain types to its plain listener; plain TCP never reaches the TLS listener.
func TestIntegrationTLSCombinations(t *testing.T) {
	ca := makeCert(t, "test-ca", nil, true, nil, nil)
	e := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, nil, loopback), tls.NoClientCert)
	token := Security{Type: SecurityAccessToken, AccessToken: gwToken}
	basic := Security{Type: SecurityUsernamePassword, ClientID: "cid", Username: "user", Password: "pw"}
	with := func(s Security, f func(*Security)) Security { f(&s); return s }
	for _, tc := range []struct {
		name   string
		sec    Security
		port   int
		device string
	}{
		{"accessToken caCert", with(token, func(s *Security) { s.CACert = e.caFile }), e.tlsPort, "gw"},
		{"accessToken tls caCert", with(token, func(s *Security) { s.TLS, s.CACert = true, e.caFile }), e.tlsPort, "gw"},
		{"usernamePassword caCert", with(basic, func(s *Security) { s.CACert = e.caFile }), e.tlsPort, "gw-basic"},
		{"tlsAccessToken caCert", with(token, func(s *Security) { s.Type, s.CACert = SecurityTLSAccessToken, e.caFile }), e.tlsPort, "gw"},
		{"tlsPrivateKey", Security{Type: SecurityTLSPrivateKey, CACert: e.caFile, Cert: e.certFile, PrivateKey: e.keyFile}, e.tlsPort, "gw-x509"},
		{"tlsPrivateKey key in the cert file", Security{Type: SecurityTLSPrivateKey, CACert: e.caFile, Cert: e.certAndKeyFile, PrivateKey: e.certAndKeyFile}, e.tlsPort, "gw-x509"},
		{"accessToken plain", token, e.plainPort, "gw"},
		{"usernamePassword plain", basic, e.plainPort, "gw-basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := e.emu.Device(tc.device)
			ev := tryConnect(t, Config{Host: e.host, Port: tc.port, Security: tc.sec})
			if ev.Type != EventConnected {
				t.Fatalf("%v: %v", ev.Type, ev.Err)
			}
			if d, _ := e.emu.Device(tc.device); !d.LastConnect.After(before.LastConnect) {
				t.Fatalf("device %s did not connect", tc.device)
			}
		})
	}
	t.Run("plain to the TLS port", func(t *testing.T) {
		ev := tryConnect(t, Config{Host: e.host, Port: e.tlsPort, Security: token})
		var x509err x509.UnknownAuthorityError
		if ev.Type == EventConnected || errors.As(ev.Err, &x509err) {
			t.Fatalf("plain TCP to the TLS listener: %v %v", ev.Type, ev.Err)
		}
	})
	// Without a caCert the server is verified against the system roots, which do not hold the test CA: a
	// verification error proves TLS was dialled (and verified) where the config names no CA.
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"tls true", Config{Security: with(token, func(s *Security) { s.TLS = true })}},
		{"tlsAccessToken", Config{Security: with(token, func(s *Security) { s.Type = SecurityTLSAccessToken })}},
		{"accessToken port 8883", Config{Port: 8883, Security: token}},
		{"usernamePassword port 8883", Config{Port: 8883, Security: basic}},
	} {
		t.Run(tc.name+" system roots", func(t *testing.T) {
			tc.cfg.Host = e.host
			if tc.cfg.Port == 0 {
				tc.cfg.Port = e.tlsPort
			}
			ev := tryConnect(t, tc.cfg, e.tlsPort)
			var unknown x509.UnknownAuthorityError
			if ev.Type != EventConnectFailed || !errors.As(ev.Err, &unknown) {
				t.Fatalf("want a TLS verification failure (unknown authority), got %v %v", ev.Type, ev.Err)
			}
		})
	}
}

// TestIntegrationTLSSystemRoots: with the test CA as the system's roots (SSL_CERT_FILE, in a child process so
// that the roots are loaded from it), tls true, a tls* type and port 8883 connect without a caCert.
func TestIntegrationTLSSystemRoots(t *testing.T) {
	if os.Getenv("TBGW_TLS_SYSTEM_ROOTS_CHILD") == "" {
		ca := makeCert(t, "test-ca", nil, true, nil, nil)
		dir := t.TempDir()
		for name, data := range map[string][]byte{"ca.pem": ca.certPEM, "ca.key": ca.keyPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestIntegrationTLSSystemRoots$", "-test.v")
		cmd.Env = append(os.Environ(), "TBGW_TLS_SYSTEM_ROOTS_CHILD="+dir,
			"SSL_CERT_FILE="+filepath.Join(dir, "ca.pem"), "SSL_CERT_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestIntegrationTLSSystemRoots") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	dir := os.Getenv("TBGW_TLS_SYSTEM_ROOTS_CHILD")
	certPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatal("child: no CA files")
	}
	caCert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCert{cert: caCert, key: caKey, certPEM: certPEM, keyPEM: keyPEM}
	e := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, nil, loopback), tls.NoClientCert)
	token := Security{Type: SecurityAccessToken, AccessToken: gwToken}
	for _, cfg := range []Config{
		{Port: e.tlsPort, Security: Security{Type: SecurityAccessToken, AccessToken: gwToken, TLS: true}},
		{Port: e.tlsPort, Security: Security{Type: SecurityTLSAccessToken, AccessToken: gwToken}},
		{Port: 8883, Security: token},
		{Port: 8883, Security: Security{Type: SecurityUsernamePassword, ClientID: "cid", Username: "user", Password: "pw"}},
	} {
		cfg.Host = e.host
		if ev := tryConnect(t, cfg, e.tlsPort); ev.Type != EventConnected {
			t.Fatalf("%+v: %v %v", cfg.Security, ev.Type, ev.Err)
		}
	}
}

// TestFallbackRoots: on a system without CA roots (none at SSL_CERT_FILE and SSL_CERT_DIR, in a child process)
// the server is verified against the fallback bundle linked into the uplink: a root of that bundle verifies.
func TestFallbackRoots(t *testing.T) {
	if os.Getenv("TBGW_NO_SYSTEM_ROOTS_CHILD") == "" {
		missing := filepath.Join(t.TempDir(), "none")
		cmd := exec.Command(os.Args[0], "-test.run=^TestFallbackRoots$", "-test.v")
		cmd.Env = append(os.Environ(), "TBGW_NO_SYSTEM_ROOTS_CHILD=1", "SSL_CERT_FILE="+missing, "SSL_CERT_DIR="+missing)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFallbackRoots") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil || r.Constraint != nil || time.Now().Before(c.NotBefore) || time.Now().After(c.NotAfter) {
			continue
		}
		if _, err := c.Verify(x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("%s: %v", c.Subject, err)
		}
		return
	}
	t.Fatal("no usable root in the bundle")
}

// TestIntegrationTLSFailures: each way the server's or the client's certificate can be wrong fails the
// connection with its x509 or TLS reason; Insecure forgives only the host name.
func TestIntegrationTLSFailures(t *testing.T) {
	ca := makeCert(t, "test-ca", nil, true, nil, nil)
	good := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, nil, loopback), tls.NoClientCert)
	named := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, []string{"tb.example"}, nil), tls.NoClientCert)
	expired := startTLSEmu(t, ca, issue(t, certSpec{cn: "tbemu", parent: ca, ips: loopback,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)}), tls.NoClientCert)
	strict := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, nil, loopback), tls.RequireAndVerifyClientCert)
	cfg := func(e *tlsEmu, s Security) Config {
		if s.Type == "" {
			s.Type, s.AccessToken = SecurityTLSAccessToken, gwToken
		}
		if s.CACert == "" {
			s.CACert = e.caFile
		}
		return Config{Host: e.host, Port: e.tlsPort, Security: s}
	}
	expect := func(t *testing.T, ev Event, target any, what string) {
		t.Helper()
		if ev.Type != EventConnectFailed || !errors.As(ev.Err, target) {
			t.Fatalf("want %s, got %v: %v", what, ev.Type, ev.Err)
		}
	}
	t.Run("wrong CA", func(t *testing.T) {
		var err x509.UnknownAuthorityError
		expect(t, tryConnect(t, cfg(good, Security{CACert: good.otherCAFile})), &err, "x509.UnknownAuthorityError")
	})
	t.Run("wrong CA insecure", func(t *testing.T) {
		var err x509.UnknownAuthorityError
		expect(t, tryConnect(t, cfg(good, Security{CACert: good.otherCAFile, Insecure: true})), &err, "x509.UnknownAuthorityError")
	})
	t.Run("host name mismatch", func(t *testing.T) {
		var err x509.HostnameError
		expect(t, tryConnect(t, cfg(named, Security{})), &err, "x509.HostnameError")
	})
	t.Run("host name mismatch insecure", func(t *testing.T) {
		if ev := tryConnect(t, cfg(named, Security{Insecure: true})); ev.Type != EventConnected {
			t.Fatalf("Insecure skips the host name check: %v %v", ev.Type, ev.Err)
		}
	})
	for _, insecure := range []bool{false, true} {
		t.Run("expired insecure="+strconv.FormatBool(insecure), func(t *testing.T) {
			var err x509.CertificateInvalidError
			expect(t, tryConnect(t, cfg(expired, Security{Insecure: insecure})), &err, "x509.CertificateInvalidError")
			if err.Reason != x509.Expired {
				t.Fatalf("reason %v, want Expired: %v", err.Reason, err)
			}
		})
	}
	t.Run("missing client certificate", func(t *testing.T) {
		ev := tryConnect(t, cfg(strict, Security{}))
		// TLS 1.3: the server's alert arrives after the client's side of the handshake, as a remote error.
		var op *net.OpError
		if ev.Type == EventConnected || !errors.As(ev.Err, &op) || op.Op != "remote error" ||
			!strings.Contains(op.Err.Error(), "certificate required") {
			t.Fatalf("want the server's 'certificate required' alert, got %v: %v", ev.Type, ev.Err)
		}
	})
	// A client certificate the server's CA list does not cover is not offered (crypto/tls picks one the server
	// accepts): the server finds none.
	t.Run("client certificate of another CA", func(t *testing.T) {
		other := makeCert(t, "other-ca", nil, true, nil, nil)
		client := makeCert(t, "gw-x509", other, false, nil, nil)
		ev := tryConnect(t, cfg(strict, Security{Type: SecurityTLSPrivateKey,
			Cert: writeFile(t, "c.pem", client.certPEM), PrivateKey: writeFile(t, "k.pem", client.keyPEM)}))
		var op *net.OpError
		if ev.Type == EventConnected || !errors.As(ev.Err, &op) || op.Op != "remote error" ||
			!strings.Contains(op.Err.Error(), "certificate required") {
			t.Fatalf("want the server's 'certificate required' alert, got %v: %v", ev.Type, ev.Err)
		}
	})
	t.Run("client certificate required and given", func(t *testing.T) {
		ev := tryConnect(t, cfg(strict, Security{Type: SecurityTLSPrivateKey, Cert: strict.certFile, PrivateKey: strict.keyFile}))
		if ev.Type != EventConnected {
			t.Fatalf("%v: %v", ev.Type, ev.Err)
		}
	})
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
