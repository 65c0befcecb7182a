package tbemu

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestProvisioning(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		s.AddProvisionProfile("key1", "secret1")
		for _, tc := range []struct{ req, status string }{
			{`{"deviceName":"P1","provisionDeviceKey":"key1","provisionDeviceSecret":"secret1"}`, "SUCCESS"},
			{`{"deviceName":"P1","provisionDeviceKey":"key1","provisionDeviceSecret":"secret1"}`, "FAILURE"},
			{`{"deviceName":"P2","provisionDeviceKey":"key1","provisionDeviceSecret":"wrong"}`, "NOT_FOUND"},
			{`{"deviceName":"P2","provisionDeviceKey":"key1"}`, "NOT_FOUND"},
			{`{"deviceName":"","provisionDeviceKey":"key1","provisionDeviceSecret":"secret1"}`, "FAILURE"},
			{`{"deviceName":"P3","provisionDeviceKey":"key1","provisionDeviceSecret":"secret1","credentialsType":"MQTT_BASIC","clientId":"c3","username":"u3","password":"p3"}`, "SUCCESS"},
			{`{"provisionDeviceKey":"key1","provisionDeviceSecret":"secret1","gateway":true}`, "SUCCESS"},
		} {
			c, _ := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "provision"})
			if ack := c.subscribe(topicProvisionResponse, topicAttributes); ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] < 0x80 {
				t.Fatalf("provision suback % x", ack.ReasonCodes)
			}
			c.puback(topicProvisionRequest, []byte(tc.req))
			p := c.expect(isPublish(topicProvisionResponse))
			var resp struct {
				Status, CredentialsType string
				CredentialsValue        json.RawMessage
			}
			if err := json.Unmarshal(p.Payload, &resp); err != nil || resp.Status != tc.status {
				t.Fatalf("%s: response %s (%v), want %s", tc.req, p.Payload, err, tc.status)
			}
			if tc.status != "SUCCESS" {
				continue
			}
			var o connectOpts
			if resp.CredentialsType == "ACCESS_TOKEN" {
				if err := json.Unmarshal(resp.CredentialsValue, &o.user); err != nil {
					t.Fatal(err)
				}
			} else {
				var b struct{ ClientID, UserName, Password string }
				if err := json.Unmarshal(resp.CredentialsValue, &b); err != nil || b.UserName != "u3" {
					t.Fatalf("basic credentials %s", resp.CredentialsValue)
				}
				o = connectOpts{clientID: b.ClientID, user: b.UserName, pass: b.Password}
			}
			if _, ack := dialRaw(t, s.MQTTAddr(), v, o); ack.ReasonCode != 0 {
				t.Fatalf("connect with provisioned credentials: 0x%02x", ack.ReasonCode)
			}
		}
		if d := s.Devices(); len(d) != 5 {
			t.Fatalf("devices %+v", d)
		}
		// Any other topic on a provisioning session: 0x90 and close.
		c, _ := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "provision"})
		id := c.publish(topicTelemetry, []byte(`{"a":1}`), 1)
		seen := c.expectClosed()
		if len(seen) == 0 || !isPuback(id)(seen[0]) || (v == 5 && seen[0].ReasonCode != 0x90) {
			t.Fatalf("got %v", seen)
		}
	})
}

