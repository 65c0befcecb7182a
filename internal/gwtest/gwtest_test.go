package gwtest_test

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/connectors/simulator"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// simulated is a simulator connector file: one device with a constant attribute and a series every 10 ms.
var simulated = map[string]any{"devices": []any{map[string]any{
	"deviceName": "Sim A", "deviceType": "thermometer", "periodMs": 10,
	"attributes": []any{map[string]any{"key": "model", "value": "T1"}},
	"timeseries": []any{map[string]any{"key": "temperature", "type": "counter"}},
}}}

func TestWrittenConfigReachesTheEmulator(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: simulator.Type, Name: "sim", Conf: simulated}}})
	g := e.Start(gwtest.StartOptions{})
	if st := e.WaitDevice("Sim A"); st.Type != "thermometer" {
		t.Errorf("device type %q, want thermometer", st.Type)
	}
	if got := e.WaitTelemetry("Sim A", "temperature", 3); len(got) < 3 {
		t.Errorf("telemetry %v", got)
	}
	if v := e.WaitAttribute("Sim A", tbemu.ScopeClient, "model"); v != "T1" {
		t.Errorf("attribute model = %v, want T1", v)
	}
	g.WaitLog(e.Ctx, "connected to thingsboard", "component=uplink")
	if g.Log.Contains("no such line") {
		t.Errorf("Log.Contains found a line that was never logged")
	}
	g.Stop()
	g.Stop() // idempotent
}

func TestCopiedFolderIsPointedAtTheEmulator(t *testing.T) {
	src := gwtest.New(t, gwtest.Options{})
	// A folder whose main file names another server and token, as a user's configuration would.
	src.WriteConfig(gwtest.Config{
		Thingsboard: map[string]any{"host": "thingsboard.example", "port": 1884,
			"security": map[string]any{"type": "accessToken", "accessToken": "someone-elses"}},
		Connectors: []gwtest.Connector{{Type: simulator.Type, Name: "sim", Conf: simulated}},
	})
	e := gwtest.New(t, gwtest.Options{})
	e.CopyConfig(src.Dir)
	g := e.Start(gwtest.StartOptions{Env: e.EmulatorEnv()})
	e.WaitTelemetry("Sim A", "temperature", 1)
	if g.Config.Thingsboard.Security.AccessToken != gwtest.GatewayToken {
		t.Errorf("token %q, want the emulator's", g.Config.Thingsboard.Security.AccessToken)
	}
	if got := e.RPC(gwtest.GatewayName, "gateway_ping", nil); got == nil {
		t.Errorf("gateway_ping answered nothing")
	}
}

func TestRestartOnTheSameFolderKeepsStorage(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{
		Connectors: []gwtest.Connector{{Type: simulator.Type, Name: "sim", Conf: simulated}},
		Storage:    map[string]any{"type": "file", "data_folder_path": "./data/"},
	})
	first := e.Start(gwtest.StartOptions{})
	n := len(e.WaitTelemetry("Sim A", "temperature", 2))
	first.Stop()
	second := e.Start(gwtest.StartOptions{})
	e.WaitTelemetry("Sim A", "temperature", n+2)
	if second.Log == first.Log || second.Config.Storage.Type != "file" {
		t.Errorf("the second gateway shares the first's log or lost the storage section")
	}
}

// A child-process gateway reaches the emulator, stops cleanly on SIGTERM, and dies on SIGKILL.
func TestProcessStopsAndKills(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: simulator.Type, Name: "sim", Conf: simulated}}})
	bin := gwtest.BuildGateway(t)
	p := gwtest.StartProcess(t, e.Dir, gwtest.ProcessOptions{Binary: bin})
	e.WaitTelemetry("Sim A", "temperature", 1)
	if err := p.Stop(e.Ctx); err != nil {
		t.Errorf("SIGTERM: the gateway exited with %v, want a clean stop", err)
	}
	if !p.Log.Contains("gateway stopped") {
		t.Errorf("SIGTERM: the gateway did not log its stop:\n%s", strings.Join(p.Log.Lines(), "\n"))
	}
	p = gwtest.StartProcess(t, e.Dir, gwtest.ProcessOptions{Binary: bin})
	p.WaitLog(e.Ctx, "gateway started")
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Error("Kill returned before the process exited")
	}
}
