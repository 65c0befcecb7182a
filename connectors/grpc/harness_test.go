package grpc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tbgateway/tbgateway"
	grpcconn "github.com/tbgateway/tbgateway/connectors/grpc"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

const testKey = "key-of-sensors"

// hostSink is the connector kit's recording sink with the runtime's gRPC capability.
type hostSink struct {
	*connectortest.Sink
	srv *grpcconn.Server
}

func (h hostSink) GRPCServer() *grpcconn.Server { return h.srv }

// fakeGateway answers the server's questions: one connector "sensors" with testKey.
type fakeGateway struct{ devices []tbgateway.DeviceInfo }

func (f *fakeGateway) ConnectorKey(name string) (string, error) { return "key-of-" + name, nil }
func (f *fakeGateway) ConnectorID(name string) string           { return "id-" + name }
func (f *fakeGateway) ConnectorDevices(string) []tbgateway.DeviceInfo {
	return f.devices
}
func (f *fakeGateway) DeviceType(string, string) string { return "" }

// harness is a running server with the gRPC connector "sensors" attached and a client connection to it.
type harness struct {
	t    *testing.T
	ctx  context.Context
	srv  *grpcconn.Server
	sink *connectortest.Sink
	conn tbgateway.Connector
	addr string
	gw   *fakeGateway
	log  *logBuffer
}

// logBuffer keeps the server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	gw := &fakeGateway{}
	logs := &logBuffer{}
	srv := grpcconn.NewServer(grpcconn.Options{Addr: "127.0.0.1:0", Gateway: gw, QueueSize: 8, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	addr, err := srv.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, srv: srv, sink: connectortest.NewSink(), addr: addr.String(), gw: gw, log: logs}
	conn, err := grpcconn.New(tbgateway.ConnectorConfig{Name: "sensors", Type: "grpc", Raw: json.RawMessage(`{"name":"sensors","custom":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	h.conn = conn
	connCtx, stopConn := context.WithCancel(ctx)
	connDone := make(chan error, 1)
	go func() { connDone <- conn.Run(connCtx, hostSink{Sink: h.sink, srv: srv}) }()
	t.Cleanup(func() {
		stopConn()
		if err := <-connDone; err != nil {
			t.Errorf("connector Run: %v", err)
		}
	})
	// The connector attaches asynchronously: wait until a registration is recognised.
	c := h.client()
	h.eventually("the connector attached", func() bool {
		st, _ := c.Stream(h.md("probe"), register(testKey))
		return st.GetResponse().GetStatus() == pb.ResponseStatus_SUCCESS
	})
	if _, err := c.Stream(h.md("probe"), &pb.FromConnectorMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{ConnectorKey: testKey}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// eventually polls cond (state of the server, which has no change events); the test's context is a failure
// bound only.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-h.ctx.Done():
			h.t.Fatalf("waiting for %s: %v", what, h.ctx.Err())
		}
	}
}

// client returns a new client connection's stub.
func (h *harness) client() pb.TBGatewayProtoServiceClient {
	h.t.Helper()
	cc, err := grpclib.NewClient(h.addr, grpclib.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { cc.Close() })
	return pb.NewTBGatewayProtoServiceClient(cc)
}

// md is the test's context with a unary session's "identifier".
func (h *harness) md(id string) context.Context {
	return metadata.AppendToOutgoingContext(h.ctx, "identifier", id)
}

// session opens a session stream and registers it.
func (h *harness) session(ctx context.Context) pb.TBGatewayProtoService_SessionClient {
	h.t.Helper()
	st, err := h.client().Session(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := st.Send(register(testKey)); err != nil {
		h.t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		h.t.Fatal(err)
	}
	if r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS || r.GetConnectorConfigurationMsg().GetConnectorName() != "sensors" {
		h.t.Fatalf("registration answered %v", r)
	}
	return st
}

func register(key string) *pb.FromConnectorMessage {
	return &pb.FromConnectorMessage{RegisterConnectorMsg: &pb.RegisterConnectorMsg{ConnectorKey: key}}
}

func telemetry(device string, ts int64, key string, v float64) *pb.FromConnectorMessage {
	return &pb.FromConnectorMessage{GatewayTelemetryMsg: &pb.GatewayTelemetryMsg{Msg: []*pb.TelemetryMsg{{
		DeviceName: device,
		Msg: &pb.PostTelemetryMsg{TsKvList: []*pb.TsKvListProto{{Ts: ts, Kv: []*pb.KeyValueProto{
			{Key: key, Type: pb.KeyValueType_DOUBLE_V, DoubleV: v}}}}},
	}}}}
}
