package modbus

import (
	"crypto/tls"
	"fmt"
	"os"
)

// slaveTLSConfig builds the TLS server configuration of the slave's "security" section: its certificate
// chain and key (PEM files; a password-protected key is decrypted with password, as for a device's tls
// section). Clients are not asked for a certificate, as in the Python gateway.
func slaveTLSConfig(s *SlaveTLS) (*tls.Config, error) {
	if s == nil {
		return nil, fmt.Errorf("type tls needs certfile and keyfile")
	}
	certPEM, err := os.ReadFile(s.CertFile)
	if err != nil {
		return nil, fmt.Errorf("certfile: %w", err)
	}
	keyPEM, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if s.Password != "" {
		if keyPEM, err = decryptPEMKey(keyPEM, s.Password); err != nil {
			return nil, fmt.Errorf("keyfile %s: %w", s.KeyFile, err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certfile %s with keyfile %s: %w", s.CertFile, s.KeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
