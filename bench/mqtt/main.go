// Command mqtt measures the MQTT connector end to end: a publisher sends N JSON messages for D devices at QoS 1
// into a local mosquitto, the gateway (runtime + MQTT connector, memory storage, in this process) forwards them to
// the tbemu ThingsBoard emulator (also in this process), and the command counts what tbemu received: delivered,
// missing, duplicated, msgs/s, p50/p99 latency from publish to tbemu. In the same run it measures the bare
// pass-through of the same mosquitto (the same publisher and payloads, a plain QoS 1 subscriber) and reports
// the ratio. -storage file or sqlite uses a durable storage (records synced before the broker gets its PUBACK). RSS is this whole process (gateway, emulator and clients), so it over-states the gateway's own.
//
//	go run ./bench/mqtt -n 20000 -d 10            # as fast as possible
//	go run ./bench/mqtt -n 10000 -d 10 -rate 1000 # steady 1,000 msgs/s, for latency
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/tbgateway/tbgateway/bench/procstat"
	"github.com/tbgateway/tbgateway/config"
	_ "github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

func main() {
	o := opts{}
	flag.IntVar(&o.n, "n", 20000, "messages to publish")
	flag.IntVar(&o.devices, "d", 10, "devices (topics) the messages are spread over")
	flag.IntVar(&o.rate, "rate", 0, "steady publish rate in msgs/s (0: as fast as the window allows)")
	flag.IntVar(&o.window, "window", 100, "QoS 1 publishes in flight")
	flag.IntVar(&o.version, "version", 4, "MQTT version of the connector's broker link (4 = 3.1.1, 5)")
	flag.StringVar(&o.storage, "storage", "memory", "gateway storage: memory, file or sqlite (durable ones sync before the broker gets its PUBACK)")
	flag.StringVar(&o.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound of the whole run")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/mqtt:", err)
		os.Exit(1)
	}
}

type opts struct {
	n, devices, rate, window, version int
	mosquitto, storage                string
	timeout                           time.Duration
}

type result struct {
	delivered, missing, duplicated int
	elapsed                        time.Duration
	lat                            []time.Duration
}

func (r result) rate() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func run(o opts) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-mqtt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, stop, err := startMosquitto(o.mosquitto, dir)
	if err != nil {
		return err
	}
	defer stop()

	bare, err := runBare(ctx, o, addr)
	if err != nil {
		return fmt.Errorf("bare pass-through: %w", err)
	}
	gw, err := runGateway(ctx, o, addr, dir)
	if err != nil {
		return fmt.Errorf("through the gateway: %w", err)
	}
	fmt.Printf("messages %d, devices %d, rate %s, window %d, connector MQTT version %d, storage %s\n",
		o.n, o.devices, rateText(o.rate), o.window, o.version, o.storage)
	for _, row := range []struct {
		name string
		r    result
	}{{"bare mosquitto", bare}, {"gateway → tbemu", gw}} {
		fmt.Printf("%-16s delivered %d missing %d duplicated %d  %8.0f msgs/s  p50 %v  p99 %v\n", row.name,
			row.r.delivered, row.r.missing, row.r.duplicated, row.r.rate(), row.r.pct(0.50).Round(10*time.Microsecond),
			row.r.pct(0.99).Round(10*time.Microsecond))
	}
	fmt.Printf("ratio gateway/bare %.2f\n", gw.rate()/bare.rate())
	fmt.Printf("peak RSS of this process (gateway + tbemu + clients) %s\n", procstat.MemoryMB(0, "VmHWM"))
	return nil
}

func rateText(r int) string {
	if r == 0 {
		return "max"
	}
	return strconv.Itoa(r) + "/s"
}

func startMosquitto(bin, dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"set_tcp_nodelay true\nmax_queued_messages 10000000\nmax_inflight_messages 0\nuser root\nlog_type error\n", port, dir)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("mosquitto does not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond) // startup poll
	}
}

