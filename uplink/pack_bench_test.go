package uplink

import (
	"strconv"
	"testing"

	"github.com/tbgateway/tbgateway"
)

// BenchmarkPacker measures the encoder and packer alone: 10-value telemetry records of 50 devices into 64 KiB
// gateway messages.
func BenchmarkPacker(b *testing.B) {
	const n = 1000
	es := make([]tbgateway.Entry, n)
	for i := range es {
		vals := make(map[string]any, 10)
		for k := range 10 {
			vals["key"+strconv.Itoa(k)] = float64(i) + float64(k)/10
		}
		es[i] = tbgateway.Entry{Seq: uint64(i + 1), Record: tbgateway.Record{Device: "bench-" + strconv.Itoa(i%50),
			Telemetry: []tbgateway.Telemetry{{TS: int64(1_700_000_000_000 + i), Values: vals}}}}
	}
	pk := newPacker(65536)
	var bytes int
	b.ReportAllocs()
	for b.Loop() {
		for i := range es {
			pk.add(&es[i])
		}
		pk.flush()
		msgs, _ := pk.take()
		for _, m := range msgs {
			bytes += len(m.payload)
		}
	}
	b.ReportMetric(float64(b.N*n*10)/b.Elapsed().Seconds(), "datapoints/s")
	b.SetBytes(int64(bytes / b.N))
}
