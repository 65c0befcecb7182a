package uplink

import (
	"context"
	"net"
	"strconv"

	"github.com/tbgateway/tbgateway/internal/httpproxy"
)

// dialTCP opens the TCP connection to addr: directly, or through the HTTP proxy ProxyHost:ProxyPort with CONNECT
// (the Python gateway's proxy_host / proxy_port). A proxy error names the proxy and the target.
func dialTCP(ctx context.Context, cfg *Config, addr string) (net.Conn, error) {
	if cfg.ProxyHost == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	port := cfg.ProxyPort
	if port == 0 {
		port = httpproxy.DefaultPort
	}
	return httpproxy.Dial(ctx, net.JoinHostPort(cfg.ProxyHost, strconv.Itoa(port)), addr)
}

// Dial opens a connection to ThingsBoard as the link does (TLS when cfg.UsesTLS, through the HTTP proxy when
// configured, the server's certificate verified) without checking cfg's credentials: for a short session of its
// own, such as device provisioning, before the gateway has credentials. cfg.Port 0 means 1883.
func Dial(ctx context.Context, cfg Config) (net.Conn, error) {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	return dial(ctx, &cfg, cfg.UsesTLS())
}