func TestRenameAndDeleteNotifyGateway(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	c.puback(topicGwConnect, []byte(`{"device":"A"}`))
	if err := s.RenameDevice("A", "B"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Device("B"); !ok {
		t.Fatal("renamed device missing")
	}
	// Held until the gateway subscribes to RPC.
	if seen := c.sync(); len(seen) != 0 {
		t.Fatalf("sent before subscription: %v", types(seen))
	}
	c.subscribe(topicRPCRequestSub)
	p := c.expect(isPublish(topicRPCRequestPfx + "0"))
	if string(p.Payload) != `{"method":"gateway_device_renamed","params":{"A":"B"}}` {
		t.Fatalf("rename notice %s", p.Payload)
	}
	if err := s.DeleteDevice("B"); err != nil {
		t.Fatal(err)
	}
	p = c.expect(isPublish(topicRPCRequestPfx + "1"))
	if string(p.Payload) != `{"method":"gateway_device_deleted","params":"B"}` {
		t.Fatalf("delete notice %s", p.Payload)
	}
	if _, ok := s.Device("B"); ok {
		t.Fatal("deleted device still there")
	}
}

func TestServerSideRPCToDirectDevice(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c, _ := dialRaw(t, s.MQTTAddr(), v, connectOpts{user: "devtoken"})
		c.subscribe(topicRPCRequestSub)
		done := make(chan json.RawMessage, 1)
		go func() {
			r, err := s.RPC(t.Context(), "dev", "getState", json.RawMessage(`"x"`), false, waitBound)
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
		p := c.expect(isPublish(topicRPCRequestPfx + "0"))
		if string(p.Payload) != `{"method":"getState","params":"x"}` {
			t.Fatalf("request %s", p.Payload)
		}
		c.puback(topicRPCResponsePfx+"0", []byte(`{"state":1}`))
		if r := <-done; string(r) != `{"state":1}` {
			t.Fatalf("reply %s", r)
		}
	})
}

func TestClientSideRPC(t *testing.T) {
	s := startServer(t, Options{ClientRPCTimeout: time.Millisecond})
	c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	c.publish(topicRPCRequestPfx+"1", []byte(`{"method":"unknown","params":{}}`), 1) // reply may beat the PUBACK
	if p := c.expect(isPublish(topicRPCResponsePfx + "1")); string(p.Payload) != `{"error":"timeout"}` {
		t.Fatalf("reply %s", p.Payload)
	}
	s.SetClientRPCHandler(func(device, method string, params json.RawMessage) (json.RawMessage, bool) {
		return json.RawMessage(`{"time":` + string(params) + `}`), device == "dev" && method == "getTime"
	})
	c.publish(topicRPCRequestPfx+"2", []byte(`{"method":"getTime","params":5}`), 1)
	if p := c.expect(isPublish(topicRPCResponsePfx + "2")); string(p.Payload) != `{"time":5}` {
		t.Fatalf("reply %s", p.Payload)
	}
}

func TestPubAckFaults(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	s.WithholdPubAcks(true)
	c.publish(topicGwTelemetry, []byte(`{"A":[{"x":1}]}`), 1)
	if seen := c.sync(); len(seen) != 0 {
		t.Fatalf("withheld, got %v", types(seen))
	}
	if l := s.Latest("A"); l["x"].Value != int64(1) {
		t.Fatal("withheld message not stored")
	}
	s.WithholdPubAcks(false)
	s.SetPubAckDelay(time.Hour)
	c.publish(topicGwTelemetry, []byte(`{"A":[{"x":2}]}`), 1)
	if seen := c.sync(); len(seen) != 0 {
		t.Fatalf("delayed by an hour, got %v", types(seen))
	}
	s.SetPubAckDelay(time.Millisecond)
	c.puback(topicGwTelemetry, []byte(`{"A":[{"x":3}]}`))
}

func TestDropPublishes(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	logged := len(s.Messages())
	rec := httptest.NewRecorder() // the fault API turns it on
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/faults/puback", strings.NewReader(`{"drop":true}`)))
	if rec.Code != 204 {
		t.Fatalf("POST /api/faults/puback drop: %d %s", rec.Code, rec.Body)
	}
	c.publish(topicGwTelemetry, []byte(`{"A":[{"x":1}]}`), 1)
	if seen := c.sync(); len(seen) != 0 {
		t.Fatalf("dropped, got %v", types(seen))
	}
	if l := s.Latest("A"); len(l) != 0 {
		t.Fatalf("dropped message stored: %v", l)
	}
	if n := len(s.Messages()); n != logged || s.DroppedPublishes() != 1 {
		t.Fatalf("messages logged %d (before %d), dropped %d; want the drop counted, not logged", n, logged, s.DroppedPublishes())
	}
	s.DropPublishes(false)
	c.puback(topicGwTelemetry, []byte(`{"A":[{"x":2}]}`))
	if l := s.Latest("A"); l["x"].Value != int64(2) || s.DroppedPublishes() != 1 {
		t.Fatalf("after the fault: latest %v, dropped %d", l, s.DroppedPublishes())
	}
}

