package tbemu

import (
	"crypto/sha3"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// refusal is a CONNACK failure code in MQTT 5 and 3.x terms (ThingsBoard's table).
type refusal struct{ v5, v3 byte }

var (
	refuseBadCredentials = refusal{0x86, 0x05}
	refuseBadClientID    = refusal{0x85, 0x02}
	refuseNotAuthorized  = refusal{0x87, 0x05}
	refuseUnavailable    = refusal{0x88, 0x03}
)

// provisionName is the username or client id that opens a provisioning session.
const provisionName = "provision"

// certHash is ThingsBoard's X.509 credentials id: the SHA3-256 hex of the
// certificate's base64 DER, i.e. its PEM without armour and line breaks.
func certHash(der []byte) string {
	sum := sha3.Sum256([]byte(base64.StdEncoding.EncodeToString(der)))
	return hex.EncodeToString(sum[:])
}

// certHashPEM parses a PEM certificate and returns its credentials id.
func certHashPEM(p string) (string, error) {
	blk, _ := pem.Decode([]byte(p))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate block")
	}
	return certHash(blk.Bytes), nil
}

func basicKey(clientID, username string) string {
	switch {
	case clientID != "" && username != "":
		return "cu|" + clientID + "|" + username
	case clientID != "":
		return "c|" + clientID
	default:
		return "u|" + username
	}
}

// authenticate decides who a CONNECT is, following ThingsBoard's order
// (as ThingsBoard does). It is called with s.mu held.
func (s *Server) authenticate(cl *mqtt.Client, pk packets.Packet) (dev *device, provision bool, r refusal, ok bool) {
	if time.Now().Before(s.refuseUntil) {
		return nil, false, refuseUnavailable, false
	}
	user := string(pk.Connect.Username)
	pass := string(pk.Connect.Password)
	cid := pk.Connect.ClientIdentifier
	if user == provisionName || cid == provisionName {
		return nil, true, refusal{}, true
	}
	if tc, isTLS := unwrapConn(cl.Net.Conn).(*tls.Conn); isTLS {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			return s.authX509(certs[0])
		}
	}
	if user == "" {
		if d := s.basic[basicKey(cid, "")]; d != nil && cid != "" && d.spec.Password == pass {
			return d, false, refusal{}, true
		}
		switch {
		case pass != "":
			return nil, false, refuseBadCredentials, false
		case cid != "":
			return nil, false, refuseBadClientID, false
		default:
			return nil, false, refuseNotAuthorized, false
		}
	}
	if cid != "" {
		if d := s.basic[basicKey(cid, user)]; d != nil {
			if d.spec.Password != pass {
				return nil, false, refuseBadCredentials, false
			}
			return d, false, refusal{}, true
		}
	}
	if d := s.tokens[user]; d != nil {
		return d, false, refusal{}, true
	}
	if d := s.basic[basicKey("", user)]; d != nil && d.spec.Password == pass {
		return d, false, refusal{}, true
	}
	return nil, false, refuseBadCredentials, false
}

func (s *Server) authX509(c *x509.Certificate) (*device, bool, refusal, bool) {
	now := time.Now()
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, false, refuseNotAuthorized, false
	}
	if d := s.certs[certHash(c.Raw)]; d != nil {
		return d, false, refusal{}, true
	}
	return nil, false, refuseNotAuthorized, false
}

// indexCredentials registers d's credentials; it fails if one is taken by
// another device. Called with s.mu held.
func (s *Server) indexCredentials(d *device) error {
	sp := d.spec
	if sp.Token != "" {
		if o := s.tokens[sp.Token]; o != nil && o != d {
			return fmt.Errorf("device %q: token already used by %q", sp.Name, o.spec.Name)
		}
	}
	var bk string
	if sp.ClientID != "" || sp.Username != "" {
		bk = basicKey(sp.ClientID, sp.Username)
		if o := s.basic[bk]; o != nil && o != d {
			return fmt.Errorf("device %q: mqtt basic credentials already used by %q", sp.Name, o.spec.Name)
		}
	}
	var hash string
	if sp.CertPEM != "" {
		h, err := certHashPEM(sp.CertPEM)
		if err != nil {
			return fmt.Errorf("device %q: certificate: %w", sp.Name, err)
		}
		if o := s.certs[h]; o != nil && o != d {
			return fmt.Errorf("device %q: certificate already used by %q", sp.Name, o.spec.Name)
		}
		hash = h
	}
	if sp.Token != "" {
		s.tokens[sp.Token] = d
	}
	if bk != "" {
		s.basic[bk] = d
	}
	if hash != "" {
		s.certs[hash] = d
		d.certHash = hash
	}
	return nil
}

func (s *Server) unindexCredentials(d *device) {
	if d.spec.Token != "" && s.tokens[d.spec.Token] == d {
		delete(s.tokens, d.spec.Token)
	}
	if d.spec.ClientID != "" || d.spec.Username != "" {
		if k := basicKey(d.spec.ClientID, d.spec.Username); s.basic[k] == d {
			delete(s.basic, k)
		}
	}
	if d.certHash != "" && s.certs[d.certHash] == d {
		delete(s.certs, d.certHash)
	}
}

// AddDevice creates a device, or updates an existing device of the same name
// (its type, gateway flag and credentials). It fails if a credential belongs
// to another device or the name is empty.
func (s *Server) AddDevice(spec DeviceSpec) error {
	if spec.Name == "" {
		return errors.New("add device: empty name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[spec.Name]
	if d == nil {
		d = newDevice(spec)
		if err := s.indexCredentials(d); err != nil {
			return fmt.Errorf("add device: %w", err)
		}
		s.devices[spec.Name] = d
		return nil
	}
	old := d.spec
	s.unindexCredentials(d)
	if spec.Type == "" {
		spec.Type = old.Type
	}
	d.spec = spec
	d.certHash = ""
	if err := s.indexCredentials(d); err != nil {
		d.spec = old
		if err2 := s.indexCredentials(d); err2 != nil {
			s.log.Error("restore credentials", "device", old.Name, "error", err2)
		}
		return fmt.Errorf("update device: %w", err)
	}
	return nil
}

// AddProvisionProfile allows devices to be created through provisioning
// (as ThingsBoard does) with this key and secret.
func (s *Server) AddProvisionProfile(key, secret string) {
	s.mu.Lock()
	s.profiles[key] = secret
	s.mu.Unlock()
}
