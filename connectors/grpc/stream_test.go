package grpc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// TestSessionAcksAfterStorage: the session stream answers a data message SUCCESS only once the sink stored it,
// and FAILURE (nothing stored) when the sink refuses it.
func TestSessionAcksAfterStorage(t *testing.T) {
	h := newHarness(t)
	st := h.session(h.ctx)
	if err := st.Send(telemetry("dev-1", 1000, "t", 21.5)); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS || r.GetResponse().GetConnectorMessage().GetGatewayTelemetryMsg() == nil {
		t.Fatalf("telemetry answered %v, want SUCCESS naming gatewayTelemetryMsg", r)
	}
	recs := h.sink.Records()
	if len(recs) != 1 || recs[0].Device != "dev-1" || recs[0].Telemetry[0].Values["t"] != 21.5 || recs[0].Telemetry[0].TS != 1000 {
		t.Fatalf("stored %+v", recs)
	}

	h.sink.FailNext(tbgateway.ErrStorageFull)
	if err := st.Send(telemetry("dev-1", 2000, "t", 22)); err != nil {
		t.Fatal(err)
	}
	if r, err = st.Recv(); err != nil {
		t.Fatal(err)
	}
	if r.GetResponse().GetStatus() != pb.ResponseStatus_FAILURE {
		t.Fatalf("telemetry the storage refused answered %v, want FAILURE", r)
	}
	if n := len(h.sink.Records()); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
}

