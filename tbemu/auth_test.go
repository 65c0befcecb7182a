package tbemu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha3"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestConnackCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      connectOpts
		v5, v3 byte
	}{
		{"token", connectOpts{user: "devtoken"}, 0, 0},
		{"token ignores password and client id", connectOpts{user: "devtoken", pass: "x", clientID: "whatever"}, 0, 0},
		{"bad token", connectOpts{user: "nope"}, 0x86, 0x05},
		{"basic all three", connectOpts{clientID: "cid1", user: "user1", pass: "pw1"}, 0, 0},
		{"basic wrong password", connectOpts{clientID: "cid1", user: "user1", pass: "bad"}, 0x86, 0x05},
		{"basic client id only", connectOpts{clientID: "cid2"}, 0, 0},
		{"basic username only", connectOpts{user: "user3", pass: "pw3", clientID: "any"}, 0, 0},
		{"basic username only wrong password", connectOpts{user: "user3", pass: "bad"}, 0x86, 0x05},
		{"password without user", connectOpts{clientID: "x", pass: "p"}, 0x86, 0x05},
		{"unknown client id only", connectOpts{clientID: "unknown"}, 0x85, 0x02},
		{"nothing at all", connectOpts{}, 0x87, 0x05},
		{"provision by username", connectOpts{user: "provision"}, 0, 0},
		{"provision by client id", connectOpts{clientID: "provision"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			versions(t, func(t *testing.T, v byte) {
				s := startServer(t, Options{})
				for _, d := range []DeviceSpec{
					{Name: "b1", ClientID: "cid1", Username: "user1", Password: "pw1"},
					{Name: "b2", ClientID: "cid2"},
					{Name: "b3", Username: "user3", Password: "pw3"},
				} {
					if err := s.AddDevice(d); err != nil {
						t.Fatal(err)
					}
				}
				want := tc.v3
				if v == 5 {
					want = tc.v5
				}
				c, ack := dialRaw(t, s.MQTTAddr(), v, tc.o)
				if ack.ReasonCode != want {
					t.Fatalf("connack 0x%02x, want 0x%02x", ack.ReasonCode, want)
				}
				if want != 0 {
					c.expectClosed()
				} else {
					c.sync()
				}
			})
		})
	}
}

func TestSecondSessionEvictsFirst(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		old := connectGateway(t, s, v)
		old.puback(topicGwConnect, []byte(`{"device":"A"}`))
		fresh, ack := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "gwtoken"})
		if ack.ReasonCode != 0 {
			t.Fatalf("connack 0x%02x", ack.ReasonCode)
		}
		seen := old.expectClosed()
		if v == 5 {
			if len(seen) != 1 || seen[0].FixedHeader.Type != packets.Disconnect || seen[0].ReasonCode != 0x8E {
				t.Fatalf("old session got %v, want DISCONNECT 0x8E", seen)
			}
		} else if len(seen) != 0 {
			t.Fatalf("v3 old session got %v", types(seen))
		}
		fresh.sync()
		if d, _ := s.Device("gw"); !d.Connected {
			t.Fatal("gateway not connected after takeover")
		}
		if d, _ := s.Device("A"); d.Connected {
			t.Fatal("sub-device of the evicted session still connected")
		}
		if ack := fresh.puback(topicGwTelemetry, []byte(`{"A":[{"x":1}]}`)); ack.ReasonCode != 0 {
			t.Fatalf("puback 0x%02x", ack.ReasonCode)
		}
	})
}

func TestGatewayTakesOverDirectSession(t *testing.T) {
	s := startServer(t, Options{})
	direct, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	waitFor(t, s, "dev connected", func() bool { d, _ := s.Device("dev"); return d.Connected })
	gw := connectGateway(t, s, 5)
	gw.puback(topicGwConnect, []byte(`{"device":"dev","type":"ignored"}`))
	seen := direct.expectClosed()
	if len(seen) != 1 || seen[0].ReasonCode != 0x8E {
		t.Fatalf("direct session got %v", seen)
	}
	d, _ := s.Device("dev")
	if !d.Connected || d.LastGateway != "gw" || d.Type != "default" {
		t.Fatalf("dev = %+v", d)
	}
}

// testCert returns a self-signed certificate valid from nb to na.
func testCert(t *testing.T, cn string, nb, na time.Time) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: nb, NotAfter: na, DNSNames: []string{"localhost"},
		IPAddresses: nil, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestTLSAndX509(t *testing.T) {
	now := time.Now()
	serverCert, _ := testCert(t, "localhost", now.Add(-time.Hour), now.Add(time.Hour))
	devCert, devPEM := testCert(t, "dev-x509", now.Add(-time.Hour), now.Add(time.Hour))
	strangerCert, _ := testCert(t, "stranger", now.Add(-time.Hour), now.Add(time.Hour))
	expiredCert, expiredPEM := testCert(t, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{TLSAddr: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert}}})
		for _, d := range []DeviceSpec{{Name: "x509", CertPEM: devPEM}, {Name: "old", CertPEM: expiredPEM}} {
			if err := s.AddDevice(d); err != nil {
				t.Fatal(err)
			}
		}
		want := func(v5, v3 byte) byte {
			if v == 5 {
				return v5
			}
			return v3
		}
		for _, tc := range []struct {
			name string
			o    connectOpts
			code byte
			dev  string
		}{
			{"token over tls", connectOpts{user: "devtoken"}, 0, "dev"},
			{"known certificate", connectOpts{user: "ignored"}, 0, "x509"},
			{"unknown certificate", connectOpts{}, want(0x87, 0x05), ""},
			{"expired certificate", connectOpts{}, want(0x87, 0x05), ""},
		} {
			cfg := &tls.Config{InsecureSkipVerify: true}
			switch tc.name {
			case "known certificate":
				cfg.Certificates = []tls.Certificate{devCert}
			case "unknown certificate":
				cfg.Certificates = []tls.Certificate{strangerCert}
			case "expired certificate":
				cfg.Certificates = []tls.Certificate{expiredCert}
			}
			tc.o.tls = cfg
			c, ack := dialRaw(t, s.TLSAddr(), v, tc.o)
			if ack.ReasonCode != tc.code {
				t.Fatalf("%s: connack 0x%02x, want 0x%02x", tc.name, ack.ReasonCode, tc.code)
			}
			if tc.code != 0 {
				c.expectClosed()
				continue
			}
			c.puback(topicTelemetry, []byte(`{"via":"tls"}`))
			if l := s.Latest(tc.dev); l["via"].Value != "tls" {
				t.Fatalf("%s: latest %v", tc.name, l)
			}
		}
	})
}

func TestCertHashMatchesThingsBoard(t *testing.T) {
	// ThingsBoard strips the PEM armour and line breaks and hashes the rest
	// with SHA3-256 (EncryptionUtil.getSha3Hash).
	_, p := testCert(t, "h", time.Now(), time.Now().Add(time.Hour))
	trimmed := strings.NewReplacer("-----BEGIN CERTIFICATE-----", "", "-----END CERTIFICATE-----", "", "\n", "", "\r", "").Replace(p)
	sum := sha3.Sum256([]byte(trimmed))
	h, err := certHashPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]); h != want {
		t.Fatalf("hash %q, want %q", h, want)
	}
}