func TestRateLimits(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		t.Run("gateway messages", func(t *testing.T) {
			s := startServer(t, Options{})
			s.SetRateLimits(RateLimits{Messages: "3:3600"}, RateLimits{})
			c := connectGateway(t, s, v)
			c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":1,"values":{"x":1}}]}`)) // 1 message + 1 device created
			c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":2,"values":{"x":2}}]}`))
			id := c.publish(topicGwTelemetry, []byte(`{"A":[{"x":3}]}`), 1)
			seen := c.expectClosed()
			wantReason := byte(0)
			if v == 5 {
				wantReason = 0x97
			}
			if len(seen) == 0 || !isPuback(id)(seen[0]) || seen[0].ReasonCode != wantReason {
				t.Fatalf("got %v", seen)
			}
			if v == 5 && (len(seen) < 2 || string(seen[1].Payload) != `{"device":"A","reason":150}`) {
				t.Fatalf("no 150 notice: %v", seen)
			}
			if got := s.Telemetry("A", "x"); len(got) != 2 {
				t.Fatalf("stored %v", got)
			}
		})
		t.Run("device datapoints", func(t *testing.T) {
			s := startServer(t, Options{})
			s.SetRateLimits(RateLimits{}, RateLimits{TelemetryDataPoints: "3:3600"})
			c := connectGateway(t, s, v)
			c.puback(topicGwTelemetry, []byte(`{"A":[{"x":1,"y":2}],"B":[{"x":1,"y":2}]}`))
			c.publish(topicGwTelemetry, []byte(`{"A":[{"x":1,"y":2}]}`), 1)
			c.expectClosed()
		})
		t.Run("gateway own device api", func(t *testing.T) {
			s := startServer(t, Options{})
			s.SetRateLimits(RateLimits{Messages: "1:3600"}, RateLimits{})
			c := connectGateway(t, s, v)
			c.puback(topicTelemetry, []byte(`{"x":1}`))
			c.publish(topicTelemetry, []byte(`{"x":2}`), 1)
			seen := c.expectClosed()
			for _, p := range seen {
				if p.FixedHeader.Type == packets.Puback {
					t.Fatalf("PUBACK after device-api rate limit: %v", seen)
				}
			}
			if v == 5 && (len(seen) != 1 || seen[0].ReasonCode != 0x83) {
				t.Fatalf("want DISCONNECT 0x83, got %v", seen)
			}
		})
	})
}

func TestTelemetryStoreSemantics(t *testing.T) {
	s := startServer(t, Options{MaxValuesPerKey: 3})
	c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	c.puback(topicTelemetry, []byte(`[{"ts":5,"values":{"k":1}},{"ts":3,"values":{"k":2}},{"ts":5,"values":{"k":3}},{"ts":1,"values":{"k":4}},{"ts":7,"values":{"k":5,"nul":null}}]`))
	want := []TSValue{{3, int64(2)}, {5, int64(3)}, {7, int64(5)}}
	if got := s.Telemetry("dev", "k"); !equalTS(got, want) {
		t.Fatalf("k = %v, want %v", got, want)
	}
	if got := s.Telemetry("dev", "nul"); got != nil {
		t.Fatalf("null stored: %v", got)
	}
	// {"ts":..} without "values" is a flat entry: "ts" becomes a key.
	c.puback(topicTelemetry, []byte(`{"ts":9,"other":1}`))
	if l := s.Latest("dev"); l["ts"].Value != int64(9) || l["other"].Value != int64(1) {
		t.Fatalf("latest %v", l)
	}
}

