package grpc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
	grpcconn "github.com/tbgateway/tbgateway/connectors/grpc"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// TestUnaryPythonProtocol: the Python gateway's unary call. A client registers and gets its configuration,
// telemetry is answered once stored, a poll brings the RPC waiting for it, its reply completes the RPC, and the
// connected-devices query lists the gateway's devices of the connector. Messages before registering fail.
func TestUnaryPythonProtocol(t *testing.T) {
	h := newHarness(t)
	h.gw.devices = []tbgateway.DeviceInfo{{Name: "b", Type: "t2"}, {Name: "a", Type: "t1"}}
	c := h.client()
	ctx := h.md("client-1")

	r, err := c.Stream(ctx, telemetry("dev", 1, "t", 1))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetResponse().GetStatus() != pb.ResponseStatus_FAILURE {
		t.Fatalf("telemetry before registering answered %v, want FAILURE", r)
	}
	if r, err = c.Stream(ctx, register("wrong-key")); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_NOT_FOUND {
		t.Fatalf("unknown key answered %v, %v, want NOT_FOUND", r, err)
	}
	if r, err = c.Stream(ctx, register(testKey)); err != nil {
		t.Fatal(err)
	}
	cfg := r.GetConnectorConfigurationMsg()
	if r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS || r.GetResponse().GetConnectorMessage().GetRegisterConnectorMsg() == nil ||
		cfg.GetConnectorName() != "sensors" || cfg.GetConnectorId() != "id-sensors" || cfg.GetConfiguration() != `{"name":"sensors","custom":1}` {
		t.Fatalf("registration answered %v", r)
	}
	if r, err = h.client().Stream(h.md("client-2"), register(testKey)); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_FAILURE {
		t.Fatalf("a second client's registration answered %v, %v, want FAILURE", r, err)
	}
	if r, err = c.Stream(ctx, telemetry("dev", 1, "t", 1)); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("telemetry answered %v, %v", r, err)
	}
	if n := len(h.sink.Records()); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}

	res := make(chan []byte, 1)
	go func() {
		out, err := h.conn.(tbgateway.RPCHandler).HandleRPC(h.ctx, tbgateway.RPCRequest{Device: "dev", ID: 1, Method: "get", Params: []byte(`"x"`)})
		if err != nil {
			t.Error(err)
		}
		res <- out
	}()
	var req *pb.GatewayDeviceRpcRequestMsg
	h.eventually("the RPC reaches the polling client", func() bool {
		r, err := c.Stream(ctx, &pb.FromConnectorMessage{Response: &pb.Response{}})
		if err != nil {
			t.Fatal(err)
		}
		req = r.GetGatewayDeviceRpcRequestMsg()
		return req != nil
	})
	if req.GetRpcRequestMsg().GetParams() != "x" || req.GetRpcRequestMsg().GetMethodName() != "get" {
		t.Fatalf("RPC request %v", req)
	}
	if r, err = c.Stream(ctx, &pb.FromConnectorMessage{GatewayRpcResponseMsg: &pb.GatewayRpcResponseMsg{DeviceName: "dev", Id: 1, Data: "plain text"}}); err != nil ||
		r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("RPC reply answered %v, %v", r, err)
	}
	if out := <-res; string(out) != `"plain text"` {
		t.Fatalf("RPC result %s", out)
	}

	if r, err = c.Stream(ctx, &pb.FromConnectorMessage{ConnectorGetConnectedDevicesMsg: &pb.ConnectorGetConnectedDevicesMsg{}}); err != nil {
		t.Fatal(err)
	}
	devs := r.GetConnectorGetConnectedDevicesResponseMsg().GetConnectorDevices()
	if len(devs) != 2 || devs[0].GetDeviceName() != "a" || devs[1].GetDeviceType() != "t2" || r.GetResponse().GetConnectorMessage().GetConnectorGetConnectedDevicesMsg() == nil {
		t.Fatalf("connected devices answered %v", r)
	}

	if r, err = c.Stream(ctx, &pb.FromConnectorMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{ConnectorKey: testKey}}); err != nil ||
		r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("unregister answered %v, %v", r, err)
	}
	if r, err = c.Stream(ctx, &pb.FromConnectorMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{ConnectorKey: testKey}}); err != nil ||
		r.GetResponse().GetStatus() != pb.ResponseStatus_NOT_FOUND {
		t.Fatalf("second unregister answered %v, %v, want NOT_FOUND", r, err)
	}
}

// TestDownlinkWithoutClient: an RPC or attribute update for a gRPC connector no client is registered for fails
// at once, naming the connector.
func TestDownlinkWithoutClient(t *testing.T) {
	h := newHarness(t)
	_, err := h.conn.(tbgateway.RPCHandler).HandleRPC(h.ctx, tbgateway.RPCRequest{Device: "d", ID: 1, Method: "m"})
	if !errors.Is(err, grpcconn.ErrNotRegistered) || !strings.Contains(err.Error(), `"sensors"`) {
		t.Errorf("RPC without a client: %v", err)
	}
	if err := h.conn.(tbgateway.AttributeUpdater).UpdateAttributes(h.ctx, "d", map[string]any{"a": true}); !errors.Is(err, grpcconn.ErrNotRegistered) {
		t.Errorf("attribute update without a client: %v", err)
	}
}