// TestSessionTypedValuesAndDevices: typed values, connect and disconnect become records; a wrong value is
// refused with FAILURE and stores nothing.
func TestSessionTypedValuesAndDevices(t *testing.T) {
	h := newHarness(t)
	st := h.session(h.ctx)
	msgs := []*pb.FromConnectorMessage{
		{ConnectMsg: &pb.ConnectMsg{DeviceName: "dev-2", DeviceType: "thermo"}},
		{GatewayAttributesMsg: &pb.GatewayAttributesMsg{Msg: []*pb.AttributesMsg{{DeviceName: "dev-2", Msg: &pb.PostAttributeMsg{Kv: []*pb.KeyValueProto{
			{Key: "b", Type: pb.KeyValueType_BOOLEAN_V, BoolV: true},
			{Key: "l", Type: pb.KeyValueType_LONG_V, LongV: 42},
			{Key: "s", Type: pb.KeyValueType_STRING_V, StringV: "x"},
			{Key: "j", Type: pb.KeyValueType_JSON_V, JsonV: `{"a":1}`},
		}}}}}},
		{GatewayAttributesMsg: &pb.GatewayAttributesMsg{Msg: []*pb.AttributesMsg{{DeviceName: "dev-2", Msg: &pb.PostAttributeMsg{Kv: []*pb.KeyValueProto{
			{Key: "bad", Type: pb.KeyValueType_JSON_V, JsonV: `not json`},
		}}}}}},
		{DisconnectMsg: &pb.DisconnectMsg{DeviceName: "dev-2"}},
	}
	want := []pb.ResponseStatus{pb.ResponseStatus_SUCCESS, pb.ResponseStatus_SUCCESS, pb.ResponseStatus_FAILURE, pb.ResponseStatus_SUCCESS}
	for _, m := range msgs {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range msgs {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.GetResponse().GetStatus(); got != want[i] {
			t.Errorf("message %d answered %v, want %v", i, got, want[i])
		}
	}
	recs := h.sink.Records()
	if len(recs) != 3 {
		t.Fatalf("stored %d records, want 3: %+v", len(recs), recs)
	}
	if recs[0].Kind != tbgateway.KindConnect || recs[0].DeviceType != "thermo" || recs[2].Kind != tbgateway.KindDisconnect {
		t.Errorf("connect/disconnect records %+v", recs)
	}
	a := recs[1].Attributes
	if a["b"] != true || a["l"] != int64(42) || a["s"] != "x" || string(a["j"].(tbgateway.RawJSON)) != `{"a":1}` {
		t.Errorf("attributes %#v", a)
	}
}

// TestSessionRPCAndAttributes: an RPC from ThingsBoard reaches the streaming client at once and its reply is
// the RPC's result; a shared-attribute update reaches it; an attribute request is answered from the sink.
func TestSessionRPCAndAttributes(t *testing.T) {
	h := newHarness(t)
	st := h.session(h.ctx)
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := h.conn.(tbgateway.RPCHandler).HandleRPC(h.ctx, tbgateway.RPCRequest{Device: "dev-3", ID: 7, Method: "setState", Params: []byte(`{"on":true}`)})
		res <- result{out, err}
	}()
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	req := r.GetGatewayDeviceRpcRequestMsg()
	if req.GetDeviceName() != "dev-3" || req.GetRpcRequestMsg().GetRequestId() != 7 || req.GetRpcRequestMsg().GetMethodName() != "setState" || req.GetRpcRequestMsg().GetParams() != `{"on":true}` {
		t.Fatalf("RPC request %v", r)
	}
	if err := st.Send(&pb.FromConnectorMessage{GatewayRpcResponseMsg: &pb.GatewayRpcResponseMsg{DeviceName: "dev-3", Id: 7, Data: `{"done":1}`}}); err != nil {
		t.Fatal(err)
	}
	if r, err = st.Recv(); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("RPC reply answered %v, %v", r, err)
	}
	if got := <-res; got.err != nil || string(got.out) != `{"done":1}` {
		t.Fatalf("HandleRPC returned %s, %v", got.out, got.err)
	}

	if err := h.conn.(tbgateway.AttributeUpdater).UpdateAttributes(h.ctx, "dev-3", map[string]any{"limit": int64(5)}); err != nil {
		t.Fatal(err)
	}
	if r, err = st.Recv(); err != nil {
		t.Fatal(err)
	}
	u := r.GetGatewayAttributeUpdateNotificationMsg()
	if u.GetDeviceName() != "dev-3" || len(u.GetNotificationMsg().GetSharedUpdated()) != 1 || u.GetNotificationMsg().GetSharedUpdated()[0].GetKv().GetLongV() != 5 {
		t.Fatalf("attribute update %v", r)
	}

	h.sink.SetAttributes("dev-3", map[string]any{"mode": "eco"})
	if err := st.Send(&pb.FromConnectorMessage{GatewayAttributeRequestMsg: &pb.GatewayAttributesRequestMsg{Id: 3, DeviceName: "dev-3", Keys: []string{"mode"}}}); err != nil {
		t.Fatal(err)
	}
	var ack, answer *pb.FromServiceMessage
	for ack == nil || answer == nil {
		if r, err = st.Recv(); err != nil {
			t.Fatal(err)
		}
		if r.GetResponse() != nil {
			ack = r
		} else {
			answer = r
		}
	}
	if ack.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("attribute request answered %v", ack)
	}
	a := answer.GetGatewayAttributeResponseMsg()
	if a.GetDeviceName() != "dev-3" || a.GetResponseMsg().GetRequestId() != 3 || len(a.GetResponseMsg().GetSharedAttributeList()) != 1 ||
		a.GetResponseMsg().GetSharedAttributeList()[0].GetStringV() != "eco" {
		t.Fatalf("attribute answer %v", answer)
	}
}

// TestSessionEndUnregisters: a client that drops its stream while its data is being stored frees its
// connector (another client registers), and the server goes on.
func TestSessionEndUnregisters(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(h.ctx)
	st := h.session(ctx)
	release := h.sink.Block()
	if err := st.Send(telemetry("dev-4", 1000, "t", 1)); err != nil {
		t.Fatal(err)
	}
	if err := h.sink.WaitBlocked(h.ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel() // the client goes away mid-stream, its message not answered
	if err := h.sink.WaitAttempts(h.ctx, 1); err != nil {
		t.Fatal(err)
	}
	release()
	if a := h.sink.Attempts(); !errors.Is(a[0].Err, context.Canceled) {
		t.Fatalf("the dropped client's Send ended with %v, want it cancelled", a[0].Err)
	}
	// Registration is freed by the stream's end: a new client registers (retried until the server noticed).
	c := h.client()
	h.eventually("the dropped session's registration freed", func() bool {
		r, err := c.Stream(h.md("next"), register(testKey))
		return err == nil && r.GetResponse().GetStatus() == pb.ResponseStatus_SUCCESS
	})
}
