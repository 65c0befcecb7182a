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
	"path/filepath"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/simulator"
	"github.com/tbgateway/tbgateway/internal/gwtest"
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
	bin := buildGateway(t)
	for name, storage := range crashStorages {
		t.Run(name, func(t *testing.T) { crashRun(t, bin, name, storage) })
	}
}

// buildGateway builds the gateway binary for a crash test (skipped with -short).
func buildGateway(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and kills the gateway binary")
	}
	return gwtest.BuildGateway(t)
}

// crashEnv is an emulated ThingsBoard and a config folder for the gateway binary: simulated devices with an ack
// log, the given storage.
type crashEnv struct {
	t       *testing.T
	bin     string
	emu     *tbemu.Server
	dir     string
	ackPath string
}

func newCrashEnv(t *testing.T, ctx context.Context, bin, storage string) *crashEnv {
	t.Helper()
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Crash Gateway", Gateway: true, Token: "crash-token"}); err != nil {
		t.Fatal(err)
	}
	e := &crashEnv{t: t, bin: bin, emu: emu, dir: t.TempDir()}
	e.ackPath = filepath.Join(e.dir, "acks.jsonl")
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	writeFile(t, filepath.Join(e.dir, "tb_gateway.json"), fmt.Sprintf(`{"thingsboard":{"host":%q,"port":%s,
		"security":{"accessToken":"crash-token"},"statistics":{"enable":false},
		"reconnectMinDelaySeconds":0.05,"reconnectMaxDelaySeconds":0.5},
		"storage":%s,"connectors":[{"type":"simulator","name":"sim","configuration":"sim.json"}]}`, host, port, storage))
	var devs []any
	for i := range *crashDevices {
		devs = append(devs, map[string]any{"deviceName": fmt.Sprintf("crash-%d", i), "periodMs": 5,
			"timeseries": []any{map[string]any{"key": "seq", "type": "counter", "value": 1}}})
	}
	sim, _ := json.Marshal(map[string]any{"ackLog": e.ackPath, "devices": devs})
	writeFile(t, filepath.Join(e.dir, "sim.json"), string(sim))
	return e
}

// start starts the gateway binary.
func (e *crashEnv) start() *gwtest.Process {
	return gwtest.StartProcess(e.t, e.dir, gwtest.ProcessOptions{Binary: e.bin, LogLevel: "error"})
}

// acked returns how many records the device side saw acknowledged (stored by the gateway).
func (e *crashEnv) acked() int {
	es, _ := simulator.ReadAckLog(e.ackPath)
	return len(es)
}

// delivered returns how many values of device's key ThingsBoard holds.
func (e *crashEnv) delivered(device string) int { return len(e.emu.Telemetry(device, "seq")) }

// finish starts the gateway once more and waits until every record the device side saw acknowledged so far
// reached ThingsBoard with its value (within bound, a guard against a hang), in order per device. It returns
// the number of acknowledged records and of redelivered duplicates.
func (e *crashEnv) finish(ctx context.Context, bound time.Duration) (records, dups int) {
	e.t.Helper()
	gw := e.start()
	defer func() { _ = gw.Stop(ctx) }()
	entries, err := simulator.ReadAckLog(e.ackPath)
	if err != nil {
		e.t.Fatal(err)
	}
	missing := func() int {
		n := 0
		have := map[string]map[int64]any{}
		for _, en := range entries {
			m, ok := have[en.Device]
			if !ok {
				m = map[int64]any{}
				for _, v := range e.emu.Telemetry(en.Device, "seq") {
					m[v.TS] = v.Value
				}
				have[en.Device] = m
			}
			if v, ok := m[en.TS]; !ok || fmt.Sprint(v) != fmt.Sprint(en.Values["seq"]) {
				n++
			}
		}
		return n
	}
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if err := e.emu.WaitFor(wctx, func() bool { return missing() == 0 }); err != nil {
		e.t.Fatalf("%d of %d acknowledged records never reached ThingsBoard", missing(), len(entries))
	}
	return len(entries), checkDeviceOrder(e.t, e.emu.Messages())
}

func crashRun(t *testing.T, bin, name, storage string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newCrashEnv(t, ctx, bin, storage)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	outages := 0
	for k := 0; k < *crashKills; k++ {
		// Every other run ThingsBoard is unreachable, so the kill hits a gateway holding a backlog in storage.
		offline := k%2 == 1
		if offline {
			e.emu.RefuseConnections(time.Hour)
			e.emu.DropConnections()
			outages++
		} else {
			e.emu.RefuseConnections(0)
		}
		gw := e.start()
		before := e.acked()
		// Wait for the run to accept data, then let it go on for a random while before the kill.
		waitUntil(t, ctx, "the gateway to accept data", func() bool { return e.acked() > before })
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond) // a random kill moment, not synchronisation
		gw.Kill()
	}
	// The last run delivers the backlog; everything acknowledged so far must arrive.
	e.emu.RefuseConnections(0)
	records, dups := e.finish(ctx, 4*time.Minute)
	t.Logf("%s: %d kills (%d while ThingsBoard was unreachable), %d records acknowledged by the device side before the last restart, all delivered; %d redelivered duplicates",
		name, *crashKills, outages, records, dups)
}

// TestCrashKillsRecordsInFlight: while the gateway runs, ThingsBoard starts losing its publishes (neither stored
// nor acknowledged); the gateway is killed while it waits for those PUBACKs, and restarted. Every record the
// device side saw acknowledged must still reach ThingsBoard: the uplink may acknowledge a record to storage only
// on its PUBACK. Acknowledging it when published loses exactly the records of the lost publishes.
func TestCrashKillsRecordsInFlight(t *testing.T) {
	bin := buildGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newCrashEnv(t, ctx, bin, crashStorages["file"])
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var inFlight []uint64
	for range *crashKills {
		e.emu.DropPublishes(false)
		gw := e.start()
		stored, sent := e.acked(), e.delivered("crash-0")
		waitUntil(t, ctx, "data to flow", func() bool { return e.acked() > stored && e.delivered("crash-0") > sent })
		dropped := e.emu.DroppedPublishes()
		e.emu.DropPublishes(true)
		waitUntil(t, ctx, "publishes to be lost", func() bool { return e.emu.DroppedPublishes() > dropped })
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond) // a random kill moment, not synchronisation
		gw.Kill()
		// tbemu still reads what the killed process had sent into its socket; those publishes must be lost too, or
		// one of them could be stored after the earlier records the next run sends again (out of order).
		waitUntil(t, ctx, "tbemu to see the killed gateway's connection end", func() bool {
			d, ok := e.emu.Device("Crash Gateway")
			return ok && !d.Connected
		})
		// Every publish lost in this run is one the gateway was still waiting for when it was killed.
		inFlight = append(inFlight, e.emu.DroppedPublishes()-dropped)
	}
	e.emu.DropPublishes(false)
	records, dups := e.finish(ctx, time.Minute)
	t.Logf("%d kills with unacknowledged publishes in flight %v; %d records acknowledged by the device side, all delivered; %d redelivered duplicates",
		*crashKills, inFlight, records, dups)
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
