package uplink

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/tbemu"
)

// BenchmarkUplinkVsBarePaho drains a pre-filled memory storage into tbemu at QoS 1 and then sends the very same
// packed payloads with a bare paho.golang publisher (100 in flight, one goroutine each) over a new connection
// to the same tbemu. It reports the uplink's datapoints/s and messages/s, the bare publisher's messages/s and
// the ratio uplink/bare. Flags: -benchtime=Nx sets the number of rounds.
func BenchmarkUplinkVsBarePaho(b *testing.B) {
	for _, size := range []int{65536, 4096} {
		b.Run("packet="+strconv.Itoa(size), func(b *testing.B) { benchUplink(b, size) })
	}
}

func benchUplink(b *testing.B, packetSize int) {
	const devices, records, keys = 50, 50000, 10
	emu, err := tbemu.Start(context.Background(), tbemu.Options{MaxValuesPerKey: 1 << 22, MaxRawLog: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "gw", Gateway: true, Token: gwToken}); err != nil {
		b.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	recs := make([]tbgateway.Record, records)
	for i := range recs {
		vals := make(map[string]any, keys)
		for k := range keys {
			vals["key"+strconv.Itoa(k)] = float64(i) + float64(k)/10
		}
		recs[i] = tbgateway.Record{Device: "bench-" + strconv.Itoa(i%devices),
			Telemetry: []tbgateway.Telemetry{{TS: int64(1_700_000_000_000 + i), Values: vals}}}
	}
	var upTime, bareTime time.Duration
	var upMsgs, dps uint64
	for b.Loop() {
		store := memory.New(memory.Options{MaxRecords: records})
		if err := store.Put(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var payloads [][]byte
		cli, err := New(Config{Host: host, Port: p, Security: Security{AccessToken: gwToken}, BatchMax: 1000, MaxPayloadSize: packetSize}, store, newTestDownlink(),
			slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		cli.encodeHook = func(m *outMsg) {
			mu.Lock()
			payloads = append(payloads, m.payload)
			mu.Unlock()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cli.Run(ctx) }()
		for ev := range cli.Events() { // measure the steady state, not the TCP and MQTT handshakes
			if ev.Type == EventConnected {
				break
			}
		}
		start := time.Now()
		for store.Stats().Count > 0 {
			time.Sleep(time.Millisecond)
		}
		upTime += time.Since(start)
		cancel()
		<-done
		st := cli.Stats()
		upMsgs += st.Messages
		dps += st.Datapoints
		_ = store.Close()
		bareTime += barePublish(b, emu.MQTTAddr(), payloads)
	}
	up := float64(upMsgs) / upTime.Seconds()
	bare := float64(upMsgs) / bareTime.Seconds()
	b.ReportMetric(float64(dps)/upTime.Seconds(), "datapoints/s")
	b.ReportMetric(up, "msgs/s")
	b.ReportMetric(bare, "bare-msgs/s")
	b.ReportMetric(float64(dps)/bareTime.Seconds(), "bare-datapoints/s")
	b.ReportMetric(up/bare, "ratio")
	b.Logf("uplink %.0f msg/s %.0f dp/s; bare paho %.0f msg/s; ratio %.2f (%d messages, ~%d datapoints each)",
		up, float64(dps)/upTime.Seconds(), bare, up/bare, upMsgs, avgLen(dps, upMsgs))
}

func avgLen(dps, msgs uint64) uint64 {
	if msgs == 0 {
		return 0
	}
	return dps / msgs
}

// barePublish sends payloads on v1/gateway/telemetry at QoS 1 with a sliding window of 100 and returns the time.
func barePublish(b *testing.B, addr string, payloads [][]byte) time.Duration {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: &batchConn{Conn: conn}})
	if _, err := cli.Connect(context.Background(), &paho.Connect{KeepAlive: 120, CleanStart: true,
		Username: gwToken, UsernameFlag: true}); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cli.Disconnect(&paho.Disconnect{}) }()
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	start := time.Now()
	for _, pl := range payloads {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := cli.Publish(context.Background(), &paho.Publish{Topic: topicGwTelemetry, QoS: 1, Payload: pl}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
