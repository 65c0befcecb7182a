package grpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// Limits that bound what one client can make the server hold.
const (
	// DefaultQueueSize bounds the messages waiting for one client (RPCs, attribute updates and answers).
	DefaultQueueSize = 256
	// readAhead bounds the messages of one session stream read but not yet handled.
	readAhead = 64
	// maxBatch bounds the data messages of a session stream stored by one Send.
	maxBatch = 64
	// maxAttrRequests bounds one client's attribute requests waiting for ThingsBoard.
	maxAttrRequests = 8
	// maxStreamsPerConn bounds the concurrent calls of one client connection.
	maxStreamsPerConn = 64
	// maxConns bounds the client connections open at once; more wait to be accepted.
	maxConns = 256
	// maxRecvMsgSize bounds one message from a client.
	maxRecvMsgSize = 4 << 20
	// attrRequestTimeout bounds one attribute request to ThingsBoard.
	attrRequestTimeout = 30 * time.Second
	// stopTimeout bounds how long a stopping server waits for calls to end (a unary call storing data).
	stopTimeout = 5 * time.Second
)

// Gateway is what the server needs from the gateway it runs in; the runtime implements it.
type Gateway interface {
	// ConnectorKey returns the key clients register the named gRPC connector with (a configured "auto" key is
	// generated once and kept). It may do I/O.
	ConnectorKey(connector string) (string, error)
	// ConnectorID returns the id the gateway reports for the connector to ThingsBoard.
	ConnectorID(connector string) string
	// ConnectorDevices lists the devices the gateway knows for the connector.
	ConnectorDevices(connector string) []tbgateway.DeviceInfo
	// DeviceType returns the type the gateway knows for a device of the connector, "" when none: the type a
	// client gave in its ConnectMsg, which its later data (that names no type) keeps.
	DeviceType(connector, device string) string
}

// Options configure a Server: the main file's "grpc" section and the gateway around it.
type Options struct {
	// Addr is the address to listen on: ":9595" (every interface, as the Python gateway) or "127.0.0.1:0" (a free
	// port of the loopback interface).
	Addr string
	// KeepAliveTime is how long a connection may be idle before the server pings the client ("keepAliveTimeMs");
	// KeepAliveTimeout how long it then waits for the answer before closing ("keepAliveTimeoutMs").
	KeepAliveTime, KeepAliveTimeout time.Duration
	// PermitWithoutCalls lets clients ping while they have no call open ("keepAlivePermitWithoutCalls").
	PermitWithoutCalls bool
	// MinPingInterval is the shortest interval between client pings the server accepts
	// ("minPingIntervalWithoutDataMs"); faster clients are disconnected.
	MinPingInterval time.Duration
	// QueueSize bounds the messages waiting for one client; 0 means DefaultQueueSize.
	QueueSize int
	// Gateway answers the server's questions about connectors; required.
	Gateway Gateway
	// Logger logs sessions and refused messages; nil discards.
	Logger *slog.Logger
}

// Server is the gateway's gRPC server for connectors running outside the gateway: it serves the
// TBGatewayProtoService (the Python gateway's unary "stream" and our two-way "session") and routes what a
// registered client sends to its connector's Sink, and what the gateway has for the connector to the client.
// Connectors of type "grpc" attach to it while they run. Safe for concurrent use.
type Server struct {
	pb.UnimplementedTBGatewayProtoServiceServer
	opts Options
	log  *slog.Logger

	ready   chan struct{} // closed once listening (addr set) or when Run failed to listen (lnErr set)
	addr    net.Addr
	lnErr   error
	runOnce sync.Once

	mu       sync.Mutex
	bindings map[string]*binding // attached connectors by name
	unary    map[string]*session // sessions of unary clients by "identifier", registered or with messages left
	streams  int                 // session streams open, for naming them
	runCtx   context.Context     // Run's context; attribute requests of unary clients run under it
	stop     chan struct{}       // closed when Run's context ended: session streams send what waits and end

	stats struct {
		received, stored, refused atomic.Uint64
		readersBlocked            atomic.Int64
	}
}

