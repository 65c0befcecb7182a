package opcua

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// userIdentity is the user identity token a session activates with, chosen from server.identity.
type userIdentity struct {
	token ua.UserTokenType
	opts  []opcua.Option
	// describe names the identity in error messages (never the password or the key).
	describe string
}

// isCertType reports whether an identity type is one of the Python connector's certificate identities.
func isCertType(t string) bool {
	switch strings.ToLower(t) {
	case "cert.pem", "certificates", "cert":
		return true
	}
	return false
}

// chooseIdentity picks the user identity token for endpoint ep. As in the Python connector a username, whatever
// the type, is sent as a username token. A certificate identity (cert.PEM) without a username is sent as an
// X.509 user identity token made of the client certificate and its key (der, key) when the endpoint offers
// certificate tokens; an endpoint that offers none gets the anonymous token, which is all the Python connector
// ever sends for cert.PEM.
func (c *Connector) chooseIdentity(ep *ua.EndpointDescription, der []byte, key *rsa.PrivateKey) userIdentity {
	id := &c.cfg.Server.Identity
	switch {
	case strings.EqualFold(id.Type, "username") || id.Username != "":
		return userIdentity{
			token:    ua.UserTokenTypeUserName,
			opts:     []opcua.Option{opcua.AuthUsername(id.Username, id.Password)},
			describe: fmt.Sprintf("user name %q (server.identity.username)", id.Username),
		}
	case isCertType(id.Type) && offersToken(ep, ua.UserTokenTypeCertificate):
		return userIdentity{
			token:    ua.UserTokenTypeCertificate,
			opts:     []opcua.Option{opcua.AuthCertificate(der), opcua.AuthPrivateKey(key)},
			describe: "X.509 user certificate " + certName(der, firstOf(id.Cert, id.PathToClientCt)),
		}
	}
	return userIdentity{token: ua.UserTokenTypeAnonymous, opts: []opcua.Option{opcua.AuthAnonymous()}, describe: "anonymous user"}
}

// offersToken reports whether the endpoint accepts user identity tokens of type t.
func offersToken(ep *ua.EndpointDescription, t ua.UserTokenType) bool {
	for _, p := range ep.UserIdentityTokens {
		if p.TokenType == t {
			return true
		}
	}
	return false
}

// certName describes a certificate by its subject and, when it came from a file, the file (server.identity.cert).
func certName(der []byte, file string) string {
	subject := "(unparsable)"
	if cert, err := x509.ParseCertificate(der); err == nil {
		subject = cert.Subject.String()
	}
	if file == "" {
		return fmt.Sprintf("%q (generated)", subject)
	}
	return fmt.Sprintf("%q from %s (server.identity.cert)", subject, file)
}

// identityRefused reports whether a connect error is the server refusing the user identity token.
func identityRefused(err error) bool {
	for _, code := range []ua.StatusCode{ua.StatusBadIdentityTokenRejected, ua.StatusBadIdentityTokenInvalid,
		ua.StatusBadUserAccessDenied, ua.StatusBadUserSignatureInvalid} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}
