package opcua

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

func typesConfig(t *testing.T, endpoint string, keys []map[string]any) *Config {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"server": map[string]any{"url": endpoint, "security": "None", "timeoutInMillis": 2000,
			"reconnectBackoffInitialDelay": 0.05, "subCheckPeriodInMillis": 100},
		"mapping": []any{map[string]any{
			"deviceNodeSource": "identifier", "deviceNodePattern": "ns=2;s=Types",
			"deviceInfo":  map[string]any{"deviceNameExpression": "Types ${Counter}", "deviceProfileExpression": "types"},
			"timeseries":  keys,
			"rpc_methods": []any{map[string]any{"method": "Add"}},
		}},
	})
	cfg, _, err := Decode("", raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// pathKey is a time series entry reading the node at path (relative to the device node).
func pathKey(key, path string) map[string]any {
	return map[string]any{"key": key, "type": "path", "value": "${" + path + "}"}
}

// TestValueTypes reads every built-in type the peer serves and checks the converted values, the device name
// read from a node, and writes of non-Double types through the reserved set RPC.
func TestValueTypes(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	keys := []map[string]any{
		pathKey("float", "Float"), pathKey("int16", "Int16"), pathKey("uint32", "UInt32"), pathKey("byte", "Byte"),
		pathKey("date", "DateTime"), pathKey("bytes", "ByteString"), pathKey("array", "Int32Array"),
		pathKey("absolute", `Root\.Objects\.Types\.Int16`), pathKey("byId", "ns=2;s=Types.Byte"),
	}
	tmplKey := map[string]any{"key": "text", "type": "path", "value": "int16 is ${Int16}!"}
	constKey := map[string]any{"key": "model", "type": "constant", "value": "T-1"}
	keys = append(keys, tmplKey, constKey)
	sink := newSink()
	c := runConnector(t, ctx, typesConfig(t, p.URL, keys), sink)
	var device string
	sink.waitFor(t, ctx, "device named from its Counter node", func(recs []tbgateway.Record) bool {
		for _, r := range recs {
			if r.Kind == tbgateway.KindConnect && strings.HasPrefix(r.Device, "Types ") && r.DeviceType == "types" {
				device = r.Device
				return true
			}
		}
		return false
	})
	want := map[string]any{
		"float": 1013.25, "int16": int64(-7), "uint32": int64(4000000000), "byte": int64(200),
		"date": "2024-05-06T07:08:09+00:00", "bytes": "0a0bff", "array": tbgateway.RawJSON(`["1","2","3"]`),
		"absolute": int64(-7), "byId": int64(200), "text": "int16 is -7!", "model": "T-1",
	}
	sink.waitFor(t, ctx, "all typed values", func(recs []tbgateway.Record) bool {
		got, _, _, _ := latestOf(recs, device)
		return len(got) >= len(want)
	})
	got, _, _, _ := latestOf(sink.Records(), device)
	for k, w := range want {
		if fmt.Sprintf("%T %v", got[k], asTB(got[k])) != fmt.Sprintf("%T %v", w, asTB(w)) {
			t.Errorf("%s = %T %v, want %T %v", k, got[k], asTB(got[k]), w, asTB(w))
		}
	}
	for node, value := range map[string]string{"Int16": "-300", "Float": "2.5", "Byte": "17", "DateTime": "2020-01-02T03:04:05Z", "ByteString": "cafe"} {
		rpc(t, ctx, c, device, "set", node+"="+value)
		v := resultField(t, rpc(t, ctx, c, device, "get", node), "value")
		wantText := value
		if node == "DateTime" {
			wantText = "2020-01-02T03:04:05+00:00"
		}
		if asTB(v) != wantText {
			t.Errorf("set %s=%s then get = %v", node, value, v)
		}
	}
	if _, err := c.HandleRPC(t.Context(), tbgateway.RPCRequest{Device: device, Method: "set", Params: json.RawMessage(`"Byte=300"`)}); err == nil {
		t.Error("set Byte=300 must fail (out of range)")
	}
	// The method declares Double inputs: integers from the request are converted.
	if got := resultField(t, rpc(t, ctx, c, device, "Add", []any{1, 2.5}), "result"); got != 3.5 {
		t.Errorf("Add(1, 2.5) = %v", got)
	}
}

// TestSecureUsername connects with Basic256Sha256 SignAndEncrypt, a generated client certificate and a username
// identity; a wrong password is refused by the server.
func TestSecureUsername(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_absolute_path.json", p.URL)
	cfg.Server.Security = "Basic256Sha256"
	cfg.Server.Identity = IdentityConfig{Type: "username", Username: "gateway", Password: "s3cret", Mode: "SignAndEncrypt"}
	sink := newSink()
	c := runConnector(t, ctx, cfg, sink)
	waitValues(t, ctx, sink, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_paths_finding_methods_values.json"))
	if got := resultField(t, rpc(t, ctx, c, "Temp Sensor", "set", `Root\.Objects\.TempSensor\.Pressure; 1.5`), "value"); got != "1.5" {
		t.Errorf("set over an encrypted channel: %v", got)
	}

	bad := *cfg
	bad.Server.Identity.Password = "wrong"
	wrong, err := New("bad", &bad, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := wrong.dial(ctx)
	if err == nil {
		_ = cl.Close(ctx)
		t.Fatal("a wrong password connected")
	}
	if !strings.Contains(err.Error(), "BadUserAccessDenied") {
		t.Errorf("wrong password: %v, want BadUserAccessDenied", err)
	}
}

// TestWatchdogSilentSubscription: values that never change leave the subscriptions silent; with
// subKeepAlivePeriodInSeconds set the connector rebuilds the connection and announces the device again.
func TestWatchdogSilentSubscription(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_absolute_path.json", p.URL)
	cfg.Server.SubKeepAlivePeriodInSeconds = 0.3
	cfg.Server.ReconnectBackoffInitialDelay = 0.05
	sink := newSink()
	runConnector(t, ctx, cfg, sink)
	sink.waitFor(t, ctx, "a reconnect after silence", func(recs []tbgateway.Record) bool {
		_, _, connects, disconnects := latestOf(recs, "Temp Sensor")
		return connects >= 2 && disconnects >= 1
	})
}

// TestSecureCertificateFiles: identity type cert.PEM with the client certificate and key from PEM files (as the
// Python config's cert/privateKey) over Basic256Sha256 SignAndEncrypt.
func TestSecureCertificateFiles(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	der, key, err := generateCert("urn:tbgateway:test:files")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_identifier.json", p.URL)
	cfg.Server.Security = "Basic256Sha256"
	cfg.Server.URI = "urn:tbgateway:test:files"
	cfg.Server.Identity = IdentityConfig{Type: "cert.PEM", Cert: certFile, PrivateKey: keyFile, Mode: "SignAndEncrypt"}
	sink := newSink()
	runConnector(t, ctx, cfg, sink)
	waitValues(t, ctx, sink, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_identifier_finding_methods_values.json"))

	missing := *cfg
	missing.Server.Identity.PrivateKey = filepath.Join(dir, "absent.pem")
	c, err := New("missing", &missing, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx, newSink()); err == nil || !strings.Contains(err.Error(), "server.identity.privateKey") {
		t.Errorf("Run with an unreadable key file = %v, want an error naming server.identity.privateKey", err)
	}
}

// TestRescanWhenIncomplete: a key whose node does not exist leaves the resolution incomplete; after
// scanPeriodInMillis the connector resolves again (a new session, announced again) without reporting the device
// disconnected, while the keys that resolved keep flowing.
func TestRescanWhenIncomplete(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	cfg := typesConfig(t, p.URL, []map[string]any{pathKey("counter", "Counter"), pathKey("ghost", "NoSuchNode")})
	cfg.Mapping[0].DeviceInfo.DeviceNameExpression = "Types"
	cfg.Server.ScanPeriodInMillis = 300
	c, err := New("rescan", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	sink.waitFor(t, ctx, "two resolutions", func(recs []tbgateway.Record) bool {
		got, _, connects, _ := latestOf(recs, "Types")
		_, hasCounter := got["counter"]
		return connects >= 2 && hasCounter
	})
	if _, _, _, disconnects := latestOf(sink.Records(), "Types"); disconnects != 0 {
		t.Errorf("a re-scan reported the device disconnected %d times", disconnects)
	}
}
