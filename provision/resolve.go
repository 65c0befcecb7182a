// Package provision gives the gateway its ThingsBoard credentials as the Python gateway does: the configured
// "security" section, else the credentials saved by an earlier self-provisioning (the Python gateway's
// ".credentials" file in the config folder), else a new self-provisioning with the "provisioning" section (or
// the TB_GW_PROVISIONING_DEVICE_* variables) over ThingsBoard's MQTT provisioning API, whose credentials are then
// saved for the next start. Provisioning variables from the environment go first: with them, saved
// credentials or a new provisioning are used even when "security" holds credentials.
//
// Resolve decides without network I/O (check-config and the start share it); Provision runs the exchange.
package provision

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/tbgateway/tbgateway/config"
)

// Source says where the gateway's credentials come from.
type Source int

// The credential sources, in the Python gateway's order of precedence.
const (
	FromConfig       Source = iota + 1 // thingsboard.security
	FromSaved                          // the .credentials file of an earlier provisioning
	FromProvisioning                   // provisioning at start, not done yet
)

// String names the source for logs.
func (s Source) String() string {
	switch s {
	case FromConfig:
		return "thingsboard.security"
	case FromSaved:
		return "saved credentials"
	case FromProvisioning:
		return "self-provisioning"
	}
	return "none"
}

// Plan is the outcome of Resolve.
type Plan struct {
	Source Source
	// Security is the security section to connect with. For FromSaved it is the configured one (its TLS
	// settings: caCert, tls, insecure) with the saved credentials; for FromProvisioning it holds those TLS
	// settings only, and Provisioned fills in the credentials.
	Security config.Security
	// File is the credentials file (in the config folder).
	File string
	// Request is what a provisioning sends (FromProvisioning only): random credentials and device name are
	// chosen here, as the Python gateway does, when the configuration leaves them out.
	Request *Request
	// Dir is the config folder, where a provisioning writes the credentials file and X.509 key pair.
	Dir string
}

// Resolve decides where cfg's credentials come from, reading the credentials file if it is used. Errors name the
// file or the key: no credentials anywhere (thingsboard.security.accessToken), or a credentials file that cannot
// be read or used. cfg must be loaded (config.Load); it is not modified.
func Resolve(cfg *config.Config) (*Plan, error) {
	tb := cfg.Thingsboard
	p := &Plan{File: filepath.Join(cfg.Dir, FileName), Dir: cfg.Dir}
	fromEnv := tb.Provisioning != nil && tb.Provisioning.FromEnvironment
	if tb.Security.Type != "" && !fromEnv {
		p.Source, p.Security = FromConfig, tb.Security
		return p, nil
	}
	saved, err := Load(p.File)
	switch {
	case err == nil:
		p.Source, p.Security = FromSaved, saved.Security(tb.Security)
		return p, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if tb.Provisioning == nil {
		return nil, &config.Error{File: cfg.File, Path: "thingsboard.security.accessToken", Found: "nothing",
			Expected: "the gateway device's access token (or a username, clientId or cert), credentials saved by an " +
				"earlier provisioning (" + p.File + "), or a thingsboard.provisioning section"}
	}
	req, err := newRequest(tb.Provisioning)
	if err != nil {
		return nil, err
	}
	p.Source, p.Request = FromProvisioning, req
	p.Security = tlsOnly(tb.Security)
	if req.Type == TypeX509 && req.CACert != "" {
		p.Security.CACert = req.CACert
	}
	return p, nil
}

// tlsOnly keeps the TLS settings of a security section, without credentials.
func tlsOnly(s config.Security) config.Security {
	return config.Security{CACert: s.CACert, TLS: s.TLS, Insecure: s.Insecure,
		CheckCertPeriod: s.CheckCertPeriod, CertificateDaysLeft: s.CertificateDaysLeft}
}

// StandIn returns p.Security with credentials of the type the provisioning will bring (the values are
// placeholders): the link's settings can be checked before the credentials exist. Provisioned replaces them.
func (p *Plan) StandIn() config.Security {
	s := p.Security
	if p.Source != FromProvisioning {
		return s
	}
	switch p.Request.Type {
	case TypeBasic:
		s.Type, s.ClientID, s.Username, s.Password = config.SecurityUsernamePassword, p.Request.ClientID, p.Request.Username, p.Request.Password
	case TypeX509:
		s.Type, s.Cert, s.PrivateKey, s.TLS = config.SecurityTLSPrivateKey, CertFile, KeyFile, boolPtr(true)
	default:
		s.Type, s.AccessToken = config.SecurityAccessToken, p.Request.AccessToken
	}
	return s
}

// Credentials types of the provisioning API (thingsboard.provisioning.type).
const (
	TypeAccessToken = "ACCESS_TOKEN"
	TypeBasic       = "MQTT_BASIC"
	TypeX509        = "X509_CERTIFICATE"
)

// Request is one provisioning request: the provision key and secret of a device profile, the device name, and
// the credentials the gateway proposes.
type Request struct {
	Key, Secret string
	DeviceName  string
	Type        string // TypeAccessToken, TypeBasic or TypeX509
	AccessToken string // TypeAccessToken
	ClientID    string // TypeBasic
	Username    string // TypeBasic
	Password    string // TypeBasic
	// CACert is the CA certificate file of ThingsBoard's TLS listener (TypeX509), saved with the credentials.
	CACert string
	// KeyFrom and SecretFrom name the key and the secret in messages: the config key or the variable.
	KeyFrom, SecretFrom, NameFrom string
}

// newRequest fills the values the configuration leaves out as the Python gateway does: a random device name
// "Gateway xxxxx", and random credentials of the type asked for.
func newRequest(pr *config.Provisioning) (*Request, error) {
	r := &Request{Key: pr.ProvisionDeviceKey, Secret: pr.ProvisionDeviceSecret, DeviceName: pr.DeviceName,
		Type: strings.ToUpper(pr.Type), AccessToken: pr.AccessToken, ClientID: pr.ClientID, Username: pr.Username,
		Password: pr.Password, CACert: pr.CACert,
		KeyFrom: "thingsboard.provisioning.provisionDeviceKey", SecretFrom: "thingsboard.provisioning.provisionDeviceSecret",
		NameFrom: "thingsboard.provisioning.deviceName"}
	if pr.FromEnvironment {
		r.KeyFrom, r.SecretFrom, r.NameFrom = "TB_GW_PROVISIONING_DEVICE_KEY", "TB_GW_PROVISIONING_DEVICE_SECRET", "TB_GW_PROVISIONING_DEVICE_NAME"
	}
	if r.Type == "" {
		r.Type = TypeAccessToken
	}
	if r.DeviceName == "" {
		r.DeviceName = "Gateway " + randomLetters(5)
	}
	switch r.Type {
	case TypeAccessToken:
		if r.AccessToken == "" {
			r.AccessToken = randomLetters(20)
		}
	case TypeBasic:
		for _, f := range []*string{&r.ClientID, &r.Username, &r.Password} {
			if *f == "" {
				*f = randomLetters(20)
			}
		}
	case TypeX509:
	default:
		return nil, fmt.Errorf("thingsboard.provisioning.type: expected one of ACCESS_TOKEN, MQTT_BASIC, X509_CERTIFICATE, found %q", pr.Type)
	}
	return r, nil
}

// randomLetters returns n random lower-case letters (the Python gateway's alphabet for generated values).
func randomLetters(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails (crypto/rand)
		for _, c := range buf {
			// Bytes from 234 up are skipped so that every letter is equally likely (234 = 9·26).
			if c < 234 && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func boolPtr(b bool) *bool { return &b }
