package modbus

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	mb "github.com/simonvetter/modbus"
	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for systems without any (a scratch container)

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// TLSConfig is Modbus/TCP Security for one master.slaves entry: the "tls" section with pymodbus's key names
// (certfile, keyfile, password: the client certificate presented to the device) and our "cafile" (the CA that
// signs the device's certificate). The device's certificate is always verified, host name included: against
// CAFile when set, else the system roots (else the bundle built into the binary). There is never a fallback to
// plain TCP.
type TLSConfig struct {
	CertFile string // PEM certificate chain; may hold the key too when KeyFile is empty
	KeyFile  string // PEM private key
	Password string // decrypts an encrypted PEM key
	CAFile   string // PEM CA certificates; empty: the system roots
}

// decodeTLS reads a slave entry's "tls" section and says whether the device speaks TLS: when its type or its
// method is "tls", or when the section holds a key (the Python gateway turns TLS on for type tcp with a
// non-empty "tls"). TLS runs over TCP only; elsewhere the section is a warning.
func decodeTLS(o *confjson.Object, dev *Device) *TLSConfig {
	d := o.Decoder()
	sec := o.Object("tls")
	defer sec.Done()
	cfg := &TLSConfig{}
	if sec != nil {
		cfg.CertFile, cfg.KeyFile = sec.String("certfile", ""), sec.String("keyfile", "")
		cfg.Password, cfg.CAFile = sec.String("password", ""), sec.String("cafile", "")
		if cfg.KeyFile != "" && cfg.CertFile == "" {
			d.FailMissing(sec.Key("certfile"), "the client certificate file that goes with keyfile")
		}
	}
	set := sec != nil && len(sec.Keys()) > 0
	switch {
	case dev.Transport != "tcp" && dev.Transport != "tls":
		if sec != nil {
			d.Warn(o.Key("tls"), fmt.Sprintf("ignored: TLS runs over TCP only, not type %q (as in the Python gateway)", dev.Transport))
		}
		return nil
	case dev.Transport == "tls", dev.Method == "tls", set:
		return cfg
	case sec != nil:
		d.Warn(o.Key("tls"), `an empty section leaves TLS off, as in the Python gateway; set type "tls", or certfile or cafile`)
	}
	return nil
}

// apply sets the client certificate and the CA roots of a tcp+tls client configuration; a nil TLSConfig does
// nothing. It reads the files, so a renewed certificate is used from the next connection on.
func (t *TLSConfig) apply(cc *mb.ClientConfiguration) error {
	if t == nil {
		return nil
	}
	// simonvetter/modbus insists on a client certificate; an empty one is never presented (crypto/tls sends
	// no certificate when the one it has cannot sign), which is what a section without certfile means.
	cert := &tls.Certificate{}
	if t.CertFile != "" {
		pair, err := t.keyPair()
		if err != nil {
			return err
		}
		cert = &pair
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	cc.TLSClientCert, cc.TLSRootCAs = cert, roots
	return nil
}

func (t *TLSConfig) roots() (*x509.CertPool, error) {
	if t.CAFile == "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("system CA roots: %w", err)
		}
		return pool, nil
	}
	b, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read tls.cafile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls.cafile %s: no PEM certificate found", t.CAFile)
	}
	return pool, nil
}

func (t *TLSConfig) keyPair() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read tls.certfile: %w", err)
	}
	keyPEM := certPEM
	if t.KeyFile != "" {
		if keyPEM, err = os.ReadFile(t.KeyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("read tls.keyfile: %w", err)
		}
	}
	if t.Password != "" {
		if keyPEM, err = decryptPEMKey(keyPEM, t.Password); err != nil {
			return tls.Certificate{}, fmt.Errorf("tls.keyfile: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls.certfile %s / keyfile %s: %w", t.CertFile, t.KeyFile, err)
	}
	return pair, nil
}

// decryptPEMKey decrypts the password-protected private key (RFC 1423 "Proc-Type: 4,ENCRYPTED") among the PEM
// blocks; blocks that are not encrypted pass unchanged.
func decryptPEMKey(b []byte, password string) ([]byte, error) {
	var out []byte
	for {
		block, rest := pem.Decode(b)
		if block == nil {
			return out, nil
		}
		b = rest
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("a PKCS#8-encrypted key is not supported; convert it with openssl pkcs8 or openssl rsa -aes256")
		//lint:ignore SA1019 legacy PEM encryption is the format a password-protected key file of Python's ssl has
		case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck
			der, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
			if err != nil {
				return nil, fmt.Errorf("decrypt the private key: %w", err)
			}
			block = &pem.Block{Type: block.Type, Bytes: der}
		}
		out = append(out, pem.EncodeToMemory(block)...)
	}
}