// Stats are the server's counters since it was made.
type Stats struct {
	// Received counts the messages clients sent; Stored those whose data was stored (answered SUCCESS);
	// Refused those answered FAILURE because their data was invalid or could not be stored, or because the
	// client had not registered.
	Received, Stored, Refused uint64
	// ReadersBlocked is how many session streams are not being read now because their client sent faster
	// than the gateway stores (backpressure: the client's sends wait).
	ReadersBlocked int
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Received: s.stats.received.Load(), Stored: s.stats.stored.Load(), Refused: s.stats.refused.Load(),
		ReadersBlocked: int(s.stats.readersBlocked.Load())}
}

// binding is one attached gRPC connector.
type binding struct {
	name, key, id string
	config        string // the connector file's JSON, sent to the client when it registers
	sink          tbgateway.Sink
	log           *slog.Logger
	sess          *session // the registered client, nil when none; guarded by Server.mu
}

// ErrNotRegistered is returned by downlink calls for a connector no client is registered for.
var ErrNotRegistered = errors.New("no client is registered for the connector")

// NewServer returns a Server that listens once Run is called.
func NewServer(opts Options) *Server {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, ready: make(chan struct{}), bindings: map[string]*binding{},
		unary: map[string]*session{}, runCtx: context.Background(), stop: make(chan struct{})}
}

// Run listens on Options.Addr and serves until ctx ends, then stops every call and returns nil. It returns an
// error when it cannot listen (the runtime retries with backoff). Run may be called again after it returned.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		err = fmt.Errorf("gRPC server: listening on %s: %w", s.opts.Addr, err)
		s.runOnce.Do(func() { s.lnErr = err; close(s.ready) })
		return err
	}
	ln = netutil.LimitListener(ln, maxConns)
	srv := grpclib.NewServer(
		grpclib.KeepaliveParams(keepalive.ServerParameters{Time: s.opts.KeepAliveTime, Timeout: s.opts.KeepAliveTimeout}),
		grpclib.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: s.opts.MinPingInterval, PermitWithoutStream: s.opts.PermitWithoutCalls}),
		grpclib.MaxConcurrentStreams(maxStreamsPerConn),
		grpclib.MaxRecvMsgSize(maxRecvMsgSize),
	)
	srv.RegisterService(s.serviceDesc(), s)
	s.mu.Lock()
	s.runCtx = ctx
	stop := make(chan struct{})
	s.stop = stop
	s.mu.Unlock()
	s.runOnce.Do(func() { s.addr = ln.Addr(); close(s.ready) })
	s.log.Info("gRPC server listening for connectors", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		// Every client is told its connector is unregistered; session streams send that and end.
		s.unregisterAll()
		close(stop)
		graceful := make(chan struct{})
		go func() { srv.GracefulStop(); close(graceful) }()
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-graceful:
		case <-t.C:
			srv.Stop()
			<-graceful
		}
		<-done
		s.log.Info("gRPC server stopped")
		return nil
	case err := <-done:
		return fmt.Errorf("gRPC server: %w", err)
	}
}

// Addr returns the address the server listens on, waiting until it does; it fails when the first Run could not
// listen or ctx ends first.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.ready:
		return s.addr, s.lnErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serviceDesc is the generated service description with the unary method's decoding wrapped, so that a
// message that is not a FromConnectorMessage is logged naming the client (gRPC refuses it before any handler).
func (s *Server) serviceDesc() *grpclib.ServiceDesc {
	desc := pb.TBGatewayProtoService_ServiceDesc
	desc.Methods = append([]grpclib.MethodDesc(nil), desc.Methods...)
	for i := range desc.Methods {
		orig := desc.Methods[i].Handler
		desc.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, in grpclib.UnaryServerInterceptor) (any, error) {
			return orig(srv, ctx, func(m any) error {
				err := dec(m)
				if err != nil {
					s.log.Warn("gRPC client sent a message that is not a FromConnectorMessage; refused", "client", clientOf(ctx), "err", err)
				}
				return err
			}, in)
		}
	}
	return &desc
}