func client(addr, id string) (paho3.Client, error) {
	c := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetOrderMatters(false).SetMaxResumePubInFlight(0))
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", id, t.Error())
	}
	return c, nil
}

// publish sends n messages spread over the devices with a sliding window of QoS 1 publishes, paced when rate
// is set, and records each message's send time by its sequence number.
func publish(ctx context.Context, o opts, addr, prefix string, sent []atomic.Int64) error {
	c, err := client(addr, prefix+"-publisher")
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	window := make(chan paho3.Token, o.window)
	var tick *time.Ticker
	if o.rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(o.rate))
		defer tick.Stop()
	}
	start := time.Now()
	for seq := 0; seq < o.n; seq++ {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(window) == cap(window) {
			if t := <-window; !t.WaitTimeout(30*time.Second) || t.Error() != nil {
				return fmt.Errorf("publish: %v", t.Error())
			}
		}
		payload := fmt.Sprintf(`{"seq":%d,"temperature":21.5,"humidity":40,"status":"ok"}`, seq)
		sent[seq].Store(int64(time.Since(start)))
		window <- c.Publish(fmt.Sprintf("%s/dev%d/data", prefix, seq%o.devices), 1, false, payload)
	}
	close(window)
	for t := range window {
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			return fmt.Errorf("publish: %v", t.Error())
		}
	}
	return nil
}

// runBare measures mosquitto alone: a subscriber at QoS 1 counts the publisher's messages.
func runBare(ctx context.Context, o opts, addr string) (result, error) {
	sub, err := client(addr, "bare-subscriber")
	if err != nil {
		return result{}, err
	}
	defer sub.Disconnect(100)
	sent := make([]atomic.Int64, o.n)
	seen := make([]int32, o.n)
	var mu sync.Mutex
	var lat []time.Duration
	got := make(chan struct{}, 1)
	var count atomic.Int64
	var start time.Time
	t := sub.Subscribe("bare/#", 1, func(_ paho3.Client, m paho3.Message) {
		var p struct{ Seq int }
		if json.Unmarshal(m.Payload(), &p) != nil || p.Seq < 0 || p.Seq >= o.n {
			return
		}
		now := time.Since(start)
		mu.Lock()
		seen[p.Seq]++
		lat = append(lat, now-time.Duration(sent[p.Seq].Load()))
		mu.Unlock()
		if count.Add(1) == int64(o.n) {
			got <- struct{}{}
		}
	})
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return result{}, fmt.Errorf("subscribe: %v", t.Error())
	}
	start = time.Now()
	if err := publish(ctx, o, addr, "bare", sent); err != nil {
		return result{}, err
	}
	select {
	case <-got:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	r := result{elapsed: elapsed, lat: lat}
	for _, s := range seen {
		switch {
		case s == 0:
			r.missing++
		default:
			r.delivered++
			r.duplicated += int(s) - 1
		}
	}
	return r, nil
}

