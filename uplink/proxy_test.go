package uplink

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tbgateway/tbgateway/internal/httpproxy/proxytest"
)

// startProxy runs a CONNECT proxy for the test and returns it with its host and port.
func startProxy(t *testing.T) (*proxytest.Proxy, string, int) {
	t.Helper()
	p, err := proxytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	host, port, _ := net.SplitHostPort(p.Addr())
	n, _ := strconv.Atoi(port)
	return p, host, n
}

// TestIntegrationThroughProxy: with proxy_host/proxy_port the link's only connection is a CONNECT tunnel to
// ThingsBoard, and the records arrive through it.
func TestIntegrationThroughProxy(t *testing.T) {
	emu := startEmu(t)
	proxy, host, port := startProxy(t)
	h := startLink(t, emu, func(c *Config, _ *Client) {
		if c != nil {
			c.ProxyHost, c.ProxyPort = host, port
		}
	})
	for i := range 20 {
		h.put(telRec("via-proxy", int64(i+1), "v", int64(i)))
	}
	h.waitFor("telemetry", func() bool { return len(emu.Telemetry("via-proxy", "v")) == 20 })
	if got := proxy.Tunnels(); len(got) != 1 || got[0] != emu.MQTTAddr() {
		t.Fatalf("proxy tunnels %q, want one to %s", got, emu.MQTTAddr())
	}
}

// TestIntegrationTLSThroughProxy: TLS runs inside the tunnel, the server's certificate verified against caCert.
func TestIntegrationTLSThroughProxy(t *testing.T) {
	ca := makeCert(t, "test-ca", nil, true, nil, nil)
	e := startTLSEmu(t, ca, makeCert(t, "tbemu", ca, false, nil, loopback), tls.NoClientCert)
	proxy, host, port := startProxy(t)
	before, _ := e.emu.Device("gw")
	ev := tryConnect(t, Config{Host: e.host, Port: e.tlsPort, ProxyHost: host, ProxyPort: port,
		Security: Security{Type: SecurityAccessToken, AccessToken: gwToken, CACert: e.caFile}})
	if ev.Type != EventConnected {
		t.Fatalf("%v: %v", ev.Type, ev.Err)
	}
	if d, _ := e.emu.Device("gw"); !d.LastConnect.After(before.LastConnect) {
		t.Fatal("the gateway device did not connect")
	}
	if got := proxy.Tunnels(); len(got) != 1 || got[0] != e.emu.TLSAddr() {
		t.Fatalf("proxy tunnels %q, want one to %s", got, e.emu.TLSAddr())
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIntegrationProxyDownReconnects: the proxy going down drops the link; the reconnect attempts fail naming
// the proxy (event and log line) and back off; once the proxy is back the link reconnects through it and the
// records stored meanwhile arrive.
func TestIntegrationProxyDownReconnects(t *testing.T) {
	emu := startEmu(t)
	proxy, host, port := startProxy(t)
	var logs syncBuffer
	h := startLink(t, emu, func(c *Config, cli *Client) {
		if c != nil {
			c.ProxyHost, c.ProxyPort = host, port
		} else {
			cli.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
	proxy.Stop()
	h.awaitEvent(EventDisconnected)
	ev := h.awaitEvent(EventConnectFailed)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "HTTP proxy "+proxy.Addr()) {
		t.Fatalf("connect failure %v, want one naming the proxy %s", ev.Err, proxy.Addr())
	}
	h.waitFor("the log line", func() bool {
		s := logs.String()
		return strings.Contains(s, "thingsboard link down, reconnecting") &&
			strings.Contains(s, "thingsboard still unreachable") && strings.Contains(s, "HTTP proxy "+proxy.Addr())
	})
	h.awaitEvent(EventConnectFailed) // a second attempt, after a backoff delay
	for i := range 10 {
		h.put(telRec("later", int64(i+1), "v", int64(i)))
	}
	if err := proxy.Restart(); err != nil {
		t.Fatal(err)
	}
	h.awaitEvent(EventConnected)
	h.waitFor("telemetry", func() bool { return len(emu.Telemetry("later", "v")) == 10 })
	if got := proxy.Tunnels(); len(got) != 2 {
		t.Fatalf("proxy tunnels %q, want two (before and after the outage)", got)
	}
	if st := h.cli.Stats(); st.ConnectFailures < 2 {
		t.Fatalf("stats %+v, want the failed attempts counted", st)
	}
}
