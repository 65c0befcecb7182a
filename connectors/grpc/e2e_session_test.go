package grpc_test

import (
	"reflect"
	"testing"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// TestE2ESessionClient: a Go client on the session stream, through the gateway to the ThingsBoard emulator. Its
// telemetry arrives, and an RPC from ThingsBoard is pushed to it without any poll. The "auto" key survives a
// restart of the gateway, and a stopped gateway tells the client it is unregistered.
func TestE2ESessionClient(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{
		Connectors: []gwtest.Connector{{Type: "grpc", Name: "Go connector", Key: "auto", Conf: map[string]any{}}},
		Sections:   map[string]any{"grpc": map[string]any{"enabled": true, "serverHost": "127.0.0.1", "serverPort": 0}},
	})
	key := ""
	for run := range 2 {
		g := e.Start(gwtest.StartOptions{})
		addr, err := g.GW.GRPCServer().Addr(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		g.WaitLog(e.Ctx, "gRPC connector waiting for its client")
		got := generatedKey(t, e, "Go connector")
		if key != "" && got != key {
			t.Fatalf("run %d: generated key %q, want the key of the first run %q", run, got, key)
		}
		key = got

		cc, err := grpclib.NewClient(addr.String(), grpclib.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		st, err := pb.NewTBGatewayProtoServiceClient(cc).Session(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		send := func(m *pb.FromConnectorMessage) *pb.FromServiceMessage {
			t.Helper()
			if err := st.Send(m); err != nil {
				t.Fatal(err)
			}
			r, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
				t.Fatalf("%v answered %v", m, r)
			}
			return r
		}
		send(register(key))
		ts := int64(1_700_000_000_000 + run)
		send(telemetry("go-dev", ts, "t", 20+float64(run)))
		e.WaitTelemetry("go-dev", "t", run+1)
		if v, ok := e.ValueAt("go-dev", "t", ts); !ok || v != 20+float64(run) {
			t.Fatalf("run %d: t at ThingsBoard = %v", run, v)
		}

		reply := make(chan any, 1)
		go func() { reply <- e.RPC("go-dev", "ping", map[string]any{"n": run}) }()
		r, err := st.Recv() // pushed: the client sends nothing
		if err != nil {
			t.Fatal(err)
		}
		req := r.GetGatewayDeviceRpcRequestMsg()
		if req.GetDeviceName() != "go-dev" || req.GetRpcRequestMsg().GetMethodName() != "ping" {
			t.Fatalf("pushed %v, want the RPC", r)
		}
		send(&pb.FromConnectorMessage{GatewayRpcResponseMsg: &pb.GatewayRpcResponseMsg{DeviceName: "go-dev", Id: req.GetRpcRequestMsg().GetRequestId(), Data: `{"pong":true}`}})
		if got := <-reply; !reflect.DeepEqual(got, map[string]any{"pong": true}) {
			t.Fatalf("RPC reply at ThingsBoard %v", got)
		}

		g.Stop()
		if r, err = st.Recv(); err != nil || r.GetUnregisterConnectorMsg() == nil {
			t.Fatalf("after the gateway stopped the client got %v, %v, want an UnregisterConnectorMsg", r, err)
		}
		cc.Close()
	}
}