// attach makes the connector reachable by its key until detach is called.
func (s *Server) attach(name, config string, sink tbgateway.Sink) (*binding, error) {
	key, err := s.opts.Gateway.ConnectorKey(name)
	if err != nil {
		return nil, err
	}
	b := &binding{name: name, key: key, id: s.opts.Gateway.ConnectorID(name), config: config, sink: sink, log: sink.Logger()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.bindings {
		if o.key == key && o.name != name {
			return nil, fmt.Errorf("gRPC connector %q has the same key as connector %q; give each its own key", name, o.name)
		}
	}
	if _, dup := s.bindings[name]; dup {
		return nil, fmt.Errorf("gRPC connector %q is already attached", name)
	}
	s.bindings[name] = b
	return b, nil
}

// detach removes the connector; its client, if any, is told with an UnregisterConnectorMsg.
func (s *Server) detach(b *binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bindings, b.name)
	if sess := b.sess; sess != nil {
		sess.unbindLocked()
		sess.offer(&pb.FromServiceMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{}})
		b.log.Info("gRPC connector stopped: its client is unregistered", "client", sess.id)
	}
}

// unregisterAll ends every registration, queueing an UnregisterConnectorMsg for each client.
func (s *Server) unregisterAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bindings {
		if sess := b.sess; sess != nil {
			sess.unbindLocked()
			sess.offer(&pb.FromServiceMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{}})
		}
	}
}

// stopping returns the channel closed when the running server stops.
func (s *Server) stopping() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop
}

// register binds sess to the connector with key; the status says how it went, cfg is the answer's configuration.
func (s *Server) register(sess *session, key string) (pb.ResponseStatus, *pb.ConnectorConfigurationMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.byKeyLocked(key)
	switch {
	case b == nil:
		s.log.Warn("gRPC client registered with an unknown connector key; refused", "client", sess.id, "key", maskKey(key))
		return pb.ResponseStatus_NOT_FOUND, nil
	case b.sess != nil && b.sess != sess:
		b.log.Warn("gRPC client refused: another client is registered for this connector (it must unregister first)", "client", sess.id, "registered", b.sess.id)
		return pb.ResponseStatus_FAILURE, nil
	}
	if sess.b != nil && sess.b != b {
		sess.unbindLocked()
	}
	if b.sess == nil {
		b.sess, sess.b = sess, b
		if sess.unary {
			s.unary[sess.id] = sess
		}
		b.log.Info("gRPC client registered", "client", sess.id)
	}
	return pb.ResponseStatus_SUCCESS, &pb.ConnectorConfigurationMsg{ConnectorName: b.name, Configuration: b.config, ConnectorId: b.id}
}

// unregister ends the registration of the connector with key, whoever registered it (the key is the
// credential, as in the Python gateway: a client that lost its session can free its connector).
func (s *Server) unregister(sess *session, key string) pb.ResponseStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.byKeyLocked(key)
	switch {
	case b == nil:
		s.log.Warn("gRPC client unregistered an unknown connector key", "client", sess.id, "key", maskKey(key))
		return pb.ResponseStatus_FAILURE
	case b.sess == nil:
		return pb.ResponseStatus_NOT_FOUND
	}
	old := b.sess
	old.unbindLocked()
	if old.unary {
		delete(s.unary, old.id)
	}
	b.log.Info("gRPC client unregistered", "client", old.id, "by", sess.id)
	return pb.ResponseStatus_SUCCESS
}

// end unbinds a session whose stream closed.
func (s *Server) end(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := sess.b; b != nil {
		sess.unbindLocked()
		b.log.Info("gRPC client disconnected: connector unregistered", "client", sess.id)
	}
}

func (s *Server) byKeyLocked(key string) *binding {
	if key == "" {
		return nil
	}
	for _, b := range s.bindings {
		if b.key == key {
			return b
		}
	}
	return nil
}

// registered returns the connector sess is registered for, or nil.
func (s *Server) registered(sess *session) *binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sess.b
}

// client returns the registered session of the named connector.
func (s *Server) client(name string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bindings[name]
	if b == nil || b.sess == nil {
		return nil, fmt.Errorf("gRPC connector %q: %w", name, ErrNotRegistered)
	}
	return b.sess, nil
}

// maskKey shows enough of a connector key to recognise it in a log, never the key.
func maskKey(k string) string {
	if len(k) <= 4 {
		return fmt.Sprintf("(%d characters)", len(k))
	}
	return fmt.Sprintf("%s… (%d characters)", k[:2], len(k))
}
