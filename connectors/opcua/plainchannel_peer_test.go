package opcua

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log destination safe for the connector's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPolicyAppliesToCertificateIdentity: the Python sample's security (Basic128Rsa15) with an anonymous identity
// connects, as in the Python gateway, to a server that does not offer that policy (the peer offers None and
// Basic256Sha256), warning once; a certificate identity with the same policy is refused instead, naming it.
func TestPolicyAppliesToCertificateIdentity(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	cfg := corpusConfig(t, "corpus/configs/uplink_configs/opcua_uplink_converter_absolute_path.json", p.URL)
	cfg.Server.Security = "Basic128Rsa15"
	cfg.Server.Identity = IdentityConfig{Type: "anonymous"}
	var logs lockedBuffer
	c, err := New("OPC-UA", cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	runUntilEnd(t, ctx, c, sink)
	waitValues(t, ctx, sink, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_paths_finding_methods_values.json"))
	if n := strings.Count(logs.String(), "connecting without channel security"); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, logs.String())
	}

	strict := *cfg
	strict.Server.Identity = IdentityConfig{Type: "cert.PEM", Mode: "SignAndEncrypt"}
	sc, err := New("strict", &strict, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sc.dial(ctx)
	if err == nil {
		_ = cl.Close(ctx)
		t.Fatal("a certificate identity connected without the configured policy")
	}
	if !strings.Contains(err.Error(), "offers no endpoint with security Basic128Rsa15") {
		t.Errorf("certificate identity: %v, want the missing policy named", err)
	}
}
