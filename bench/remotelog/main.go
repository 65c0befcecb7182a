// Command remotelog-bench measures the data rate of a gateway with remote logging off and at TRACE: a connector
// sends records at -rate records/s (0: as fast as it can, in batches of 100) and logs one DEBUG line per record
// into remote logging (enableRemoteLogging), while the emulator (in process) counts what ThingsBoard received.
// The data rate is the records divided by the time from the first send until the emulator holds all of them.
//
//	go run ./bench/remotelog -records 10000 -rate 1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/logging"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

const (
	gwName    = "Bench Gateway"
	gwToken   = "remotelog-bench-token"
	benchType = "remotelogbench"
	device    = "bench-dev"
)

// startedAt is when the bench connector's first send began (set by the connector before it sends).
var startedAt time.Time

func main() {
	records := flag.Int("records", 10000, "records the connector sends")
	rate := flag.Int("rate", 1000, "records per second (0: as fast as possible)")
	verbose := flag.Bool("v", false, "write the gateway's log (INFO) to stderr")
	flag.Parse()
	if *verbose {
		logOut = os.Stderr
	}
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: benchType, New: newBenchConnector})
	results := map[string]float64{}
	for _, level := range []string{"NONE", "TRACE"} {
		r, st, err := run(level, *records, *rate)
		if err != nil {
			fmt.Fprintln(os.Stderr, "remotelog-bench:", err)
			os.Exit(1)
		}
		results[level] = r
		fmt.Printf("RemoteLoggingLevel %-5s  rate %5d/s  records %6d  data rate %8.0f records/s  log lines %d queued, %d sent, %d dropped\n",
			level, *rate, *records, r, st.Lines, st.Sent, st.Dropped)
	}
	fmt.Printf("TRACE / NONE data rate: %.3f (issue 13 asks for at least 0.90)\n", results["TRACE"]/results["NONE"])
}

// run starts an emulator and a gateway, sets RemoteLoggingLevel, lets the connector send and returns the data rate.
func run(level string, records, rate int) (float64, logging.RemoteStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler), MaxValuesPerKey: records + 10})
	if err != nil {
		return 0, logging.RemoteStats{}, err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: gwName, Type: "gateway", Gateway: true, Token: gwToken}); err != nil {
		return 0, logging.RemoteStats{}, err
	}
	dir, err := os.MkdirTemp("", "remotelog-bench")
	if err != nil {
		return 0, logging.RemoteStats{}, err
	}
	defer os.RemoveAll(dir)
	host, portS, _ := net.SplitHostPort(emu.MQTTAddr())
	port, _ := strconv.Atoi(portS)
	write := func(name string, v any) error {
		b, _ := json.Marshal(v)
		return os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	if err := write("bench.json", map[string]any{"enableRemoteLogging": true, "logLevel": "TRACE", "records": records, "rate": rate}); err != nil {
		return 0, logging.RemoteStats{}, err
	}
	if err := write(config.MainFileJSON, map[string]any{
		"thingsboard": map[string]any{"host": host, "port": port, "security": map[string]any{"type": "accessToken", "accessToken": gwToken},
			"statistics": map[string]any{"enable": false}},
		"storage":    map[string]any{"type": "memory", "max_records_count": records + 1000},
		"connectors": []any{map[string]any{"type": benchType, "name": "Bench", "configuration": "bench.json"}},
	}); err != nil {
		return 0, logging.RemoteStats{}, err
	}
	release = make(chan struct{})
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		return 0, logging.RemoteStats{}, err
	}
	logs := logging.Console(slog.LevelInfo, logging.OpenOptions{Stderr: logOut})
	gw, err := runtime.New(cfg, runtime.Options{Logger: logs.Logger()})
	if err != nil {
		return 0, logging.RemoteStats{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := emu.SetSharedAttributes(gwName, map[string]any{"RemoteLoggingLevel": level}); err != nil {
		return 0, logging.RemoteStats{}, err
	}
	for emu.Attributes(gwName, tbemu.ScopeClient)["RemoteLoggingLevel"] != level {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, logging.RemoteStats{}, fmt.Errorf("RemoteLoggingLevel %s never echoed: %w", level, err)
		}
	}
	close(release)
	for len(emu.Telemetry(device, "v")) < records {
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return 0, logging.RemoteStats{}, fmt.Errorf("%d of %d records delivered: %w", len(emu.Telemetry(device, "v")), records, err)
		}
	}
	elapsed := time.Since(startedAt)
	return float64(records) / elapsed.Seconds(), gw.RemoteLogStats(), nil
}

// logOut receives the gateway's log (-v: stderr).
var logOut io.Writer = io.Discard

// release lets the bench connector start sending (once RemoteLoggingLevel is applied).
var release = make(chan struct{})

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// benchConnector sends its records at the configured rate, logging one DEBUG line per record.
type benchConnector struct {
	records, rate int
	log           *slog.Logger
}

func newBenchConnector(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	var c struct{ Records, Rate int }
	if err := json.Unmarshal(cfg.Raw, &c); err != nil {
		return nil, err
	}
	return &benchConnector{records: c.Records, rate: c.Rate, log: cfg.Logger}, nil
}

func (c *benchConnector) Run(ctx context.Context, sink tbgateway.Sink) error {
	select {
	case <-release:
	case <-ctx.Done():
		return nil
	}
	const batch = 10
	var tick <-chan time.Time
	if c.rate > 0 {
		t := time.NewTicker(time.Second * batch / time.Duration(c.rate))
		defer t.Stop()
		tick = t.C
	}
	startedAt = time.Now()
	base := time.Now().UnixMilli()
	for i := 0; i < c.records; i += batch {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return nil
			}
		}
		recs := make([]tbgateway.Record, 0, batch)
		for j := i; j < min(i+batch, c.records); j++ {
			recs = append(recs, tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{TS: base + int64(j), Values: map[string]any{"v": int64(j)}}}})
			c.log.Debug("record handed to the gateway", "device", device, "i", j)
		}
		if err := sink.Send(ctx, recs...); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (c *benchConnector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	return nil
}

func (c *benchConnector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	return nil, nil
}
