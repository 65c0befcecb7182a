// Command reconnect measures how soon data flows again after a ThingsBoard outage: the gateway's uplink (default
// reconnect settings, memory storage) runs against tbemu; for each outage length tbemu drops every connection
// and refuses new ones for that long (its fault API), one record is stored during the outage, and the program
// prints the real time from tbemu accepting connections again to that record arriving in tbemu, with the number
// of connection attempts made during the outage.
//
//	go run ./bench/reconnect -outages 8s,30s -rounds 3
//
// Between outages the link stays up for -settle (default 12 s): a connection must last 10 s to end a failure
// streak, otherwise back-to-back outages count as one long outage and the delays grow.
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

const (
	token  = "bench-gateway-token"
	device = "reconnect-bench"
	key    = "seq"
)

func main() {
	outages := flag.String("outages", "8s,30s", "comma-separated outage lengths")
	rounds := flag.Int("rounds", 1, "times each outage is repeated")
	settle := flag.Duration("settle", 12*time.Second, "time the link stays up between outages")
	flag.Parse()
	var lengths []time.Duration
	for _, f := range strings.Split(*outages, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "reconnect: -outages: bad length %q\n", f)
			os.Exit(2)
		}
		lengths = append(lengths, d)
	}
	if err := run(lengths, *rounds, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "reconnect:", err)
		os.Exit(1)
	}
}

func run(lengths []time.Duration, rounds int, settle time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{})
	if err != nil {
		return err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "bench-gateway", Gateway: true, Token: token}); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	store := memory.New(memory.Options{})
	defer store.Close()
	cli, err := uplink.New(uplink.Config{Host: host, Port: p, Security: uplink.Security{AccessToken: token}},
		store, nopDownlink{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	defer func() { cancel(); <-done }()

	seq := int64(0)
	deliver := func() error { // stores one record and waits for tbemu to have it
		seq++
		want := seq
		rec := tbgateway.Record{Device: device,
			Telemetry: []tbgateway.Telemetry{{TS: time.Now().UnixMilli(), Values: map[string]any{key: want}}}}
		if err := store.Put(ctx, []tbgateway.Record{rec}); err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		defer wcancel()
		return emu.WaitFor(wctx, func() bool {
			return slices.ContainsFunc(emu.Telemetry(device, key), func(v tbemu.TSValue) bool { return fmt.Sprint(v.Value) == fmt.Sprint(want) })
		})
	}
	if err := deliver(); err != nil {
		return fmt.Errorf("first record: %w", err)
	}
	fmt.Printf("outage  round  back->delivered  attempts during outage\n")
	results := map[time.Duration][]time.Duration{}
	for r := range rounds {
		for _, n := range lengths {
			time.Sleep(settle) // a timed scenario: the link must have been healthy for a while
			before := cli.Stats().Rejected
			start := time.Now()
			emu.RefuseConnections(n)
			emu.DropConnections()
			back := start.Add(n)
			if err := deliver(); err != nil {
				return fmt.Errorf("after a %v outage: %w", n, err)
			}
			took := time.Since(back)
			results[n] = append(results[n], took)
			fmt.Printf("%6v  %5d  %14.3fs  %d\n", n, r+1, took.Seconds(), cli.Stats().Rejected-before)
		}
	}
	for _, n := range lengths {
		rs := results[n]
		fmt.Printf("outage %v: back->delivered min %.3fs max %.3fs over %d rounds\n", n,
			slices.Min(rs).Seconds(), slices.Max(rs).Seconds(), len(rs))
	}
	return nil
}

// nopDownlink ignores what ThingsBoard sends.
type nopDownlink struct{}

func (nopDownlink) OnConnect(context.Context)                                           {}
func (nopDownlink) OnAttributeUpdate(context.Context, string, map[string]any, []string) {}
func (nopDownlink) OnRPC(context.Context, tbgateway.RPCRequest) json.RawMessage {
	return json.RawMessage(`{"error":"not supported"}`)
}
