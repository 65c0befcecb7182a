package grpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// Type is the connector type of the main configuration's gRPC connectors.
const Type = "grpc"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: Type, New: New})
}

// Host is implemented by the Sink the runtime gives a gRPC connector: it hands the connector the gateway's
// gRPC server.
type Host interface {
	// GRPCServer returns the gateway's gRPC server, or nil when the main file's grpc.enabled is false.
	GRPCServer() *Server
}

// ErrServerOff is returned by Run when the gateway's gRPC server does not run.
var ErrServerOff = errors.New(`the gateway's gRPC server is off: set "enabled": true in the "grpc" section of the main file`)

// Connector is a connector of type "grpc": its devices and their data come from a client that registers with the
// connector's key over the gateway's gRPC server, and the gateway's RPCs and attribute updates for those devices
// go to that client.
type Connector struct {
	name   string
	config string

	mu  sync.Mutex
	srv *Server
}

// New builds a gRPC connector: its file's content is what a registering client receives as its configuration.
func New(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	var obj any
	if err := json.Unmarshal(cfg.Raw, &obj); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", cfg.Where(), err)
	}
	return &Connector{name: cfg.Name, config: string(cfg.Raw)}, nil
}

// Run makes the connector reachable by its key on the gateway's gRPC server until ctx ends; a registered client
// is then told it is unregistered. It fails when the server is off or the key cannot be had.
func (c *Connector) Run(ctx context.Context, sink tbgateway.Sink) error {
	h, ok := sink.(Host)
	if !ok || h.GRPCServer() == nil {
		return ErrServerOff
	}
	srv := h.GRPCServer()
	b, err := srv.attach(c.name, c.config, sink)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	sink.Logger().Info("gRPC connector waiting for its client")
	<-ctx.Done()
	c.mu.Lock()
	c.srv = nil
	c.mu.Unlock()
	srv.detach(b)
	return nil
}

func (c *Connector) server() (*Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return nil, fmt.Errorf("gRPC connector %q is not running", c.name)
	}
	return c.srv, nil
}

// HandleRPC sends the RPC to the registered client and returns its reply (the JSON it sent, or its text as a
// JSON string). A connector-wide call (no device) goes to the client with an empty device name.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if req.ID < math.MinInt32 || req.ID > math.MaxInt32 {
		return nil, fmt.Errorf("RPC id %d does not fit the gRPC API's 32 bits", req.ID)
	}
	sess, err := srv.client(c.name)
	if err != nil {
		return nil, err
	}
	params := string(req.Params)
	var text string
	if json.Unmarshal(req.Params, &text) == nil {
		params = text // a JSON string goes as its text, as the Python gateway sends it
	}
	k := rpcKey{device: req.Device, id: int32(req.ID)}
	ch, gone := sess.expect(k)
	defer sess.forget(k, ch)
	m := &pb.FromServiceMessage{GatewayDeviceRpcRequestMsg: &pb.GatewayDeviceRpcRequestMsg{DeviceName: req.Device,
		RpcRequestMsg: &pb.ToDeviceRpcRequestMsg{RequestId: int32(req.ID), MethodName: req.Method, Params: params}}}
	if err := sess.push(ctx, m); err != nil {
		return nil, err
	}
	select {
	case data := <-ch:
		if json.Valid([]byte(data)) {
			return json.RawMessage(data), nil
		}
		b, _ := json.Marshal(data)
		return b, nil
	case <-gone:
		return nil, fmt.Errorf("gRPC connector %q: the client unregistered before it answered", c.name)
	case <-ctx.Done():
		return nil, fmt.Errorf("gRPC connector %q: no answer from client %s: %w", c.name, sess.id, ctx.Err())
	}
}

// UpdateAttributes sends the shared-attribute update to the registered client.
func (c *Connector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	sess, err := srv.client(c.name)
	if err != nil {
		return err
	}
	ts := time.Now().UnixMilli()
	n := &pb.AttributeUpdateNotificationMsg{}
	for _, v := range kvs(values) {
		n.SharedUpdated = append(n.SharedUpdated, &pb.TsKvProto{Ts: ts, Kv: v})
	}
	return sess.push(ctx, &pb.FromServiceMessage{GatewayAttributeUpdateNotificationMsg: &pb.GatewayAttributeUpdateNotificationMsg{DeviceName: device, NotificationMsg: n}})
}
