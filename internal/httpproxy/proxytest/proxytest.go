// Package proxytest is a small HTTP CONNECT proxy for tests: it listens on a loopback port, opens the tunnels it
// is asked for, counts them, and can be stopped and started again on the same address (a proxy outage).
package proxytest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// Proxy is a running test proxy. Its methods are safe for concurrent use.
type Proxy struct {
	addr string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	targets []string // CONNECT targets of the tunnels opened, in order
	refused int      // CONNECTs answered with an error
	changed chan struct{}
	wg      sync.WaitGroup
}

// Start starts a proxy on 127.0.0.1 and a free port.
func Start() (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	p.serve(ln)
	return p, nil
}

// Addr returns the proxy's "host:port".
func (p *Proxy) Addr() string { return p.addr }

// Tunnels returns the targets of the tunnels opened so far, in order.
func (p *Proxy) Tunnels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// Changed returns a channel closed at the next tunnel opened or refused (wait on it, then check Tunnels).
func (p *Proxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Stop closes the listener and every connection (tunnels included): clients see the proxy go down.
func (p *Proxy) Stop() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	p.wg.Wait()
}

// Restart listens again on the same address after Stop.
func (p *Proxy) Restart() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close stops the proxy for good (same as Stop).
func (p *Proxy) Close() { p.Stop() }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c, true) {
				_ = c.Close()
				return
			}
			p.wg.Go(func() { p.handle(c) })
		}
	})
}

// track adds or removes a connection; it refuses to add one once the proxy is stopped.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) note(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if target == "" {
		p.refused++
	} else {
		p.targets = append(p.targets, target)
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) handle(c net.Conn) {
	defer func() {
		_ = c.Close()
		p.track(c, false)
	}()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		p.note("")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		p.note("")
		return
	}
	if !p.track(up, true) {
		_ = up.Close()
		return
	}
	defer func() {
		_ = up.Close()
		p.track(up, false)
	}()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	p.note(req.Host)
	// Either direction ending ends the tunnel: both connections are closed, which ends the other copy.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, br) // br holds what the client sent right after CONNECT
		_ = c.Close()
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	_ = up.Close()
	<-done
}
