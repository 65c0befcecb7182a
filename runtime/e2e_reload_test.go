package runtime_test

// Hot reload: connector files changed, refused, added and removed while the gateway runs, through the
// emulator. The gateways here log into gwtest's Log (startLogged) so that the tests can count log lines.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/connectors/simulator"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
)

// counterDevices returns n simulator devices prefix-0 ... prefix-(n-1), each emitting the counter "seq"
// (0, 1, 2, ...) every periodMs.
func counterDevices(prefix string, n, periodMs int) []any {
	var out []any
	for i := range n {
		out = append(out, map[string]any{
			"deviceName": fmt.Sprintf("%s-%d", prefix, i), "periodMs": periodMs,
			"timeseries": []any{map[string]any{"key": "seq", "type": "counter"}},
		})
	}
	return out
}

// versionConf is a simulator file with one device emitting the constant "version" every 10 ms.
func versionConf(device string, version any) map[string]any {
	return map[string]any{"devices": []any{map[string]any{
		"deviceName": device, "periodMs": 10,
		"timeseries": []any{map[string]any{"key": "version", "type": "constant", "value": version}},
	}}}
}

// countValue counts the values v among vals.
func countValue(vals []any, v any) int {
	n := 0
	for _, x := range vals {
		if fmt.Sprint(x) == fmt.Sprint(v) {
			n++
		}
	}
	return n
}

// values returns the values of a device's key at the emulator, by ascending ts.
func (e *e2e) values(device, key string) []any {
	var out []any
	for _, v := range e.emu.Telemetry(device, key) {
		out = append(out, v.Value)
	}
	return out
}

// connectorInfo returns what the gateway reports about the connector called name.
func connectorInfo(t *testing.T, gw *runtime.Gateway, name string) runtime.ConnectorInfo {
	t.Helper()
	for _, c := range gw.Connectors() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("connector %q is not in Connectors(): %+v", name, gw.Connectors())
	return runtime.ConnectorInfo{}
}

// TestE2EReloadChangedFileOnlyRestartsThatConnector changes one simulator connector's file while another
// pushes about 1,000 records/s (4 devices every 4 ms) and the periodic check (1 s) picks the change up: the changed
// connector comes back with its new configuration, and every record the other one handed over reaches the
// emulator exactly once (its per-device counters arrive as 0, 1, 2, ... without gap or repeat; a restart would
// start them over).
func TestE2EReloadChangedFileOnlyRestartsThatConnector(t *testing.T) {
	changeUnderLoad(t, map[string]any{"checkConnectorsConfigurationInSeconds": 1}, func(e *e2e) {
		e.WriteFile("changing.json", versionConf("changing-dev", 2))
	})
}

// TestRemoteConnectorChangeUnderLoad is TestE2EReloadChangedFileOnlyRestartsThatConnector with the change pushed
// from ThingsBoard: the connector's configuration as a shared attribute of the gateway device.
func TestRemoteConnectorChangeUnderLoad(t *testing.T) {
	changeUnderLoad(t, map[string]any{"remoteConfiguration": true, "checkConnectorsConfigurationInSeconds": 0}, func(e *e2e) {
		if err := e.emu.SetSharedAttributes(gwName, map[string]any{"changing": map[string]any{
			"name": "changing", "type": "simulator", "logLevel": "INFO", "configuration": "changing.json",
			"configurationJson": versionConf("changing-dev", 2), "ts": time.Now().UnixMilli() + 60000,
		}}); err != nil {
			e.t.Fatal(err)
		}
	})
}

