package config

import (
	"strings"
	"testing"
)

// TestGRPCSection: the grpc section's keys (both spellings the Python gateway reads, our serverHost, port 0),
// and a warning for a gRPC connector while the server is off.
func TestGRPCSection(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": tb("", `, "grpc": {"enabled": true, "serverHost": "127.0.0.1", "serverPort": 0,
			"keepaliveTimeoutMs": 7000, "keepalivePermitWithoutCalls": false, "minPingIntervalWithoutDataMs": 3000},
			"connectors": [{"type": "grpc", "name": "ext", "configuration": "ext.json", "key": "auto"}]`),
		"ext.json": `{}`,
	})
	cfg, warns, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("unexpected warning %s", w)
	}
	g := cfg.GRPC
	if !g.Enabled || g.ServerHost != "127.0.0.1" || g.ServerPort != 0 || g.KeepAliveTimeoutMs != 7000 ||
		g.KeepAlivePermitWithoutCalls || g.MinPingIntervalWithoutDataMs != 3000 || g.KeepAliveTimeMs != 10001 {
		t.Errorf("grpc section decoded as %+v", g)
	}
	if cfg.Connectors[0].Key != "auto" {
		t.Errorf("connector key %q", cfg.Connectors[0].Key)
	}

	dir = writeFiles(t, map[string]string{
		"tb_gateway.json": tb("", `, "connectors": [{"type": "grpc", "name": "ext", "configuration": "ext.json", "key": "k"}]`),
		"ext.json":        `{}`,
	})
	_, warns, err = Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), `connectors[0]: connector "ext" of type grpc does not start: grpc.enabled is false`) {
		t.Errorf("warnings %v", warns)
	}

	dir = writeFiles(t, map[string]string{
		"tb_gateway.json": tb("", `, "grpc": {"enabled": true}, "connectors": [{"type": "grpc", "name": "ext", "configuration": "ext.json"}]`),
		"ext.json":        `{}`,
	})
	_, warns, err = Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), `connectors[0].key: connector "ext" of type grpc does not start without a key`) {
		t.Errorf("warnings %v", warns)
	}
}
