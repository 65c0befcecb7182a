package grpc

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// session is one client: a unary client (named by its "identifier" metadata) or one session stream.
type session struct {
	id    string
	unary bool
	// down holds the messages waiting for the client (bounded: a client that does not take them makes the
	// senders wait, and their calls time out).
	down chan *pb.FromServiceMessage
	// attrs bounds the client's attribute requests waiting for ThingsBoard.
	attrs chan struct{}
	// serial makes a unary client's calls run one at a time, in the order they arrive.
	serial chan struct{}

	b *binding // the connector registered for, nil when none; guarded by Server.mu

	mu   sync.Mutex
	rpcs map[rpcKey]chan string // RPCs sent to the client waiting for its reply
	// gone is closed when the registration ends, failing the RPCs still waiting; replaced on the next one.
	gone chan struct{}
}

type rpcKey struct {
	device string
	id     int32
}

func newSession(id string, unary bool, queue int) *session {
	return &session{id: id, unary: unary, down: make(chan *pb.FromServiceMessage, queue), attrs: make(chan struct{}, maxAttrRequests),
		serial: make(chan struct{}, 1), rpcs: map[rpcKey]chan string{}, gone: make(chan struct{})}
}

// unbindLocked ends the registration: waiting RPCs fail. Server.mu is held.
func (ss *session) unbindLocked() {
	if ss.b != nil {
		ss.b.sess = nil
		ss.b = nil
	}
	ss.mu.Lock()
	close(ss.gone)
	ss.gone = make(chan struct{})
	ss.rpcs = map[rpcKey]chan string{}
	ss.mu.Unlock()
}

// push queues a message for the client, waiting while the queue is full until ctx ends.
func (ss *session) push(ctx context.Context, m *pb.FromServiceMessage) error {
	select {
	case ss.down <- m:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client %s does not take its messages (%d waiting): %w", ss.id, len(ss.down), ctx.Err())
	}
}

// offer queues a message when there is room, and reports whether there was.
func (ss *session) offer(m *pb.FromServiceMessage) bool {
	select {
	case ss.down <- m:
		return true
	default:
		return false
	}
}

// next returns a waiting message, or nil.
func (ss *session) next() *pb.FromServiceMessage {
	select {
	case m := <-ss.down:
		return m
	default:
		return nil
	}
}

// expect registers a waiting RPC and returns where its reply arrives and the channel closed if the
// registration ends first.
func (ss *session) expect(k rpcKey) (chan string, <-chan struct{}) {
	ch := make(chan string, 1)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.rpcs[k] = ch
	return ch, ss.gone
}

// forget drops a waiting RPC (answered or given up).
func (ss *session) forget(k rpcKey, ch chan string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.rpcs[k] == ch {
		delete(ss.rpcs, k)
	}
}

// reply hands an RPC reply to its waiter and reports whether one waited.
func (ss *session) reply(k rpcKey, data string) bool {
	ss.mu.Lock()
	ch, ok := ss.rpcs[k]
	delete(ss.rpcs, k)
	ss.mu.Unlock()
	if ok {
		ch <- data
	}
	return ok
}

// clientOf names a call's client in logs: its "identifier" metadata and its address.
func clientOf(ctx context.Context) string {
	id := identifier(ctx)
	addr := "?"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	if id == "" {
		return addr
	}
	return id + "@" + addr
}

// identifier returns the call's "identifier" metadata (the Python clients' session name), or "".
func identifier(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("identifier"); len(v) > 0 {
		return v[0]
	}
	return ""
}
