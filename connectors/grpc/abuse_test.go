package grpc_test

import (
	"context"
	"strings"
	"testing"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"

	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// rawCodec sends bytes as they are, whatever the method expects.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// TestGarbageRefused: bytes that are not a FromConnectorMessage, on the unary call and on a session stream, are
// refused with an error to that client only; a registered client goes on.
func TestGarbageRefused(t *testing.T) {
	h := newHarness(t)
	good := h.session(h.ctx)

	cc, err := grpclib.NewClient(h.addr, grpclib.WithTransportCredentials(insecure.NewCredentials()), grpclib.WithDefaultCallOptions(grpclib.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99}
	var out []byte
	err = cc.Invoke(h.md("junk"), pb.TBGatewayProtoService_Stream_FullMethodName, &garbage, &out)
	if status.Code(err) == codes.OK {
		t.Fatal("garbage on the unary call was accepted")
	}
	st, err := cc.NewStream(h.ctx, &grpclib.StreamDesc{ClientStreams: true, ServerStreams: true}, pb.TBGatewayProtoService_Session_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&garbage); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(&out); status.Code(err) == codes.OK {
		t.Fatal("garbage on a session stream was accepted")
	}
	if _, err := h.client().Stream(context.Background(), telemetry("d", 1, "t", 1)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a call without identifier answered %v, want InvalidArgument", err)
	}

	h.eventually("both refusals logged", func() bool {
		l := h.log.String()
		return strings.Contains(l, "client=junk@127.0.0.1") && strings.Contains(l, "gRPC session ended: the client sent a message that is not a FromConnectorMessage")
	})
	if err := good.Send(telemetry("dev-ok", 1000, "t", 1)); err != nil {
		t.Fatal(err)
	}
	if r, err := good.Recv(); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		t.Fatalf("the registered client after the garbage: %v, %v", r, err)
	}
}

// TestFloodBackpressure: a client streaming faster than the gateway stores is not read beyond the read-ahead
// bound (its sends wait) and, once storage moves again, every message is stored and answered, in order.
func TestFloodBackpressure(t *testing.T) {
	h := newHarness(t)
	st := h.session(h.ctx)
	release := h.sink.Block()
	before := h.srv.Stats().Received
	const n = 2000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := st.Send(telemetry("flood", int64(1000+i), "i", float64(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// Storage is stuck on the first batch: the reader fills its bounded queue and stops reading.
	h.eventually("the session reader blocked", func() bool { return h.srv.Stats().ReadersBlocked == 1 })
	// At most: one batch in the stuck Send, a full read-ahead queue, one message held by the reader.
	if got := h.srv.Stats().Received - before; got > 2*64+1 {
		t.Fatalf("%d messages read while storage was stuck, want at most the read-ahead", got)
	}
	release()
	for i := range n {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
			t.Fatalf("message %d answered %v", i, r)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	recs := h.sink.Records()
	if len(recs) != n {
		t.Fatalf("%d records stored, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Telemetry[0].Values["i"] != float64(i) {
			t.Fatalf("record %d holds %v: order lost", i, r.Telemetry[0].Values["i"])
		}
	}
}
