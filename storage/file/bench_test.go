package file

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// BenchmarkPutReadAck measures put+read+ack of ~100-byte records: writers Put one record at a time while one
// reader takes batches with Next and acknowledges them. "sync-per-record" is a single writer, so every record
// has an fsync of its own; the others show group commit under the default fsync policy.
func BenchmarkPutReadAck(b *testing.B) {
	for _, bc := range []struct {
		name            string
		writers, perPut int
	}{
		{"sync-per-record", 1, 1},
		{"group-commit/writers=16", 16, 1},
		{"group-commit/writers=256", 256, 1},
		{"group-commit/writers=16/batch=10", 16, 10},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPutReadAck(b, bc.writers, bc.perPut) })
	}
}

func benchPutReadAck(b *testing.B, writers, perPut int) {
	s, err := Open(Options{Dir: b.TempDir(), MaxRecords: 1 << 30}, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := tbgateway.Record{Device: "device-0001", Telemetry: []tbgateway.Telemetry{{TS: 1700000000000,
		Values: map[string]any{"temperature": 21.5, "seq": int64(1), "note": strings.Repeat("x", 40)}}}}
	batch := make([]tbgateway.Record, perPut)
	for i := range batch {
		batch[i] = r
	}
	b.SetBytes(int64(len(r.AppendBinary(nil))))
	b.ResetTimer()
	total := b.N
	var wg sync.WaitGroup
	for w := range writers {
		n := total / writers
		if w < total%writers {
			n++
		}
		wg.Go(func() {
			for i := 0; i < n; i += perPut {
				if err := s.Put(context.Background(), batch[:min(perPut, n-i)]); err != nil {
					panic(fmt.Sprintf("Put: %v", err))
				}
			}
		})
	}
	seqs := make([]uint64, 0, 1000)
	for done := 0; done < total; {
		es, err := s.Next(context.Background(), 1000)
		if err != nil {
			b.Fatal(err)
		}
		seqs = seqs[:0]
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if err := s.Ack(seqs...); err != nil {
			b.Fatal(err)
		}
		done += len(es)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
