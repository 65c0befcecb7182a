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
			if err := establish(l.id, &ackConn{Conn: c}); err != nil {
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

// Close stops accepting, closes every connection and waits for the
// connection handlers. It does not call mochi's closeClients: that takes the
// client list's read lock recursively and deadlocks against a client that
// connects or disconnects at the same moment; Server.Close sends the
// DISCONNECTs itself.
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	l.dropAll()
	l.wg.Wait()
}

// ackConn batches PUBACKs: the read goroutine queues them in acks, and they
// are written in one go right before the connection is read again, i.e. once
// everything already received has been handled. This saves a write system
// call per message under load without delaying any PUBACK while the client
// waits. acks is only touched by the connection's read goroutine.
type ackConn struct {
	net.Conn
	lock sync.Locker // the mochi client's write lock, set after CONNECT
	acks []byte
}

func (c *ackConn) Read(p []byte) (int, error) {
	c.flushAcks()
	return c.Conn.Read(p)
}

// queueAck appends a PUBACK. Called on the read goroutine only.
func (c *ackConn) queueAck(id uint16, reason byte, v5 bool) {
	if v5 && reason != 0 {
		c.acks = append(c.acks, 0x40, 3, byte(id>>8), byte(id), reason)
		return
	}
	c.acks = append(c.acks, 0x40, 2, byte(id>>8), byte(id))
}

// flushAcks writes queued PUBACKs. Called on the read goroutine only.
func (c *ackConn) flushAcks() {
	if len(c.acks) == 0 || c.lock == nil {
		return
	}
	c.lock.Lock()
	_, _ = c.Conn.Write(c.acks) // a broken connection shows up on the next read
	c.lock.Unlock()
	c.acks = c.acks[:0]
}

// unwrapConn returns the connection under an ackConn.
func unwrapConn(c net.Conn) net.Conn {
	if a, ok := c.(*ackConn); ok {
		return a.Conn
	}
	return c
}
