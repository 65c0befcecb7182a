package memory

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(t *testing.T, dir string) tbgateway.Storage { return New(Options{}) },
		storagetest.Options{
			OpenFull: func(t *testing.T, dir string, limit int, p tbgateway.FullPolicy) tbgateway.Storage {
				return New(Options{MaxRecords: limit, Policy: p})
			},
		})
}

func TestDefaults(t *testing.T) {
	s := New(Options{})
	if s.max != DefaultMaxRecords || s.policy != tbgateway.RefuseNew {
		t.Fatalf("defaults: max %d policy %q", s.max, s.policy)
	}
}

// TestRingGrowsBehindUnacked keeps the oldest record unacknowledged while many later ones are acknowledged, so
// the ring must grow past its first size and keep order across the wrap.
func TestRingGrowsBehindUnacked(t *testing.T) {
	s := New(Options{MaxRecords: 10})
	ctx := context.Background()
	rec := func(n int) tbgateway.Record {
		return tbgateway.Record{Device: "d", Attributes: map[string]any{"n": int64(n)}}
	}
	if err := s.Put(ctx, []tbgateway.Record{rec(0)}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Next(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 100; n++ {
		if err := s.Put(ctx, []tbgateway.Record{rec(n)}); err != nil {
			t.Fatalf("put %d: %v", n, err)
		}
		es, err := s.Next(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Record.Attributes["n"] != int64(n) {
			t.Fatalf("put %d: got %+v", n, es)
		}
		if err := s.Ack(es[0].Seq); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Count; got != 1 {
		t.Fatalf("Count = %d, want 1", got)
	}
	s.Rewind()
	es, err := s.Next(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Seq != first[0].Seq {
		t.Fatalf("after Rewind got %+v, want only seq %d", es, first[0].Seq)
	}
	if err := s.Ack(es[0].Seq); err != nil {
		t.Fatal(err)
	}
	if s.n != 0 {
		t.Fatalf("%d slots left after acknowledging everything", s.n)
	}
	_ = s.Close()
}

func BenchmarkPutNextAck(b *testing.B) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	batch := make([]tbgateway.Record, 100)
	for i := range batch {
		batch[i] = tbgateway.Record{Device: "d", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"t": 1.5}}}}
	}
	seqs := make([]uint64, 0, len(batch))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, batch); err != nil {
			b.Fatal(err)
		}
		es, err := s.Next(ctx, len(batch))
		if err != nil {
			b.Fatal(err)
		}
		seqs = seqs[:0]
		for i := len(es) - 1; i >= 0; i-- {
			seqs = append(seqs, es[i].Seq)
		}
		if err := s.Ack(seqs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}
