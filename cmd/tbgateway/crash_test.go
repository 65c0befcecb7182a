package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/simulator"
	"github.com/tbgateway/tbgateway/tbemu"
)

var (
	crashKills   = flag.Int("crash.kills", 3, "how many times the crash test SIGKILLs the gateway (use 20 for the long run)")
	crashDevices = flag.Int("crash.devices", 5, "simulated devices in the crash test")
)

// crashStorages are the durable storage sections the crash test runs with.
var crashStorages = map[string]string{
	"sqlite": `{"type":"sqlite","data_file_path":"./data/"}`,
	"file":   `{"type":"file","data_folder_path":"./data/","max_records_per_file":10000}`,
}

// TestCrashLosesNothing runs the built gateway binary with durable storage under steady load from the simulator,
// kills it with SIGKILL at random moments and restarts it, then checks against the emulator that every record the
// device side saw acknowledged (the simulator's ack log) reached ThingsBoard with its value, in order per device;
// repeats are only redeliveries and are counted.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the gateway binary")
	}
	bin := filepath.Join(t.TempDir(), "tbgateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for name, storage := range crashStorages {
		t.Run(name, func(t *testing.T) { crashRun(t, bin, name, storage) })
	}
}

func crashRun(t *testing.T, bin, name, storage string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Crash Gateway", Gateway: true, Token: "crash-token"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ackPath := filepath.Join(dir, "acks.jsonl")
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	writeFile(t, filepath.Join(dir, "tb_gateway.json"), fmt.Sprintf(`{"thingsboard":{"host":%q,"port":%s,
		"security":{"accessToken":"crash-token"},"statistics":{"enable":false},
		"reconnectMinDelaySeconds":0.05,"reconnectMaxDelaySeconds":0.5},
		"storage":%s,"connectors":[{"type":"simulator","name":"sim","configuration":"sim.json"}]}`, host, port, storage))
	var devs []any
	for i := range *crashDevices {
		devs = append(devs, map[string]any{"deviceName": fmt.Sprintf("crash-%d", i), "periodMs": 5,
			"timeseries": []any{map[string]any{"key": "seq", "type": "counter", "value": 1}}})
	}
	sim, _ := json.Marshal(map[string]any{"ackLog": ackPath, "devices": devs})
	writeFile(t, filepath.Join(dir, "sim.json"), string(sim))

	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", dir, "--log-level", "error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	acked := func() int {
		es, _ := simulator.ReadAckLog(ackPath)
		return len(es)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	outages := 0
	for k := 0; k < *crashKills; k++ {
		// Every other run ThingsBoard is unreachable, so the kill hits a gateway holding a backlog in storage.
		offline := k%2 == 1
		if offline {
			emu.RefuseConnections(time.Hour)
			emu.DropConnections()
			outages++
		} else {
			emu.RefuseConnections(0)
		}
		cmd := start()
		before := acked()
		// Wait for the run to accept data, then let it go on for a random while before the kill.
		waitUntil(t, ctx, "the gateway to accept data", func() bool { return acked() > before })
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond) // a random kill moment, not synchronisation
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	// The last run delivers the backlog; everything acknowledged so far must arrive.
	emu.RefuseConnections(0)
	cmd := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	entries, err := simulator.ReadAckLog(ackPath)
	if err != nil {
		t.Fatal(err)
	}
	missing := func() int {
		n := 0
		have := map[string]map[int64]any{}
		for _, e := range entries {
			m, ok := have[e.Device]
			if !ok {
				m = map[int64]any{}
				for _, v := range emu.Telemetry(e.Device, "seq") {
					m[v.TS] = v.Value
				}
				have[e.Device] = m
			}
			if v, ok := m[e.TS]; !ok || fmt.Sprint(v) != fmt.Sprint(e.Values["seq"]) {
				n++
			}
		}
		return n
	}
	if err := emu.WaitFor(ctx, func() bool { return missing() == 0 }); err != nil {
		t.Fatalf("%d of %d acknowledged records never reached ThingsBoard", missing(), len(entries))
	}
	dups := checkDeviceOrder(t, emu.Messages())
	t.Logf("%s: %d kills (%d while ThingsBoard was unreachable), %d records acknowledged by the device side before the last restart, all delivered; %d redelivered duplicates",
		name, *crashKills, outages, len(entries), dups)
}

// checkDeviceOrder checks that each device's timestamps arrived in increasing order, a repeat of an already
// delivered timestamp being a redelivery; it returns the number of redeliveries.
func checkDeviceOrder(t *testing.T, msgs []tbemu.Message) int {
	t.Helper()
	last := map[string]int64{}
	seen := map[string]map[int64]bool{}
	dups := 0
	for _, m := range msgs {
		if m.Topic != "v1/gateway/telemetry" || m.Reason >= 0x80 {
			continue
		}
		var body map[string][]struct{ TS int64 }
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("raw log message %d: %v", m.Seq, err)
		}
		for dev, entries := range body {
			if seen[dev] == nil {
				seen[dev] = map[int64]bool{}
			}
			for _, e := range entries {
				switch {
				case seen[dev][e.TS]:
					dups++
				case e.TS < last[dev]:
					t.Errorf("%s: ts %d arrived after %d and was not delivered before", dev, e.TS, last[dev])
				}
				seen[dev][e.TS] = true
				last[dev] = max(last[dev], e.TS)
			}
		}
	}
	return dups
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond until it holds; the context bounds the wait (a failure, not a timing assumption).
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
