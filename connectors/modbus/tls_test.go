package modbus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// testCA is a certificate authority made by a test; its files live in the test's temporary folder.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue makes a leaf certificate for 127.0.0.1 signed by the CA and returns its certificate and key files.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, _ = ca.issueKey(t, dir, name, usage)
	return certFile, keyFile
}

// issueKey is issue that also returns the key.
func (ca *testCA) issueKey(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string, _ *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile, key
}

// writeEncryptedKey writes key as a password-protected PEM file (RFC 1423, as "openssl ec -aes256" writes it).
func writeEncryptedKey(t *testing.T, file string, key *ecdsa.PrivateKey, password string) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the legacy format is the one to read
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(password), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSPymodbus polls python3-pymodbus serving Modbus/TCP Security (MBAP inside TLS, a client certificate
// required) with certificates the test made: with the CA that signed the server's certificate the corpus values
// arrive and an RPC reads over the same line; with another CA the server is refused, and the log names the
// device and the reason, and no value arrives.
func TestTLSPymodbus(t *testing.T) {
	needPymodbus(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	ca, rogue := newTestCA(t, dir, "ca"), newTestCA(t, dir, "rogue")
	srvCert, srvKey := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey, key := ca.issueKey(t, dir, "client", x509.ExtKeyUsageClientAuth)
	encKey := filepath.Join(dir, "client-encrypted.key")
	writeEncryptedKey(t, encKey, key, "s3cret")
	listener := func(clientCA ...string) string {
		t.Helper()
		args := []string{"--tls", "127.0.0.1:0", "--tls-cert", srvCert, "--tls-key", srvKey}
		for _, f := range clientCA {
			args = append(args, "--tls-client-ca", f)
		}
		peers := runPymodbus(t, ctx, args...)
		if peers["tls"] == "" {
			t.Fatalf("pymodbus did not report a tls listener: %v", peers)
		}
		return peers["tls"]
	}
	addr, open := listener(ca.file), listener()
	const file = "uplink_configs/modbus_uplink_converter_holding_registers_reading_little.json"
	want := readValues(t, "uplink", "holding_registers_values_little.json")
	values := func(g *gateway) { g.T.Helper(); g.waitValues("the corpus values over TLS", want) }

	t.Run("verified", func(t *testing.T) {
		cfg := corpusConfig(t, file, addr, 100, func(s map[string]any) {
			s["tls"] = map[string]any{"certfile": cliCert, "keyfile": cliKey, "cafile": ca.file}
		})
		g := startGateway(t, cfg)
		values(g)
		if got := g.rpc(device, "get", "type=16int;functionCode=3;address=4;objectsCount=1"); !same(want["16int"], got) {
			t.Errorf("get over TLS: %v, want %v", got, want["16int"])
		}
	})

	t.Run("encrypted_key", func(t *testing.T) {
		values(startGateway(t, corpusConfig(t, file, addr, 100, func(s map[string]any) {
			s["method"] = "tls"
			s["tls"] = map[string]any{"certfile": cliCert, "keyfile": encKey, "password": "s3cret", "cafile": ca.file}
		})))
	})

	t.Run("no_client_certificate", func(t *testing.T) {
		values(startGateway(t, corpusConfig(t, file, open, 100, func(s map[string]any) {
			s["type"], s["tls"] = "tls", map[string]any{"cafile": ca.file}
		})))
	})

	t.Run("client_certificate_required", func(t *testing.T) {
		// TLS 1.3 refuses a missing client certificate after the handshake: the first read fails
		g := startGateway(t, corpusConfig(t, file, addr, 100, func(s map[string]any) {
			s["type"], s["tls"] = "tls", map[string]any{"cafile": ca.file}
		}))
		g.GW.WaitLog(g.Ctx, `device="`+device+`"`, "tcp+tls://"+addr, "EOF")
		if latest := g.Emu.Latest(device); len(latest) != 0 {
			t.Errorf("values arrived without the client certificate the server requires: %v", latest)
		}
	})

	t.Run("wrong_ca", func(t *testing.T) {
		cfg := corpusConfig(t, file, addr, 100, func(s map[string]any) {
			s["type"] = "tls"
			s["tls"] = map[string]any{"certfile": cliCert, "keyfile": cliKey, "cafile": rogue.file}
		})
		g := startGateway(t, cfg)
		refused := []string{`device="` + device + `"`, "tcp+tls://" + addr, "certificate signed by unknown authority"}
		g.Eventually("the refusal in the log, or values", func() bool {
			return g.GW.Log.Contains(refused...) || len(g.Emu.Latest(device)) > 0
		})
		if latest := g.Emu.Latest(device); len(latest) != 0 {
			t.Errorf("values arrived from a server the CA did not sign: %v", latest)
		}
		if !g.GW.Log.Contains(refused...) {
			t.Errorf("no log line with %q", refused)
		}
	})
}

// TestTLSConfigWarnings: a "tls" section that does not turn TLS on is a warning naming its key path.
func TestTLSConfigWarnings(t *testing.T) {
	dev := `"host":"h","pollPeriod":1`
	for raw, want := range map[string]string{
		`{"master":{"slaves":[{` + dev + `,"tls":{}}]}}`:                               `master.slaves[0].tls: an empty section leaves TLS off`,
		`{"master":{"slaves":[{` + dev + `,"type":"udp","tls":{"cafile":"ca.pem"}}]}}`: `master.slaves[0].tls: ignored: TLS runs over TCP only, not type "udp"`,
	} {
		_, warnings, err := modbus.Decode([]byte(raw))
		if err != nil || len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
			t.Errorf("%s: warnings %q, err %v; want one warning starting %q", raw, warnings, err, want)
		}
	}
}
