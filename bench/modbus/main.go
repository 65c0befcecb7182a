// Command modbus measures the Modbus connector: D simulated devices × R holding registers polled every P ms.
// The Modbus servers (one Modbus TCP endpoint per device unless -endpoints says fewer; the package's own
// in-memory server) and the tbemu ThingsBoard emulator run in a child process (this binary again, -role peers),
// so this process holds the gateway alone (runtime + Modbus connector, memory storage) and its CPU and RSS are
// the gateway's. Every register changes every poll period. The command reports, over the measuring window:
//
//   - polls/s completed and the merged read requests one polling cycle makes (all devices);
//
//   - datapoints/s delivered to tbemu (values stored by the emulator) against the configured rate;
//
//   - CPU % of one core and RSS of the gateway process, and the CPU of the peers process.
//
//     go run ./bench/modbus                                  # 100 devices × 100 registers every 100 ms
//     go run ./bench/modbus -devices 10 -registers 10 -window 5s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/bench/procstat"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/runtime"
)

type opts struct {
	role                          string
	devices, registers, endpoints int
	poll, window, timeout         time.Duration
	verbose                       bool
}

func main() {
	o := opts{}
	flag.StringVar(&o.role, "role", "gateway", "gateway (measure) or peers (the child process: Modbus servers and tbemu)")
	flag.IntVar(&o.devices, "devices", 100, "simulated devices")
	flag.IntVar(&o.registers, "registers", 100, "holding registers per device, one timeseries key each")
	flag.IntVar(&o.endpoints, "endpoints", 0, "Modbus TCP endpoints the devices are spread over (0: one per device)")
	flag.DurationVar(&o.poll, "poll", 100*time.Millisecond, "poll period of every device")
	flag.DurationVar(&o.window, "window", 20*time.Second, "measuring window")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound of the whole run")
	flag.BoolVar(&o.verbose, "v", false, "log the gateway at info level to stderr")
	flag.Parse()
	if o.endpoints <= 0 || o.endpoints > o.devices {
		o.endpoints = o.devices
	}
	run := runGateway
	if o.role == "peers" {
		run = runPeers
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/modbus:", err)
		os.Exit(1)
	}
}

// probeType builds an ordinary Modbus connector and hands it over, so that the command can read its Stats.
const probeType = "modbus_bench"

func registerProbe() <-chan *modbus.Connector {
	built := make(chan *modbus.Connector, 1)
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: probeType, Check: modbus.Check,
		New: func(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
			c, _, err := modbus.Decode(cfg.Raw)
			if err != nil {
				return nil, err
			}
			c.Name = cfg.Name
			conn := modbus.New(c, cfg.Logger)
			select {
			case built <- conn:
			default:
			}
			return conn, nil
		}})
	return built
}

func runGateway(o opts) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	built := registerProbe()
	peer, err := startPeers(ctx, o)
	if err != nil {
		return err
	}
	defer peer.stop()
	fmt.Printf("%d devices × %d registers every %s on %d Modbus TCP endpoints (%.0f datapoints/s configured)\n",
		o.devices, o.registers, o.poll, o.endpoints, float64(o.devices*o.registers)/o.poll.Seconds())

	dir, err := os.MkdirTemp("", "bench-modbus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeConfig(dir, peer, o); err != nil {
		return err
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: log})
	if err != nil {
		return err
	}
	gctx, gcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- gw.Run(gctx) }()
	defer func() {
		gcancel()
		<-done
	}()
	var conn *modbus.Connector
	select {
	case conn = <-built:
	case <-ctx.Done():
		return ctx.Err()
	}

	// warm up: every device has delivered values
	for {
		if n, err := peer.query("devices"); err != nil {
			return err
		} else if n >= o.devices {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for every device's values: %w", ctx.Err())
		}
	}
	fmt.Printf("start → every device has values at tbemu: %s\n", time.Since(t0).Round(time.Millisecond))

	polls := func() (polls, failures uint64, perCycle int) {
		for _, s := range conn.Stats() {
			polls += s.Polls
			failures += s.PollFailures
			perCycle += s.RequestsPerPoll
		}
		return
	}
	n0, err := peer.query("count")
	if err != nil {
		return err
	}
	p0, f0, _ := polls()
	w0, cpu0, peerCPU0 := time.Now(), procstat.SelfCPU(), procstat.CPUOrZero(peer.cmd.Process.Pid)
	select {
	case <-time.After(o.window):
	case <-ctx.Done():
		return ctx.Err()
	}
	n1, err := peer.query("count")
	if err != nil {
		return err
	}
	p1, f1, perCycle := polls()
	wall, cpu1, peerCPU1 := time.Since(w0), procstat.SelfCPU(), procstat.CPUOrZero(peer.cmd.Process.Pid)

	fmt.Printf("window %s: %d polls = %.0f polls/s (configured %.0f/s), %d failed; %d merged read requests per cycle\n",
		wall.Round(time.Millisecond), p1-p0, float64(p1-p0)/wall.Seconds(), float64(o.devices)/o.poll.Seconds(), f1-f0, perCycle)
	fmt.Printf("delivered to tbemu: %d datapoints = %.0f datapoints/s (configured %.0f/s)\n",
		n1-n0, float64(n1-n0)/wall.Seconds(), float64(o.devices*o.registers)/o.poll.Seconds())
	fmt.Printf("gateway process: CPU %.1f %% of one core, RSS %s (peak %s)\n",
		100*(cpu1-cpu0).Seconds()/wall.Seconds(), procstat.MemoryMB(0, "VmRSS"), procstat.MemoryMB(0, "VmHWM"))
	fmt.Printf("peers process (Modbus servers + tbemu): CPU %.1f %% of one core\n", 100*(peerCPU1-peerCPU0).Seconds()/wall.Seconds())
	return nil
}