// runGateway measures the publisher → mosquitto → gateway → tbemu path.
func runGateway(ctx context.Context, o opts, addr, dir string) (result, error) {
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler), MaxValuesPerKey: o.n + 10})
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Bench Gateway", Gateway: true, Token: "bench-token"}); err != nil {
		return result{}, err
	}
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	bhost, bport, _ := net.SplitHostPort(addr)
	gwDir := filepath.Join(dir, "gw")
	if err := os.MkdirAll(gwDir, 0o755); err != nil {
		return result{}, err
	}
	mqttConf := fmt.Sprintf(`{"broker": {"host": %q, "port": %s, "version": %d, "clientId": "bench-gateway"},
	  "mapping": [{"topicFilter": "gw/+/data", "subscriptionQos": 1, "converter": {"type": "json",
	    "deviceInfo": {"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=gw/)(.*?)(?=/data)"},
	    "timeseries": [{"key": "seq", "type": "int", "value": "${seq}"}, {"key": "temperature", "type": "double", "value": "${temperature}"},
	                   {"key": "humidity", "type": "double", "value": "${humidity}"}, {"key": "status", "type": "string", "value": "${status}"}]}}]}`,
		bhost, bport, o.version)
	storage := fmt.Sprintf(`{"type": "memory", "max_records_count": %d}`, o.n*2+1000)
	switch o.storage {
	case "file":
		storage = fmt.Sprintf(`{"type": "file", "data_folder_path": %q, "max_file_count": 1000, "max_records_per_file": 100000}`,
			filepath.Join(gwDir, "data")+"/")
	case "sqlite":
		storage = fmt.Sprintf(`{"type": "sqlite", "data_file_path": %q}`, filepath.Join(gwDir, "data.db"))
	}
	mainConf := fmt.Sprintf(`{"thingsboard": {"host": %q, "port": %s, "security": {"accessToken": "bench-token"},
	  "statistics": {"enable": false}}, "storage": %s,
	  "connectors": [{"type": "mqtt", "name": "MQTT", "configuration": "mqtt.json"}]}`, host, port, storage)
	if err := os.WriteFile(filepath.Join(gwDir, "mqtt.json"), []byte(mqttConf), 0o644); err != nil {
		return result{}, err
	}
	if err := os.WriteFile(filepath.Join(gwDir, config.MainFileJSON), []byte(mainConf), 0o644); err != nil {
		return result{}, err
	}
	cfg, _, err := config.Load(gwDir, nil)
	if err != nil {
		return result{}, err
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return result{}, err
	}
	gctx, gcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(gctx) }()
	defer func() { gcancel(); <-done }()
	for connected := false; !connected; {
		select {
		case ev := <-gw.Link().Events():
			connected = ev.Type == uplink.EventConnected
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	// The connector subscribes right after its broker connection; wait until a probe message goes through.
	if err := probe(ctx, emu, addr); err != nil {
		return result{}, err
	}

	sent := make([]atomic.Int64, o.n)
	lastSeq := make([]int64, o.devices) // per device, the highest seq seen so far (order per device is kept)
	for i := range lastSeq {
		lastSeq[i] = int64(i) - int64(o.devices)
	}
	var lat []time.Duration
	delivered := 0
	start := time.Now()
	pubErr := make(chan error, 1)
	go func() { pubErr <- publish(ctx, o, addr, "gw", sent) }()
	err = emu.WaitFor(ctx, func() bool {
		now := time.Since(start)
		for d := 0; d < o.devices; d++ {
			v, ok := emu.Latest("dev" + strconv.Itoa(d))["seq"].Value.(int64)
			if !ok || v <= lastSeq[d] {
				continue
			}
			for s := lastSeq[d] + int64(o.devices); s <= v; s += int64(o.devices) {
				lat = append(lat, now-time.Duration(sent[s].Load()))
				delivered++
			}
			lastSeq[d] = v
		}
		return delivered >= o.n
	})
	elapsed := time.Since(start)
	if perr := <-pubErr; perr != nil {
		return result{}, perr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "not everything arrived: %v\n", err)
	}
	r := result{elapsed: elapsed, lat: lat}
	counts := make([]int, o.n)
	for d := 0; d < o.devices; d++ {
		for _, p := range emu.Telemetry("dev"+strconv.Itoa(d), "seq") {
			if v, ok := p.Value.(int64); ok && v >= 0 && v < int64(o.n) {
				counts[v]++
			}
		}
	}
	for _, c := range counts {
		if c == 0 {
			r.missing++
		} else {
			r.delivered++
			r.duplicated += c - 1
		}
	}
	return r, nil
}

// probe publishes to a topic of the mapping until tbemu has the probe device.
func probe(ctx context.Context, emu *tbemu.Server, addr string) error {
	c, err := client(addr, "probe")
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	for {
		c.Publish("gw/probe/data", 1, false, `{"seq":-1}`).WaitTimeout(5 * time.Second)
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := emu.WaitFor(pctx, func() bool { _, ok := emu.Latest("probe")["seq"]; return ok })
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
