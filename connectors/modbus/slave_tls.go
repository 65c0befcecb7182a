package modbus

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// slaveTLSConfig builds the TLS server configuration of the slave's "security" section: its certificate
// chain and key (PEM files; an encrypted key is decrypted with password). Clients are not asked for a
// certificate, as in the Python gateway.
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
	if keyPEM, err = decryptKey(keyPEM, s.Password); err != nil {
		return nil, fmt.Errorf("keyfile %s: %w", s.KeyFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certfile %s with keyfile %s: %w", s.CertFile, s.KeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// decryptKey returns the key PEM decrypted with password when it is encrypted the legacy OpenSSL way
// ("Proc-Type: 4,ENCRYPTED"); other keys are returned as they are. An encrypted PKCS#8 key is refused with a
// message saying how to convert it.
func decryptKey(keyPEM []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("an encrypted PKCS#8 key is not supported; convert it with: openssl pkey -in KEY -out KEY.plain (or -traditional -aes256)")
	}
	// legacy PEM encryption is deprecated, but it is what such key files carry
	if !x509.IsEncryptedPEMBlock(block) {
		return keyPEM, nil
	}
	if password == "" {
		return nil, fmt.Errorf("the key is encrypted and security.password is empty")
	}
	der, err := x509.DecryptPEMBlock(block, []byte(password))
	if err != nil {
		return nil, fmt.Errorf("decrypt with security.password: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
}