// changeUnderLoad runs a gateway with a steady connector (about 1,000 records/s) and a changing one, makes change
// (which must give the changing connector version 2), and checks that only the changing connector restarted and
// that the steady one's records all arrived once, in order. It logs how long the changed connector took to
// deliver its new version after the change was made.
func changeUnderLoad(t *testing.T, tb map[string]any, change func(e *e2e)) {
	e := newE2E(t)
	acks := filepath.Join(e.dir, "steady-acks.jsonl")
	steady := connSpec{Type: "simulator", Name: "steady", Conf: map[string]any{"ackLog": acks, "devices": counterDevices("steady", 4, 4)}}
	changing := connSpec{Type: "simulator", Name: "changing", Conf: versionConf("changing-dev", 1)}
	g := e.startLogged(setup{connectors: []connSpec{steady, changing}, tb: tb})

	e.waitFor("the changing connector's first configuration", func() bool { return countValue(e.values("changing-dev", "version"), 1) > 0 })
	e.waitFor("the steady flow", func() bool { return len(e.values("steady-0", "seq")) >= 300 })
	before := g.GW.Stats().Connectors["changing"].RecordsStored

	changed := time.Now()
	change(e)
	e.waitFor("the changing connector back with its new configuration", func() bool { return countValue(e.values("changing-dev", "version"), 2) > 0 })
	t.Logf("the changed connector delivered its new configuration's first value %v after the change", time.Since(changed).Round(time.Millisecond))
	mark := len(e.values("steady-0", "seq"))
	e.waitFor("the steady flow after the change", func() bool { return len(e.values("steady-0", "seq")) >= mark+300 })

	// Stop the steady connector: once its Run returned, its ack log holds everything it handed over.
	if err := g.GW.RemoveConnector(e.ctx, "steady", false); err != nil {
		t.Fatalf("RemoveConnector: %v", err)
	}
	entries, err := simulator.ReadAckLog(acks)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	for _, en := range entries {
		acked[en.Device]++
	}
	total := 0
	for i := range 4 {
		dev := fmt.Sprintf("steady-%d", i)
		e.waitFor("every record "+dev+" handed over", func() bool { return len(e.values(dev, "seq")) >= acked[dev] })
		got := e.values(dev, "seq")
		for j, v := range got {
			if fmt.Sprint(v) != fmt.Sprint(j) {
				t.Fatalf("%s: value %d of %d at the emulator is seq %v, want %d (a record lost or repeated): %v", dev, j, len(got), v, j, got[max(0, j-3):min(len(got), j+3)])
			}
		}
		total += len(got)
	}
	t.Logf("steady connector: %d records delivered across the reload, none lost or repeated", total)

	if n := g.Log.Count("connector restarted with its new configuration", "connector=changing"); n != 1 {
		t.Errorf("the changed connector was restarted %d times, want 1", n)
	}
	if n := g.Log.Count("connector restarted", "connector=steady"); n != 0 {
		t.Errorf("the unchanged connector was restarted %d times", n)
	}
	if after := g.GW.Stats().Connectors["changing"].RecordsStored; after < before {
		t.Errorf("the changed connector's statistics started over: %d records stored, %d before the change", after, before)
	}
	c := connectorInfo(t, g.GW, "changing")
	var conf struct {
		Devices []struct {
			Timeseries []struct{ Value any } `json:"timeseries"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(c.Config, &conf); err != nil || len(conf.Devices) != 1 || len(conf.Devices[0].Timeseries) != 1 ||
		conf.Devices[0].Timeseries[0].Value != float64(2) || !c.Active {
		t.Errorf("Connectors() shows %s (active %v), want the new configuration active", c.Config, c.Active)
	}
}

// TestE2EReloadRefusesInvalidFiles: a connector file that does not validate, or does not parse, and a main file
// that does not parse are refused with a reason naming the file and the key, logged once however often they are
// checked, and the connector keeps running its previous configuration.
func TestE2EReloadRefusesInvalidFiles(t *testing.T) {
	e := newE2E(t)
	g := e.startLogged(setup{connectors: []connSpec{{Type: "simulator", Name: "changing", Conf: versionConf("changing-dev", 1)}},
		tb: map[string]any{"checkConnectorsConfigurationInSeconds": 0}})
	e.waitFor("the first configuration", func() bool { return countValue(e.values("changing-dev", "version"), 1) > 0 })
	file := filepath.Join(e.dir, "changing.json")

	bad := versionConf("changing-dev", 2)
	bad["devices"].([]any)[0].(map[string]any)["periodMs"] = "often"
	e.WriteFile("changing.json", bad)
	err := g.GW.Reload(e.ctx)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "periodMs") {
		t.Fatalf("Reload of an invalid connector file: %v, want an error naming %s and periodMs", err, file)
	}
	if err := g.GW.Reload(e.ctx); err != nil {
		t.Fatalf("a second check of the same invalid file: %v, want nothing new", err)
	}
	if n := g.Log.Count("connector configuration refused", "changing.json", "periodMs"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, strings.Join(g.Log.Lines(), "\n"))
	}

	cc := g.Config.Connectors[0]
	if err := g.GW.ApplyConnector(e.ctx, cc, []byte(`{"devices": [`)); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("ApplyConnector with a file that does not parse: %v, want an error naming %s", err, file)
	}
	if err := g.GW.ApplyConnector(e.ctx, config.Connector{Name: "ghost", Type: "nosuchtype", File: "ghost.json"}, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("ApplyConnector of an unknown type: %v, want it refused", err)
	}

	e.WriteFile(config.MainFileJSON, `{"thingsboard": `)
	for range 2 {
		if err := g.GW.Reload(e.ctx); err == nil || !strings.Contains(err.Error(), config.MainFileJSON) {
			t.Fatalf("Reload of a main file that does not parse: %v, want an error naming %s", err, config.MainFileJSON)
		}
	}
	if n := g.Log.Count("main configuration file refused"); n != 1 {
		t.Errorf("the main file's refusal was logged %d times, want once", n)
	}

	// Nothing changed: the first configuration still runs and delivers.
	if c := connectorInfo(t, g.GW, "changing"); !strings.Contains(string(c.Config), `"value": 1`) || c.Error != "" || !c.Active {
		t.Fatalf("Connectors() shows %+v, want the first configuration running", c)
	}
	mark := countValue(e.values("changing-dev", "version"), 1)
	e.waitFor("more values of the first configuration", func() bool { return countValue(e.values("changing-dev", "version"), 1) >= mark+10 })
	if n := countValue(e.values("changing-dev", "version"), 2); n != 0 {
		t.Errorf("%d values of the refused configuration reached ThingsBoard", n)
	}
	if n := g.Log.Count("connector restarted"); n != 0 {
		t.Errorf("a refused change restarted the connector (%d times)", n)
	}
	if len(g.GW.Connectors()) != 1 {
		t.Errorf("Connectors() = %+v, want the one configured connector", g.GW.Connectors())
	}
}

// slowStopType is a test connector whose Run takes a while to return after its context ends, like one closing a
// device connection; it counts how many of its instances run at once.
const slowStopType = "e2eslowstop"

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: slowStopType, New: newSlowStop})
}

// slowStopState is shared by the instances of one test.
type slowStopState struct {
	mu        sync.Mutex
	running   int
	maxAtOnce int
	started   chan int // the generation of each instance that starts
}

var slowStops = struct {
	sync.Mutex
	m map[string]*slowStopState
}{m: map[string]*slowStopState{}}

type slowStop struct {
	st  *slowStopState
	gen int
}

func newSlowStop(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
	var c struct {
		Key string `json:"key"`
		Gen int    `json:"gen"`
	}
	if err := json.Unmarshal(cfg.Raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	slowStops.Lock()
	defer slowStops.Unlock()
	st := slowStops.m[c.Key]
	if st == nil {
		return nil, fmt.Errorf("%s: no state %q", cfg.File, c.Key)
	}
	return &slowStop{st: st, gen: c.Gen}, nil
}

func (c *slowStop) Run(ctx context.Context, sink tbgateway.Sink) error {
	c.st.mu.Lock()
	c.st.running++
	c.st.maxAtOnce = max(c.st.maxAtOnce, c.st.running)
	c.st.mu.Unlock()
	c.st.started <- c.gen
	<-ctx.Done()
	// Closing the device side takes a while: a successor started before this returns would overlap with it.
	time.Sleep(300 * time.Millisecond)
	c.st.mu.Lock()
	c.st.running--
	c.st.mu.Unlock()
	return nil
}

// TestE2EReplaceStopsBeforeStart: ApplyConnector waits for the replaced connector's Run to return before the
// new one starts, so the two never run at once (one connection per device broker, one queue per Modbus line),
// even when the old one takes its time to stop.
func TestE2EReplaceStopsBeforeStart(t *testing.T) {
	e := newE2E(t)
	st := &slowStopState{started: make(chan int, 8)}
	key := t.Name()
	slowStops.Lock()
	slowStops.m[key] = st
	slowStops.Unlock()
	t.Cleanup(func() {
		slowStops.Lock()
		delete(slowStops.m, key)
		slowStops.Unlock()
	})
	g := e.startLogged(setup{connectors: []connSpec{{Type: slowStopType, Name: "slow", Conf: map[string]any{"key": key, "gen": 1}}}})
	waitGen := func(want int) {
		t.Helper()
		select {
		case gen := <-st.started:
			if gen != want {
				t.Fatalf("generation %d started, want %d", gen, want)
			}
		case <-e.ctx.Done():
			t.Fatalf("generation %d never started", want)
		}
	}
	waitGen(1)
	// Readers of the connector list (statistics here) run while it changes; -race watches them.
	readers, stopReading := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for readers.Err() == nil {
			if _, ok := g.GW.Stats().Connectors["slow"]; !ok {
				t.Errorf("the connector is missing from the statistics while it is replaced")
				return
			}
			g.GW.Connectors()
		}
	})
	cc := g.Config.Connectors[0]
	for gen := 2; gen <= 3; gen++ {
		if err := g.GW.ApplyConnector(e.ctx, cc, fmt.Appendf(nil, `{"key": %q, "gen": %d}`, key, gen)); err != nil {
			t.Fatalf("ApplyConnector: %v", err)
		}
		waitGen(gen)
	}
	stopReading()
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.maxAtOnce != 1 {
		t.Errorf("%d instances of the connector ran at once, want 1: the successor started before its predecessor stopped", st.maxAtOnce)
	}
}

// TestE2EReloadConnectorsList adds a connector to the main file's list and removes another, then makes the
// removed one active again with SetActiveConnectors: the added one starts, the removed one stops with its device
// disconnected at ThingsBoard, and the connector left alone is never restarted.
func TestE2EReloadConnectorsList(t *testing.T) {
	e := newE2E(t)
	a := connSpec{Type: "simulator", Name: "a", Conf: versionConf("a-dev", 1)}
	b := connSpec{Type: "simulator", Name: "b", Conf: versionConf("b-dev", 1)}
	c := connSpec{Type: "simulator", Name: "c", Conf: versionConf("c-dev", 1)}
	noCheck := map[string]any{"checkConnectorsConfigurationInSeconds": 0}
	g := e.startLogged(setup{connectors: []connSpec{a, c}, tb: noCheck})
	e.waitFor("a's data", func() bool { return len(e.values("a-dev", "version")) > 0 })

	e.writeConfig(setup{connectors: []connSpec{a, b, c}, tb: noCheck})
	if err := g.GW.Reload(e.ctx); err != nil {
		t.Fatalf("Reload with a connector added: %v", err)
	}
	e.waitFor("the added connector's data", func() bool { return len(e.values("b-dev", "version")) > 0 })

	e.writeConfig(setup{connectors: []connSpec{b, c}, tb: noCheck})
	if err := g.GW.Reload(e.ctx); err != nil {
		t.Fatalf("Reload with a connector removed: %v", err)
	}
	if info := connectorInfo(t, g.GW, "a"); info.Active {
		t.Fatalf("the removed connector is still active: %+v", info)
	}
	if d, ok := g.GW.Devices().Owner("a-dev"); !ok || !d.Disconnected {
		t.Fatalf("the removed connector's device in the device table: %+v, want it kept and disconnected", d)
	}
	e.waitFor("the removed connector's device disconnected at ThingsBoard", func() bool {
		d, ok := e.emu.Device("a-dev")
		return ok && !d.Connected
	})

	if err := g.GW.SetActiveConnectors(e.ctx, []string{"a", "b", "c"}); err != nil {
		t.Fatalf("SetActiveConnectors: %v", err)
	}
	mark := len(e.values("a-dev", "version"))
	e.waitFor("the re-activated connector's data", func() bool { return len(e.values("a-dev", "version")) > mark })
	if err := g.GW.SetActiveConnectors(e.ctx, []string{"b", "c", "nosuch"}); !errors.Is(err, runtime.ErrUnknownConnector) {
		t.Errorf("SetActiveConnectors with an unknown name: %v, want ErrUnknownConnector", err)
	}
	if info := connectorInfo(t, g.GW, "a"); info.Active {
		t.Errorf("connector a is still active after SetActiveConnectors left it out: %+v", info)
	}
	if n := g.Log.Count("connector restarted", "connector=c"); n != 0 || g.Log.Count("connector stopped", "connector=c") != 0 {
		t.Errorf("the connector left alone was restarted or stopped")
	}
}

// TestE2EReloadSIGHUP: the tbgateway command checks its configuration files at once on SIGHUP (the periodic
// check is an hour away) and restarts the changed connector with its new configuration.
func TestE2EReloadSIGHUP(t *testing.T) {
	e := newE2E(t)
	e.writeConfig(setup{connectors: []connSpec{{Type: "simulator", Name: "changing", Conf: versionConf("changing-dev", 1)}},
		tb: map[string]any{"checkConnectorsConfigurationInSeconds": 3600}})
	p := gwtest.StartProcess(t, e.dir, gwtest.ProcessOptions{})
	e.waitFor("the first configuration", func() bool { return countValue(e.values("changing-dev", "version"), 1) > 0 })
	e.WriteFile("changing.json", versionConf("changing-dev", 2))
	p.Signal(syscall.SIGHUP)
	p.WaitLog(e.ctx, "SIGHUP")
	e.waitFor("the new configuration after SIGHUP", func() bool { return countValue(e.values("changing-dev", "version"), 2) > 0 })
	p.WaitLog(e.ctx, "connector restarted with its new configuration", "connector=changing")
	if err := p.Stop(e.ctx); err != nil {
		t.Errorf("stopping the gateway process: %v", err)
	}
}

// TestE2EReloadFixedFileStartsFailedConnector: a connector whose file was invalid at start (reported failed, never
// run) starts once its file is fixed and the files are checked again.
func TestE2EReloadFixedFileStartsFailedConnector(t *testing.T) {
	e := newE2E(t)
	bad := versionConf("fixed-dev", 1)
	bad["devices"].([]any)[0].(map[string]any)["periodMs"] = -5
	g := e.startLogged(setup{connectors: []connSpec{{Type: "simulator", Name: "fixed", Conf: bad}},
		tb: map[string]any{"checkConnectorsConfigurationInSeconds": 0}})
	if st := g.GW.Stats().Connectors["fixed"]; st.State != runtime.StateFailed {
		t.Fatalf("the connector with an invalid file: %+v, want it failed", st)
	}
	e.WriteFile("fixed.json", versionConf("fixed-dev", 1))
	if err := g.GW.Reload(e.ctx); err != nil {
		t.Fatalf("Reload of the fixed file: %v", err)
	}
	if c := connectorInfo(t, g.GW, "fixed"); c.Error != "" || !c.Active {
		t.Fatalf("after the fix Connectors() shows %+v, want it active without error", c)
	}
	e.waitFor("the fixed connector's data", func() bool { return len(e.values("fixed-dev", "version")) > 0 })
	if st := g.GW.Stats().Connectors["fixed"]; st.State != runtime.StateRunning || st.Error != "" {
		t.Errorf("the fixed connector: %+v, want it running", st)
	}
}