func equalTS(a, b []TSValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRawLogBounded(t *testing.T) {
	s := startServer(t, Options{MaxRawLog: 2})
	c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	for _, p := range []string{`{"a":1}`, `{"a":1}`, `{"a":2}`} {
		c.puback(topicTelemetry, []byte(p))
	}
	m := s.Messages()
	if s.MessageCount() != 3 || len(m) != 2 || m[0].Seq != 2 || string(m[1].Payload) != `{"a":2}` {
		t.Fatalf("log %+v", m)
	}
}

func TestStateFileRoundTrip(t *testing.T) {
	path := t.TempDir() + "/state.json"
	s1, err := Start(t.Context(), Options{StateFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.AddDevice(DeviceSpec{Name: "d", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	c, _ := dialRaw(t, s1.MQTTAddr(), 5, connectOpts{user: "tok"})
	c.puback(topicTelemetry, []byte(`{"ts":1,"values":{"f":1.0,"s":"x","j":[1]}}`))
	if err := s1.SetSharedAttributes("d", map[string]any{"a": 2.0}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	s2 := startServer(t, Options{StateFile: path})
	if l := s2.Latest("d"); l["f"].Value != 1.0 || l["s"].Value != "x" || string(l["j"].Value.(json.RawMessage)) != "[1]" {
		t.Fatalf("latest after reload %v", l)
	}
	if a := s2.Attributes("d", ScopeShared); a["a"] != 2.0 {
		t.Fatalf("shared after reload %v", a)
	}
	if _, ack := dialRaw(t, s2.MQTTAddr(), 5, connectOpts{user: "tok"}); ack.ReasonCode != 0 {
		t.Fatalf("token after reload: 0x%02x", ack.ReasonCode)
	}
}

func TestShortTopics(t *testing.T) {
	s := startServer(t, Options{})
	c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	c.subscribe(topicAttributesV2, topicAttrResponseSub2, topicRPCRequestSubV2)
	c.puback("v2/t", []byte(`{"ts":3,"values":{"v":1}}`))
	c.puback("v2/a/j", []byte(`{"fw":"x"}`))
	if l := s.Latest("dev"); l["v"].TS != 3 {
		t.Fatalf("latest %v", l)
	}
	c.publish("v2/a/req/4", []byte(`{"clientKeys":"fw"}`), 1)
	if p := c.expect(isPublish("v2/a/res/4")); string(p.Payload) != `{"client":{"fw":"x"}}` {
		t.Fatalf("attr response %s", p.Payload)
	}
	if err := s.SetSharedAttributes("dev", map[string]any{"s": 1}); err != nil {
		t.Fatal(err)
	}
	c.expect(isPublish(topicAttributesV2))
	done := make(chan error, 1)
	go func() {
		_, err := s.RPC(t.Context(), "dev", "m", nil, false, waitBound)
		done <- err
	}()
	c.expect(isPublish("v2/r/req/0"))
	c.publish("v2/r/res/0", []byte(`{}`), 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestClaim(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		s := startServer(t, Options{})
		c := connectGateway(t, s, v)
		c.puback(topicClaim, []byte(`{"secretKey":"own","durationMs":1000}`))
		c.puback(topicGwClaim, []byte(`{"A":{"secretKey":"s","durationMs":60000},"B":5}`))
		if cl, ok := s.Claim("A"); !ok || string(cl) != `{"secretKey":"s","durationMs":60000}` {
			t.Fatalf("claim A %s", cl)
		}
		if cl, ok := s.Claim("gw"); !ok || string(cl) != `{"secretKey":"own","durationMs":1000}` {
			t.Fatalf("claim gw %s", cl)
		}
		if _, ok := s.Claim("B"); ok {
			t.Fatal("non-object claim entry kept")
		}
	})
}

func TestAddDeviceUpdatesAndRejectsTakenCredentials(t *testing.T) {
	s := startServer(t, Options{})
	if err := s.AddDevice(DeviceSpec{Name: "other", Token: "devtoken"}); err == nil {
		t.Fatal("token of another device accepted")
	}
	if err := s.AddDevice(DeviceSpec{Name: "dev", Token: "newtoken", Gateway: true}); err != nil {
		t.Fatal(err)
	}
	if _, ack := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"}); ack.ReasonCode != 0x86 {
		t.Fatalf("old token: 0x%02x", ack.ReasonCode)
	}
	c, ack := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "newtoken"})
	if ack.ReasonCode != 0 {
		t.Fatalf("new token: 0x%02x", ack.ReasonCode)
	}
	if a := c.puback(topicGwConnect, []byte(`{"device":"X"}`)); a.ReasonCode != 0 {
		t.Fatalf("gateway flag not applied: 0x%02x", a.ReasonCode)
	}
	if err := s.AddDevice(DeviceSpec{}); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestUnsubscribeStopsPushes(t *testing.T) {
	s := startServer(t, Options{})
	c, _ := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "devtoken"})
	c.subscribe(topicAttributes)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: c.id(),
		Filters: packets.Subscriptions{{Filter: topicAttributes}}})
	c.sync()
	if err := s.SetSharedAttributes("dev", map[string]any{"a": 1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.sync() {
		if p.FixedHeader.Type == packets.Publish {
			t.Fatalf("pushed after unsubscribe: %s", p.Payload)
		}
	}
}

// TestGatewayMetrics checks what a report holds: the report is made here at a chosen time (the default
// interval of 60 s does not come within the test), so its content does not depend on when a ticker fires.
// TestGatewayMetricsSchedule checks when reports are made.
func TestGatewayMetrics(t *testing.T) {
	s := startServer(t, Options{})
	c := connectGateway(t, s, 5)
	now := time.Now().UnixMilli()
	c.puback(topicGwTelemetry, fmt.Appendf(nil, `{"A":[{"ts":1,"values":{"v":1},"metadata":{"connector":"mb","receivedTs":%d,"publishedTs":%d}},`+
		`{"ts":2,"values":{"v":2},"metadata":{"connector":"mb","receivedTs":%d,"publishedTs":%d}}]}`, now-100, now-90, now-50, now-20))
	if l := s.Latest("A"); l["metadata"].TS != 0 || l["v"].Value != int64(2) {
		t.Fatalf("metadata not stripped: %v", l)
	}
	at := time.Now()
	if !s.reportGatewayMetrics(at) {
		t.Fatal("no gatewayMetrics written")
	}
	got := s.Telemetry("gw", "gatewayMetrics")
	if len(got) != 1 || got[0].TS != at.UnixMilli() {
		t.Fatalf("gatewayMetrics %v, want one value at %d", got, at.UnixMilli())
	}
	var m map[string]map[string]int64
	raw := got[0].Value.(json.RawMessage)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	mb := m["mb"]
	if mb["avgGwLatency"] != 20 || mb["minGwLatency"] != 10 || mb["maxGwLatency"] != 30 || mb["minTransportLatency"] < 20 || mb["maxTransportLatency"] < 90 {
		t.Fatalf("metrics %s", raw)
	}
	// A report starts anew: with no entries since, nothing more is written.
	if s.reportGatewayMetrics(at.Add(time.Minute)) {
		t.Fatal("an empty report was written")
	}
}

// TestInactivityTimeout checks who is dropped, with the expiry run here at chosen times (expireIdle), so a
// stalled test goroutine cannot make the pinging gateway look idle. TestExpireLoopSchedule checks when the
// expiry runs.
func TestInactivityTimeout(t *testing.T) {
	s := startServer(t, Options{})
	timeout := s.opts.InactivityTimeout
	c := connectGateway(t, s, 5)
	c.puback(topicGwConnect, []byte(`{"device":"A"}`))
	a, _ := s.Device("A")
	for !time.Now().After(a.LastActivity) {
		runtime.Gosched() // the ping below must come strictly after A's last activity
	}
	// The gateway keeps its connection alive with a ping after A's last activity; A sends nothing.
	c.sync()
	s.expireIdle(a.LastActivity.Add(timeout + time.Nanosecond))
	if d, _ := s.Device("A"); d.Connected {
		t.Fatal("idle sub-device A not dropped")
	}
	if d, _ := s.Device("gw"); !d.Connected {
		t.Fatal("pinging gateway dropped")
	}
	for _, p := range c.sync() {
		t.Fatalf("the gateway was told %v about an inactivity drop (ThingsBoard drops silently)", types([]packets.Packet{p}))
	}
	// A silent connection is closed.
	s.expireIdle(time.Now().Add(timeout + time.Nanosecond))
	c.expectClosed()
}
