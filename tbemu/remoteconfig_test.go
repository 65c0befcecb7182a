package tbemu

import (
	"encoding/json"
	"testing"
)

// TestGatewayDeviceRemoteConfiguration plays ThingsBoard's gateway pages over the HTTP API: the gateway's own
// client attributes (JSON objects) are read back, a shared attribute of the gateway device is pushed on
// v1/devices/me/attributes, and an attribute request without keys answers both scopes.
func TestGatewayDeviceRemoteConfiguration(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{HTTPAddr: "127.0.0.1:0"})
		u := s.HTTPURL() + "/api/devices/gw/attributes/"
		c := connectGateway(t, s, v)
		c.subscribe(topicAttributes, topicAttrResponseSub)
		if ack := c.puback(topicAttributes, []byte(`{"active_connectors":["Modbus"],"Modbus":{"name":"Modbus","ts":5}}`)); ack.ReasonCode != 0 {
			t.Fatalf("client attributes: puback 0x%02x", ack.ReasonCode)
		}
		if code, body := httpDo(t, "GET", u+"client", ""); code != 200 || body != `{"Modbus":{"name":"Modbus","ts":5},"active_connectors":["Modbus"]}` {
			t.Fatalf("client attributes: %d %s", code, body)
		}
		if got, _ := s.Attributes("gw", ScopeClient)["Modbus"].(json.RawMessage); string(got) != `{"name":"Modbus","ts":5}` {
			t.Fatalf("Attributes(client)[Modbus] = %s", got)
		}

		if code, body := httpDo(t, "POST", u+"shared", `{"Modbus":{"name":"Modbus","configurationJson":{"a":1},"ts":6}}`); code != 204 {
			t.Fatalf("shared write: %d %s", code, body)
		}
		if p := c.expect(isPublish(topicAttributes)); string(p.Payload) != `{"Modbus":{"name":"Modbus","configurationJson":{"a":1},"ts":6}}` {
			t.Fatalf("push %s", p.Payload)
		}
		c.publish(topicAttrRequestPfx+"7", []byte(`{}`), 1)
		want := `{"client":{"Modbus":{"name":"Modbus","ts":5},"active_connectors":["Modbus"]},"shared":{"Modbus":{"name":"Modbus","configurationJson":{"a":1},"ts":6}}}`
		if p := c.expect(isPublish(topicAttrResponsePfx + "7")); string(p.Payload) != want {
			t.Fatalf("attribute response %s, want %s", p.Payload, want)
		}
	})
}
