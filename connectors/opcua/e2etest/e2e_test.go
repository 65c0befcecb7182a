// Package e2etest runs the OPC-UA connector inside a real gateway (config folder, runtime, storage, uplink)
// against the ThingsBoard emulator and the node-opcua peer, through the kit's end-to-end helper gwtest. It is a
// separate package so that the connector's own tests do not depend on the runtime's build.
package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startPeer starts node-opcua with the connector's corpus node map; missing: fail under CI=true, else skip.
func startPeer(t *testing.T, ctx context.Context) *opcuapeer.Peer {
	t.Helper()
	if !opcuapeer.Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", opcuapeer.ErrMissing)
		}
		t.Skip("node-opcua test peer missing: install with make test-deps")
	}
	nodemap, _ := filepath.Abs(filepath.Join("..", "testdata", "nodemap.json"))
	p, err := opcuapeer.Start(ctx, opcuapeer.Options{NodeMap: nodemap, PKIDir: t.TempDir(), Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// corpusConfig loads a corpus connector file (remote-configuration shape) from the connector's testdata, points
// it at endpoint and runs it with security None (the corpus names Basic128Rsa15, which the peer does not offer).
func corpusConfig(t *testing.T, file, endpoint string) map[string]any {
	t.Helper()
	var outer map[string]struct {
		ConfigurationJSON map[string]any `json:"configurationJson"`
	}
	if err := json.Unmarshal(readFile(t, file), &outer); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var cfg map[string]any
	for _, v := range outer {
		cfg = v.ConfigurationJSON
	}
	server, _ := cfg["server"].(map[string]any)
	if server == nil {
		t.Fatalf("%s: no server section", file)
	}
	server["url"], server["security"] = endpoint, "None"
	return cfg
}

func readFile(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readExpected(t *testing.T, file string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, file), &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// waitLatest waits until the emulator's latest values of the device match want as text.
func waitLatest(e *gwtest.Env, device string, want map[string]any) {
	e.T.Helper()
	e.WaitFor(fmt.Sprintf("%s %v at ThingsBoard (latest %v)", device, want, e.Emu.Latest(device)), func() bool {
		latest := e.Emu.Latest(device)
		for k, w := range want {
			v, ok := latest[k]
			if !ok || fmt.Sprint(v.Value) != fmt.Sprint(w) {
				return false
			}
		}
		return true
	})
}

func rpcReply(e *gwtest.Env, device, method string, params any) string {
	e.T.Helper()
	b, err := json.Marshal(e.RPC(device, method, params))
	if err != nil {
		e.T.Fatal(err)
	}
	return string(b)
}

// TestE2ECorpusThroughGateway runs the corpus' attribute-update config in a real gateway against the emulator:
// uplink values reach ThingsBoard, a shared-attribute change is written to the OPC-UA node and comes back as
// telemetry, and server-side RPCs (reserved get/set) are answered.
func TestE2ECorpusThroughGateway(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{})
	p := startPeer(t, e.Ctx)
	conf := corpusConfig(t, "corpus/configs/attrs_update_configs/opcua_attribute_updates_full_path.json", p.URL)
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: opcua.Type, Name: "OPC-UA", File: "opcua.json", Conf: conf}}})
	e.Start(gwtest.StartOptions{})
	waitLatest(e, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_paths_finding_methods_values.json"))

	update := readExpected(t, "corpus/test_values/attrs_update/opcua_full_path_attributes_update_values.json")
	if err := e.Emu.SetSharedAttributes("Temp Sensor", update); err != nil {
		t.Fatal(err)
	}
	waitLatest(e, "Temp Sensor", update)

	if got := rpcReply(e, "Temp Sensor", "set", "Pressure; 90.25"); got != `{"result":{"value":"90.25"}}` {
		t.Errorf("set reply %s", got)
	}
	if got := rpcReply(e, "Temp Sensor", "get", "Pressure"); got != `{"result":{"value":90.25}}` {
		t.Errorf("get reply %s", got)
	}
	waitLatest(e, "Temp Sensor", map[string]any{"Pressure": "90.25"})
}

// TestE2EWarningsLoggedAtStart: what check-config warns about an OPC-UA connector file (here an unknown key) is
// logged when the gateway starts, naming the file and the key path.
func TestE2EWarningsLoggedAtStart(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{Timeout: 30 * time.Second})
	conf := map[string]any{
		// Nothing listens on port 1: the connector keeps reconnecting, which is all this test needs.
		"server": map[string]any{"url": "opc.tcp://127.0.0.1:1", "security": "None", "timeoutInMillis": 200, "urll": "x"},
		"mapping": []any{map[string]any{
			"deviceNodePattern": `Root\.Objects\.D`,
			"deviceInfo":        map[string]any{"deviceNameExpression": "D"},
			"timeseries":        []any{map[string]any{"key": "t", "value": "${T}", "unit": "C"}},
		}},
	}
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: opcua.Type, Name: "OPC-UA", File: "opcua.json", Conf: conf}}})
	g := e.Start(gwtest.StartOptions{})
	g.WaitLog(e.Ctx, "opcua.json: server.urll: unknown key, ignored")
	g.WaitLog(e.Ctx, "opcua.json: mapping[0].timeseries[0].unit: unknown key, ignored")
}
