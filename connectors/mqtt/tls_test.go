package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCerts creates a CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in dir.
func writeCerts(t *testing.T, dir string) (broker, client tlsFiles) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caFile := write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	sc, sk := leaf("server", 2, x509.ExtKeyUsageServerAuth)
	cc, ck := leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return tlsFiles{ca: caFile, cert: sc, key: sk}, tlsFiles{ca: caFile, cert: cc, key: ck}
}

// TestTLSWithClientCertificate connects through a TLS listener that requires a client certificate, with the
// Python config's "certificates" security, for MQTT 3.1.1 and 5. The config is in the old shape and uses the
// registered "mqtt" type, as a user's file would.
func TestTLSWithClientCertificate(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) {
			srv, cli := writeCerts(t, t.TempDir())
			testTLSConnects(t, &srv, version, map[string]any{"type": "certificates",
				"pathToCACert": cli.ca, "pathToClientCert": cli.cert, "pathToPrivateKey": cli.key})
		})
	}
}

// TestTLSOldSecurity connects through the same listener with broker.security in the Python gateway's old shape
// (no type; caCert, privateKey, cert), which turns TLS on.
func TestTLSOldSecurity(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) {
			srv, cli := writeCerts(t, t.TempDir())
			testTLSConnects(t, &srv, version, map[string]any{"caCert": cli.ca, "cert": cli.cert, "privateKey": cli.key})
		})
	}
}

// testTLSConnects starts a gateway whose broker.security is security on a TLS mosquitto (srv's files) that
// requires a client certificate, and waits for a device's telemetry to reach the platform.
func testTLSConnects(t *testing.T, srv *tlsFiles, version int, security map[string]any) {
	t.Helper()
	conf := map[string]any{
		"broker": map[string]any{"version": version, "security": security},
		"mapping": []any{map[string]any{"topicFilter": "tls/+/data", "converter": map[string]any{
			"type": "json", "deviceNameTopicExpression": "(?<=tls/)(.*?)(?=/data)",
			"timeseries": []any{map[string]any{"key": "t", "type": "double", "value": "${t}"}},
		}}},
	}
	e := newEnvTLS(t, "mqtt", conf, srv)
	dev := newDevice(t, e.b, "tls-device")
	dev.publish("tls/secure-1/data", map[string]any{"t": 1.25})
	e.waitFor("telemetry through TLS", func() bool { return e.emu.Latest("secure-1")["t"].Value == 1.25 })
}