// writeConfig writes the main config and the Modbus connector file: device i is unit 1 of endpoint i % endpoints.
func writeConfig(dir string, p *peers, o opts) error {
	host, portText, _ := net.SplitHostPort(p.mqtt)
	port, _ := strconv.Atoi(portText)
	main := map[string]any{
		"thingsboard": map[string]any{"host": host, "port": port,
			"security":   map[string]any{"type": "accessToken", "accessToken": peersToken},
			"statistics": map[string]any{"enable": false}},
		"storage":    map[string]any{"type": "memory", "max_records_count": 1000000},
		"connectors": []any{map[string]any{"type": probeType, "name": "Modbus", "configuration": "modbus.json"}},
	}
	var slaves []any
	for d := range o.devices {
		h, pt, _ := net.SplitHostPort(p.modbus[d%len(p.modbus)])
		ts := make([]any, o.registers)
		for r := range ts {
			ts[r] = map[string]any{"tag": "r" + strconv.Itoa(r), "type": "16uint", "functionCode": 3, "address": r}
		}
		slaves = append(slaves, map[string]any{"deviceName": deviceName(d), "host": h, "port": json.Number(pt),
			"type": "tcp", "unitId": 1, "pollPeriod": o.poll.Milliseconds(), "timeout": 5, "timeseries": ts})
	}
	for name, v := range map[string]any{config.MainFileJSON: main, "modbus.json": map[string]any{"master": map[string]any{"slaves": slaves}}} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func deviceName(d int) string { return fmt.Sprintf("Bench Modbus %d", d) }

// peers is the child process: its Modbus endpoints and tbemu's MQTT address, and a line protocol on its
// stdin/stdout ("count" → datapoints stored, "devices" → devices with values).
type peers struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	modbus []string
	mqtt   string
	mu     sync.Mutex
}

func startPeers(ctx context.Context, o opts) (*peers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "peers", "-devices", strconv.Itoa(o.devices),
		"-registers", strconv.Itoa(o.registers), "-endpoints", strconv.Itoa(o.endpoints), "-poll", o.poll.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the peers process: %w", err)
	}
	p := &peers{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	for p.out.Scan() {
		kind, rest, _ := strings.Cut(p.out.Text(), " ")
		switch kind {
		case "modbus":
			p.modbus = strings.Fields(rest)
		case "mqtt":
			p.mqtt = rest
		case "READY":
			return p, nil
		}
	}
	p.stop()
	return nil, fmt.Errorf("the peers process ended before it was ready: %v", p.out.Err())
}

// query sends a command and returns the number the peers process answers.
func (p *peers) query(cmd string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		return 0, fmt.Errorf("peers %s: %w", cmd, err)
	}
	if !p.out.Scan() {
		return 0, fmt.Errorf("peers %s: no answer: %v", cmd, p.out.Err())
	}
	return strconv.Atoi(strings.TrimSpace(p.out.Text()))
}

func (p *peers) stop() {
	p.in.Close() // the child exits at the end of its input
	_ = p.cmd.Wait()
}
