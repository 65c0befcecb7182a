package grpc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tbgateway/tbgateway"
	grpcconn "github.com/tbgateway/tbgateway/connectors/grpc"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// countSink validates and counts records: the gateway's cost without a storage's.
type countSink struct {
	srv  *grpcconn.Server
	recs atomic.Int64
}

func (s *countSink) Send(_ context.Context, recs ...tbgateway.Record) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	s.recs.Add(int64(len(recs)))
	return nil
}
func (s *countSink) RequestAttributes(context.Context, string, bool, []string) (map[string]any, error) {
	return nil, nil
}
func (s *countSink) Logger() *slog.Logger         { return slog.New(slog.DiscardHandler) }
func (s *countSink) GRPCServer() *grpcconn.Server { return s.srv }

// benchServer runs a server with the connector "sensors" attached to a countSink and returns a client stub.
func benchServer(b *testing.B) (pb.TBGatewayProtoServiceClient, *countSink) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	srv := grpcconn.NewServer(grpcconn.Options{Addr: "127.0.0.1:0", Gateway: &fakeGateway{}})
	go srv.Run(ctx)
	addr, err := srv.Addr(ctx)
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{srv: srv}
	conn, _ := grpcconn.New(tbgateway.ConnectorConfig{Name: "sensors", Type: "grpc", Raw: json.RawMessage(`{}`)})
	go conn.Run(ctx, sink)
	cc, err := grpclib.NewClient(addr.String(), grpclib.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	c := pb.NewTBGatewayProtoServiceClient(cc)
	md := metadata.AppendToOutgoingContext(ctx, "identifier", "bench")
	for {
		r, err := c.Stream(md, register(testKey))
		if err != nil {
			b.Fatal(err)
		}
		if r.GetResponse().GetStatus() == pb.ResponseStatus_SUCCESS {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Stream(md, &pb.FromConnectorMessage{UnregisterConnectorMsg: &pb.UnregisterConnectorMsg{ConnectorKey: testKey}}); err != nil {
		b.Fatal(err)
	}
	return c, sink
}

// benchMessage is one device's telemetry with three values (one record).
func benchMessage(i int) *pb.FromConnectorMessage {
	m := telemetry("bench-device", int64(1_700_000_000_000+i), "temperature", 21.5)
	kv := m.GatewayTelemetryMsg.Msg[0].Msg.TsKvList[0]
	kv.Kv = append(kv.Kv, &pb.KeyValueProto{Key: "count", Type: pb.KeyValueType_LONG_V, LongV: int64(i)},
		&pb.KeyValueProto{Key: "state", Type: pb.KeyValueType_STRING_V, StringV: "ok"})
	return m
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds records/s and the process's CPU time per record (client and server together, both in this
// process).
func report(b *testing.B, sink *countSink, start time.Time, cpu0 time.Duration) {
	n := float64(sink.recs.Load())
	if n == 0 {
		b.Fatal("no record stored")
	}
	b.ReportMetric(n/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/n, "cpu-ns/record")
}

// BenchmarkUnary: one client, the Python gateway's unary call, one message (one record) per call, each call
// waiting for its answer.
func BenchmarkUnary(b *testing.B) {
	c, sink := benchServer(b)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "identifier", "bench-unary")
	if r, err := c.Stream(ctx, register(testKey)); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		b.Fatalf("register: %v %v", r, err)
	}
	start, cpu0 := time.Now(), cpuTime()
	b.ResetTimer()
	for i := range b.N {
		r, err := c.Stream(ctx, benchMessage(i))
		if err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
			b.Fatalf("%v %v", r, err)
		}
	}
	b.StopTimer()
	report(b, sink, start, cpu0)
}

// BenchmarkSession: one client, the session stream, messages sent without waiting for each answer (the read-ahead
// and batching let the gateway store them together); every answer is awaited.
func BenchmarkSession(b *testing.B) {
	c, sink := benchServer(b)
	st, err := c.Session(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Send(register(testKey)); err != nil {
		b.Fatal(err)
	}
	if r, err := st.Recv(); err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
		b.Fatalf("register: %v %v", r, err)
	}
	start, cpu0 := time.Now(), cpuTime()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for i := range b.N {
			if err := st.Send(benchMessage(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range b.N {
		r, err := st.Recv()
		if err != nil || r.GetResponse().GetStatus() != pb.ResponseStatus_SUCCESS {
			b.Fatalf("%v %v", r, err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	report(b, sink, start, cpu0)
}
