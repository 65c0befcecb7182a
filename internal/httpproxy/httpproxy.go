// Package httpproxy opens TCP connections through an HTTP proxy with the CONNECT method (RFC 9110 §9.3.6), as
// the Python gateway does for its MQTT link when proxy_host is set. The tunnel carries any protocol: MQTT, or TLS
// started by the caller over the returned connection.
package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultPort is the proxy port used when none is configured (PySocks' default for HTTP proxies).
const DefaultPort = 8080

// maxResponseHeader bounds the proxy's reply to CONNECT.
const maxResponseHeader = 16 << 10

// Dial connects to target ("host:port") through the HTTP proxy at proxy ("host:port") and returns the tunnel.
// The error names the proxy and the target: the proxy unreachable, the proxy's refusal with its status line, or
// a reply that is not HTTP. ctx bounds the whole exchange.
func Dial(ctx context.Context, proxy, target string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, fmt.Errorf("HTTP proxy %s: %w", proxy, err)
	}
	tunnel, err := connect(ctx, conn, target)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("HTTP proxy %s: CONNECT %s: %w", proxy, target, err)
	}
	return tunnel, nil
}

// connect sends CONNECT for target on conn and reads the proxy's reply.
func connect(ctx context.Context, conn net.Conn, target string) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled ctx unblocks the exchange by expiring the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(&limitedReader{r: conn, left: maxResponseHeader}, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("refused: %s", strings.TrimSpace(resp.Status))
	}
	if !stop() && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	_ = conn.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		// Bytes the server sent through the tunnel right after the reply were read ahead: hand them out first.
		early, _ := br.Peek(n)
		return &prefixConn{Conn: conn, pending: append([]byte(nil), early...)}, nil
	}
	return conn, nil
}

// limitedReader fails once more than left bytes were read (a proxy that never ends its header).
type limitedReader struct {
	r    net.Conn
	left int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("reply header longer than %d bytes", maxResponseHeader)
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}

// prefixConn returns pending before reading from the connection.
type prefixConn struct {
	net.Conn
	pending []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
