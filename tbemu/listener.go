package tbemu

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is a mochi listener that keeps track of its connections, so that
// Close ends every connection (also those still before CONNECT) and waits for
// their handlers, and DropConnections can cut them all at once.
type listener struct {
	id  string
	ln  net.Listener
	log *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newListener(ctx context.Context, id, addr string, cfg *tls.Config, log *slog.Logger) (*listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return &listener{id: id, ln: ln, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Init is part of listeners.Listener; the socket is already open.
func (l *listener) Init(*slog.Logger) error { return nil }

// ID returns the listener id ("tcp" or "tls").
func (l *listener) ID() string { return l.id }

// Address returns the bound address.
func (l *listener) Address() string { return l.ln.Addr().String() }

// Protocol returns "tcp".
func (l *listener) Protocol() string { return "tcp" }

// Serve accepts connections until the listener closes, handing each to
// establish on its own goroutine.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			if err := establish(l.id, c); err != nil {
				l.log.Debug("mqtt connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
			c.Close()
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}()
	}
}

// dropAll closes every open connection without a DISCONNECT.
func (l *listener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
}

func (l *listener) closeNet() { l.ln.Close() }

// Close stops accepting, lets mochi close its clients, then closes whatever
// is left and waits for the connection handlers.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	closeClients(l.id)
	l.dropAll()
	l.wg.Wait()
}
