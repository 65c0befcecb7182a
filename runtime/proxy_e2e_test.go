package runtime_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/httpproxy/proxytest"
)

// TestE2EProxyHostAndPort: thingsboard.proxy_host / proxy_port send the gateway's MQTT link through the HTTP
// CONNECT proxy: the proxy opened the gateway's only tunnel, to ThingsBoard, and the records arrive through it.
func TestE2EProxyHostAndPort(t *testing.T) {
	e := newE2E(t)
	proxy, err := proxytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	host, portText, _ := net.SplitHostPort(proxy.Addr())
	port, _ := strconv.Atoi(portText)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"proxy_host": host, "proxy_port": port}})
	for i := range 10 {
		p.send(t, e.ctx, tbgateway.Record{Device: "behind-proxy", Telemetry: []tbgateway.Telemetry{
			{TS: int64(1_700_000_000_000 + i), Values: map[string]any{"n": int64(i)}}}})
	}
	e.waitFor("the records", func() bool { return len(e.emu.Telemetry("behind-proxy", "n")) == 10 })
	if got := proxy.Tunnels(); len(got) != 1 || got[0] != e.emu.MQTTAddr() {
		t.Fatalf("proxy tunnels %q, want the gateway's one to ThingsBoard %s", got, e.emu.MQTTAddr())
	}
}

// TestE2EProvisionThroughProxy: with proxy_host set, the provisioning session goes through the proxy too (the
// Python gateway provisions directly; a gateway that only reaches ThingsBoard through the proxy could not).
func TestE2EProvisionThroughProxy(t *testing.T) {
	e := newE2E(t)
	e.emu.AddProvisionProfile(provKey, provSecret)
	proxy, err := proxytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	host, portText, _ := net.SplitHostPort(proxy.Addr())
	port, _ := strconv.Atoi(portText)
	tb := provisioningOnly(map[string]any{"provisionDeviceKey": provKey, "provisionDeviceSecret": provSecret, "deviceName": "Proxied GW"})
	tb["proxy_host"], tb["proxy_port"] = host, port
	e.start(setup{tb: tb})
	if d, ok := e.emu.Device("Proxied GW"); !ok || !d.Connected {
		t.Fatalf("provisioned device %+v (%v)", d, ok)
	}
	if got := proxy.Tunnels(); len(got) != 2 || got[0] != e.emu.MQTTAddr() || got[1] != e.emu.MQTTAddr() {
		t.Fatalf("proxy tunnels %q, want the provisioning session's and the link's, both to %s", got, e.emu.MQTTAddr())
	}
}
