package tbemu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// TestProvisioningX509: as ThingsBoard, an X509_CERTIFICATE request carries the device's certificate in "hash"
// (PEM, or its base64 body); the device is created with that certificate and the reply's credentialsValue is
// the base64 body. Anything that is not a certificate fails.
func TestProvisioningX509(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	body := base64.StdEncoding.EncodeToString(der)
	s := startServer(t, Options{})
	s.AddProvisionProfile("k", "s")
	for _, tc := range []struct{ name, hash, status string }{
		{"X1", certPEM, "SUCCESS"},
		{"X2", "not a certificate", "FAILURE"},
	} {
		c, _ := dialRaw(t, s.MQTTAddr(), 4, connectOpts{user: "provision"})
		c.subscribe(topicProvisionResponse)
		req, _ := json.Marshal(map[string]any{"deviceName": tc.name, "provisionDeviceKey": "k", "provisionDeviceSecret": "s",
			"credentialsType": "X509_CERTIFICATE", "hash": tc.hash})
		c.puback(topicProvisionRequest, req)
		p := c.expect(isPublish(topicProvisionResponse))
		var resp struct{ Status, CredentialsType, CredentialsValue string }
		if err := json.Unmarshal(p.Payload, &resp); err != nil || resp.Status != tc.status {
			t.Fatalf("%s: response %s (%v), want %s", tc.name, p.Payload, err, tc.status)
		}
		if tc.status != "SUCCESS" {
			if _, ok := s.Device(tc.name); ok {
				t.Fatalf("%s: device created by a failed provisioning", tc.name)
			}
			continue
		}
		if resp.CredentialsType != "X509_CERTIFICATE" || resp.CredentialsValue != body {
			t.Fatalf("%s: response %s, want the certificate's base64 body", tc.name, p.Payload)
		}
		if cr, ok := s.DeviceCredentials(tc.name); !ok || cr.CertPEM != certPEM || cr.Token != "" {
			t.Fatalf("%s: credentials %+v", tc.name, cr)
		}
		s.mu.Lock()
		d := s.certs[certHash(der)]
		s.mu.Unlock()
		if d == nil || d.spec.Name != tc.name {
			t.Fatalf("%s: the certificate does not authenticate the device", tc.name)
		}
	}
}
