package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// benchRecord is a typical record: a device with five telemetry values.
func benchRecord(i int) tbgateway.Record {
	return tbgateway.Record{
		Device: fmt.Sprintf("Device %04d", i%100), DeviceType: "thermostat", Connector: "modbus",
		Telemetry: []tbgateway.Telemetry{{TS: 1700000000000 + int64(i), Values: map[string]any{
			"temperature": 21.5, "humidity": int64(40), "pressure": 1013.25, "status": "ok", "alarm": false}}},
	}
}

func benchBatch(n int) ([]tbgateway.Record, int64) {
	batch := make([]tbgateway.Record, n)
	var size int64
	for i := range batch {
		batch[i] = benchRecord(i)
		size += int64(len(batch[i].AppendBinary(nil)))
	}
	return batch, size
}

// BenchmarkPutNextAck measures the whole path with the default options (synchronous FULL, refuse-new): one op
// is a Put of a batch, a Next of it and its Ack. Reported: records/s, MB/s of encoded records.
func BenchmarkPutNextAck(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, n), func(b *testing.B) {
				s, err := Open(context.Background(), Options{Dir: b.TempDir(), Synchronous: sync}, quiet)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				batch, size := benchBatch(n)
				b.SetBytes(size)
				ctx := context.Background()
				seqs := make([]uint64, 0, n)
				for b.Loop() {
					if err := s.Put(ctx, batch); err != nil {
						b.Fatal(err)
					}
					seqs = seqs[:0]
					for len(seqs) < n {
						es, err := s.Next(ctx, n-len(seqs))
						if err != nil {
							b.Fatal(err)
						}
						for _, e := range es {
							seqs = append(seqs, e.Seq)
						}
					}
					if err := s.Ack(seqs...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkConcurrentPut measures group commit: many goroutines Put one record each, with synchronous FULL.
func BenchmarkConcurrentPut(b *testing.B) {
	s, err := Open(context.Background(), Options{Dir: b.TempDir(), MaxRecords: 1 << 30}, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch, size := benchBatch(1)
	b.SetBytes(size)
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Put(context.Background(), batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDiskPerRecord stores 100000 records, checkpoints, and reports the database file's bytes per record.
func BenchmarkDiskPerRecord(b *testing.B) {
	const total = 100000
	for b.Loop() {
		s, err := Open(context.Background(), Options{Dir: b.TempDir(), Synchronous: "NORMAL"}, quiet)
		if err != nil {
			b.Fatal(err)
		}
		batch, size := benchBatch(1000)
		for range total / len(batch) {
			if err := s.Put(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.wconn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(s.Path())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/total, "disk-bytes/record")
		b.ReportMetric(float64(size)/float64(len(batch)), "encoded-bytes/record")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
