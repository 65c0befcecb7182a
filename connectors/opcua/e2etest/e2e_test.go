// Package e2etest runs the OPC-UA connector inside a real gateway (config folder, runtime, storage, uplink)
// against the ThingsBoard emulator and the node-opcua peer. It is a separate package so that the connector's
// own tests do not depend on the runtime's build.
package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTimeout = 90 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("OPCUA_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	raw, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]struct {
		ConfigurationJSON json.RawMessage `json:"configurationJson"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, v := range outer {
		raw = v.ConfigurationJSON
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	server, _ := cfg["server"].(map[string]any)
	if server == nil {
		t.Fatalf("%s: no server section", file)
	}
	server["url"], server["security"] = endpoint, "None"
	return cfg
}

func readExpected(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// gateway is a gateway built from a config folder (tb_gateway.json + opcua.json) against an emulator.
type gateway struct {
	emu *tbemu.Server
	ctx context.Context
}

// startGateway writes the config folder for the OPC-UA connector file content conn and runs the gateway until
// the end of the test.
func startGateway(t *testing.T, ctx context.Context, conn map[string]any) *gateway {
	t.Helper()
	const token = "opcua-e2e-token"
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: testLogger()})
	if err != nil {
		t.Fatalf("start tbemu: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "OPC-UA E2E Gateway", Type: "gateway", Gateway: true, Token: token}); err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(emu.MQTTAddr())
	port, _ := strconv.Atoi(portText)
	dir := t.TempDir()
	write := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("opcua.json", conn)
	write(config.MainFileJSON, map[string]any{
		"thingsboard": map[string]any{
			"host": host, "port": port,
			"security":                 map[string]any{"type": "accessToken", "accessToken": token},
			"statistics":               map[string]any{"enable": false},
			"reconnectMinDelaySeconds": 0.05, "reconnectMaxDelaySeconds": 0.5,
		},
		"storage":    map[string]any{"type": "memory", "max_records_count": 100000},
		"connectors": []any{map[string]any{"type": opcua.Type, "name": "OPC-UA", "configuration": "opcua.json"}},
	})
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: testLogger()})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	return &gateway{emu: emu, ctx: ctx}
}

// waitLatest waits until the emulator's latest values of the device match want as text.
func (g *gateway) waitLatest(t *testing.T, device string, want map[string]any) {
	t.Helper()
	err := g.emu.WaitFor(g.ctx, func() bool {
		latest := g.emu.Latest(device)
		for k, w := range want {
			v, ok := latest[k]
			if !ok || fmt.Sprint(v.Value) != fmt.Sprint(w) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("waiting for %s %v at ThingsBoard: %v (latest %v)", device, want, err, g.emu.Latest(device))
	}
}

// TestE2ECorpusThroughGateway runs the corpus' attribute-update config in a real gateway against the emulator:
// uplink values reach ThingsBoard, a shared-attribute change is written to the OPC-UA node and comes back as
// telemetry, and server-side RPCs (reserved get/set) are answered.
func TestE2ECorpusThroughGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := startPeer(t, ctx)
	cfg := corpusConfig(t, "corpus/configs/attrs_update_configs/opcua_attribute_updates_full_path.json", p.URL)
	g := startGateway(t, ctx, cfg)
	g.waitLatest(t, "Temp Sensor", readExpected(t, "corpus/test_values/uplink/different_paths_finding_methods_values.json"))

	update := readExpected(t, "corpus/test_values/attrs_update/opcua_full_path_attributes_update_values.json")
	if err := g.emu.SetSharedAttributes("Temp Sensor", update); err != nil {
		t.Fatal(err)
	}
	g.waitLatest(t, "Temp Sensor", update)

	reply, err := g.emu.RPC(ctx, "Temp Sensor", "set", json.RawMessage(`"Pressure; 90.25"`), false, 30*time.Second)
	if err != nil {
		t.Fatalf("rpc set: %v", err)
	}
	if string(reply) != `{"result":{"value":"90.25"}}` {
		t.Errorf("set reply %s", reply)
	}
	reply, err = g.emu.RPC(ctx, "Temp Sensor", "get", json.RawMessage(`"Pressure"`), false, 30*time.Second)
	if err != nil {
		t.Fatalf("rpc get: %v", err)
	}
	if string(reply) != `{"result":{"value":90.25}}` {
		t.Errorf("get reply %s", reply)
	}
	g.waitLatest(t, "Temp Sensor", map[string]any{"Pressure": "90.25"})
}
