package httpproxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/httpproxy"
	"github.com/tbgateway/tbgateway/internal/httpproxy/proxytest"
)

// echoServer accepts one connection and echoes it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	return ln.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDialThroughProxy: bytes go through the tunnel both ways and the proxy counted one tunnel to the target.
func TestDialThroughProxy(t *testing.T) {
	target := echoServer(t)
	p, err := proxytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := httpproxy.Dial(testCtx(t), p.Addr(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("echo through the tunnel: %q, %v", line, err)
	}
	if got := p.Tunnels(); len(got) != 1 || got[0] != target {
		t.Fatalf("proxy tunnels %q, want [%s]", got, target)
	}
}

// TestDialErrorsNameProxyAndTarget: a proxy that is down, and one that refuses the CONNECT, give errors naming
// the proxy (and the target and status for a refusal).
func TestDialErrorsNameProxyAndTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	_, err = httpproxy.Dial(testCtx(t), down, "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "HTTP proxy "+down) {
		t.Fatalf("proxy down: %v", err)
	}

	p, err := proxytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = httpproxy.Dial(testCtx(t), p.Addr(), down) // the proxy cannot reach the target: 502
	if err == nil || !strings.Contains(err.Error(), "CONNECT "+down) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("refused CONNECT: %v", err)
	}
}

// TestDialKeepsBytesReadAhead: bytes the proxy sends right behind its reply (in the same segment) are the
// first bytes read from the tunnel.
func TestDialKeepsBytesReadAhead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nearly")
		_, _ = io.Copy(io.Discard, br)
	}()
	c, err := httpproxy.Dial(testCtx(t), ln.Addr().String(), "example.test:1883")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early" {
		t.Fatalf("read %q, %v", buf, err)
	}
}
