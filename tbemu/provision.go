package tbemu

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// handleProvision serves a provisioning session (as ThingsBoard does): only
// /provision/request is allowed; anything else gets PUBACK 0x90 and the
// connection closes.
func (s *Server) handleProvision(ss *session, pk packets.Packet) outcome {
	if pk.TopicName != topicProvisionRequest {
		return outcome{ack: true, reason: rcTopicInvalid, close: true, discode: rcTopicInvalid}
	}
	var req struct {
		Key             *string `json:"provisionDeviceKey"`
		Secret          *string `json:"provisionDeviceSecret"`
		DeviceName      *string `json:"deviceName"`
		CredentialsType string  `json:"credentialsType"`
		Token           string  `json:"token"`
		ClientID        string  `json:"clientId"`
		Username        string  `json:"username"`
		Password        string  `json:"password"`
		Hash            string  `json:"hash"`
		Gateway         bool    `json:"gateway"`
	}
	if !validJSON(pk.Payload) || json.Unmarshal(pk.Payload, &req) != nil {
		return outcomeA(ss)
	}
	out := ackOK()
	resp := s.provision(req.Key, req.Secret, req.DeviceName, req.CredentialsType, DeviceSpec{
		Token: req.Token, ClientID: req.ClientID, Username: req.Username, Password: req.Password, Gateway: req.Gateway,
	}, req.Hash)
	s.mu.Lock()
	qos := ss.qosFor(topicProvisionResponse)
	s.mu.Unlock()
	out.send = append(out.send, outbound{ss: ss, topic: topicProvisionResponse, payload: marshal(resp), qos: qos})
	s.after(s.opts.ProvisionCloseDelay, func() { s.closeSession(ss, 0) })
	return out
}

var (
	provisionNotFound = map[string]string{"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
	provisionFailure  = map[string]string{"errorMsg": "Failed to provision device!", "status": "FAILURE"}
)

// provision creates a device for a valid key/secret pair and returns the
// response body.
func (s *Server) provision(key, secret, name *string, credType string, spec DeviceSpec, hash string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == nil || secret == nil {
		return provisionNotFound
	}
	if want, ok := s.profiles[*key]; !ok || want != *secret {
		return provisionNotFound
	}
	if name == nil {
		spec.Name = rand.Text()[:20]
	} else {
		spec.Name = *name
	}
	if spec.Name == "" || s.devices[spec.Name] != nil {
		return provisionFailure
	}
	d := newDevice(spec)
	var value any
	switch credType {
	case "", "ACCESS_TOKEN":
		credType = "ACCESS_TOKEN"
		d.spec.ClientID, d.spec.Username, d.spec.Password = "", "", ""
		if d.spec.Token == "" {
			d.spec.Token = rand.Text()[:20]
		}
		value = d.spec.Token
	case "MQTT_BASIC":
		d.spec.Token = ""
		if d.spec.ClientID == "" && d.spec.Username == "" {
			return provisionFailure
		}
		value = map[string]string{"clientId": d.spec.ClientID, "userName": d.spec.Username, "password": d.spec.Password}
	case "X509_CERTIFICATE":
		// As ThingsBoard: "hash" carries the device's certificate (PEM, or its base64 body); the credentials
		// id is derived from it and the value returned is the base64 body.
		d.spec.Token, d.spec.ClientID, d.spec.Username, d.spec.Password = "", "", "", ""
		certPEM, body, ok := provisionedCert(hash)
		if !ok {
			return provisionFailure
		}
		d.spec.CertPEM = certPEM
		value = body
	default:
		return provisionFailure
	}
	if err := s.indexCredentials(d); err != nil {
		return provisionFailure
	}
	d.created = time.Now()
	s.devices[d.spec.Name] = d
	s.log.Info("device provisioned", "device", d.spec.Name, "credentials", credType)
	return map[string]any{"credentialsType": credType, "credentialsValue": value, "status": "SUCCESS"}
}

// provisionedCert reads the certificate of an X509_CERTIFICATE provisioning request: PEM, or the base64 body of
// one. It returns the PEM and the base64 body.
func provisionedCert(hash string) (string, string, bool) {
	der := []byte(nil)
	if blk, _ := pem.Decode([]byte(hash)); blk != nil && blk.Type == "CERTIFICATE" {
		der = blk.Bytes
	} else if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(hash), "")); err == nil {
		der = b
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", "", false
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), base64.StdEncoding.EncodeToString(der), true
}
