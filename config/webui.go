package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// DefaultWebUIPort is the web UI's default port: beside the gateway's gRPC port (grpc.serverPort 9595), in the
// range Prometheus exporters use, and clear of 8080 and 9090 (Prometheus itself), which are often taken.
const DefaultWebUIPort = 9596

// expWebUIListen describes a valid webUI.listen.
const expWebUIListen = `"host:port" with a loopback host (127.0.0.1, [::1] or localhost) and a port 0-65535 (0: a free port chosen by the system)`

// WebUI is our own top-level "webUI" section: the gateway's web UI listener, which serves /metrics (Prometheus),
// /healthz and /readyz without a login. Users (logins) and TLS come with the UI's pages; until then the
// listener accepts loopback addresses only, because anything beyond loopback will require TLS.
type WebUI struct {
	// Enabled is "enabled", default false: the listener runs only when true.
	Enabled bool
	// Listen is "listen", default "127.0.0.1:9596" (DefaultWebUIPort): the host and port to listen on.
	Listen string
}

// decodeWebUI reads the "webUI" section.
func decodeWebUI(o *confjson.Object, w *WebUI) {
	boolean(o, "enabled", &w.Enabled)
	str(o, "listen", &w.Listen)
}

// webUI checks webUI.listen: always its shape, and while the UI is enabled that its host is a loopback
// address, as no TLS can be configured yet.
func (v *validator) webUI(w *WebUI) {
	const p = "webUI.listen"
	host, port, err := net.SplitHostPort(w.Listen)
	if err != nil {
		v.fail(p, expWebUIListen, foundString(w.Listen))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(p, expWebUIListen, foundString(w.Listen))
		return
	}
	if w.Enabled && !IsLoopbackHost(host) {
		v.fail(p, "a loopback host (127.0.0.1, [::1] or localhost): listening beyond loopback requires TLS, which the web UI does not support yet",
			foundString(w.Listen))
	}
}

// IsLoopbackHost reports whether host (without port) names the loopback interface only: "localhost" or a
// loopback IP address. An empty host (every interface) is not.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
