package provision

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbgateway/tbgateway/config"
)

// The files a provisioning writes into the config folder, with the Python gateway's names.
const (
	// FileName is the credentials file: ThingsBoard's provisioning reply as received (plus "caCert" for X.509).
	FileName = ".credentials"
	// CertFile and KeyFile are the X.509 certificate and private key generated for X509_CERTIFICATE.
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// Saved is the content of the credentials file: ThingsBoard's successful provisioning reply, and for X.509
// the CA certificate file of the provisioning section.
type Saved struct {
	CredentialsType string `json:"credentialsType"`
	// CredentialsValue is the token (a JSON string), {"clientId","userName","password"} for MQTT_BASIC, or the
	// certificate for X509_CERTIFICATE.
	CredentialsValue json.RawMessage `json:"credentialsValue"`
	Status           string          `json:"status"`
	CACert           string          `json:"caCert,omitempty"`
}

// basicValue is an MQTT_BASIC credentialsValue.
type basicValue struct {
	ClientID string `json:"clientId"`
	UserName string `json:"userName"`
	Password string `json:"password"`
}

// Load reads the credentials file. A missing file is an error satisfying errors.Is(err, fs.ErrNotExist); a file
// that cannot be read or holds no usable credentials is an error naming it.
func Load(file string) (*Saved, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", file, err)
	}
	var s Saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("credentials file %s: not the JSON a provisioning saves (delete it to provision again): %v", file, err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("credentials file %s: %v (delete it to provision again)", file, err)
	}
	return &s, nil
}

// check reports what makes s unusable.
func (s *Saved) check() error {
	switch s.CredentialsType {
	case TypeAccessToken:
		var tok string
		if json.Unmarshal(s.CredentialsValue, &tok) != nil || tok == "" {
			return errors.New("credentialsValue: expected the access token")
		}
	case TypeBasic:
		var b basicValue
		if json.Unmarshal(s.CredentialsValue, &b) != nil || (b.ClientID == "" && b.UserName == "") {
			return errors.New("credentialsValue: expected {\"clientId\", \"userName\", \"password\"}")
		}
	case TypeX509:
	default:
		return fmt.Errorf("credentialsType: expected one of ACCESS_TOKEN, MQTT_BASIC, X509_CERTIFICATE, found %q", s.CredentialsType)
	}
	return nil
}

// Security returns the security section to connect with: the credentials of s with the TLS settings of
// configured (caCert, tls, insecure). For X.509 these are the generated cert.pem and key.pem, TLS on, and the
// saved caCert when there is one, as the Python gateway connects after such a provisioning.
func (s *Saved) Security(configured config.Security) config.Security {
	sec := tlsOnly(configured)
	switch s.CredentialsType {
	case TypeAccessToken:
		_ = json.Unmarshal(s.CredentialsValue, &sec.AccessToken) // checked by Load
		sec.Type = config.SecurityAccessToken
	case TypeBasic:
		var b basicValue
		_ = json.Unmarshal(s.CredentialsValue, &b)
		sec.Type, sec.ClientID, sec.Username, sec.Password = config.SecurityUsernamePassword, b.ClientID, b.UserName, b.Password
	case TypeX509:
		sec.Type, sec.Cert, sec.PrivateKey, sec.TLS = config.SecurityTLSPrivateKey, CertFile, KeyFile, boolPtr(true)
		if s.CACert != "" {
			sec.CACert = s.CACert
		}
	}
	return sec
}

// encode renders s as the Python gateway writes the file (simplejson's dumps: ", " and ": " separators).
func (s *Saved) encode() []byte {
	var b bytes.Buffer
	field := func(k string, v json.RawMessage) {
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteString(": ")
		b.Write(v)
	}
	str := func(v string) json.RawMessage { j, _ := json.Marshal(v); return j }
	b.WriteByte('{')
	field("credentialsType", str(s.CredentialsType))
	field("credentialsValue", pythonSpacing(s.CredentialsValue))
	field("status", str(s.Status))
	if s.CACert != "" {
		field("caCert", str(s.CACert))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// pythonSpacing re-encodes a compact JSON value with ", " and ": " between members, as Python's dumps does.
func pythonSpacing(v json.RawMessage) json.RawMessage {
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		return v
	}
	var out bytes.Buffer
	inString, escaped := false, false
	for _, ch := range c.Bytes() {
		out.WriteByte(ch)
		switch {
		case inString && escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case !inString && (ch == ',' || ch == ':'):
			out.WriteByte(' ')
		}
	}
	return out.Bytes()
}

// Save writes s to file atomically (a temporary file in the same folder, synced, then renamed) with mode 0600:
// the file holds the gateway's secret.
func Save(file string, s *Saved) error {
	return writeAtomic(file, s.encode(), 0o600)
}

// writeAtomic replaces file with data, mode perm; a reader sees the old content or the new, never a part.
func writeAtomic(file string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(name, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename survives a power loss
		_ = d.Close()
	}
	return nil
}

// RemoveResult is the reply of the gateway_remove_provisioned_credentials RPC, in the Python gateway's shapes:
// {"code":200,"resp":...}, {"code":404,"message":...} or {"code":500,"error":...}.
type RemoveResult map[string]any

// Remove deletes the credentials file, as the gateway_remove_provisioned_credentials RPC does: the connection
// in use is kept; the next start provisions again (or uses thingsboard.security).
func Remove(file string) RemoveResult {
	err := os.Remove(file)
	switch {
	case err == nil:
		return RemoveResult{"code": 200, "resp": "Provisioned credentials file removed successfully."}
	case errors.Is(err, fs.ErrNotExist):
		return RemoveResult{"code": 404, "message": "Provisioned credentials file does not exist."}
	}
	return RemoveResult{"code": 500, "error": strings.TrimSpace(err.Error())}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
