package modbus_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/blackbox"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
)

// TestUnsupportedFilesDoNotStopOthers: beside a working Modbus connector, four files the gateway cannot run
// (an ASCII line, RTU framing over TLS, a reversed address range, a serial slave with method socket) are each reported failed with their file and the
// key at fault, and the working connector's values reach ThingsBoard; its unknown key is logged at start as a
// warning naming its file and key path.
func TestUnsupportedFilesDoNotStopOthers(t *testing.T) {
	_, srv := blackbox.StartCorpusServer(t)
	host, port, _ := net.SplitHostPort(srv.Addr())
	slave := func(extra map[string]any) map[string]any {
		s := map[string]any{"deviceName": "good", "host": host, "port": json.Number(port), "unitId": modbus.CorpusUnit,
			"pollPeriod": 20, "timeseries": []any{map[string]any{"tag": "v", "type": "16int", "functionCode": 3, "address": 4}}}
		for k, v := range extra {
			s[k] = v
		}
		return map[string]any{"master": map[string]any{"slaves": []any{s}}}
	}
	bad := map[string]struct {
		conf any
		want string
	}{
		"ascii": {slave(map[string]any{"method": "ascii"}), `master.slaves[0].method: method "ascii" over tcp is not supported yet`},
		"tls": {slave(map[string]any{"tls": map[string]any{"certfile": "c.pem"}, "method": "rtu"}),
			`master.slaves[0].method: method "rtu" over TLS is not supported`},
		"badrange": {slave(map[string]any{"timeseries": []any{map[string]any{"tag": "v", "type": "16int", "functionCode": 3, "address": "3-0"}}}),
			`master.slaves[0].timeseries[0].address: address range "3-0" is reversed`},
		"serialslave": {map[string]any{"slave": map[string]any{"type": "serial", "method": "socket", "port": "/dev/ttyS0"}},
			`slave.method: slave mode with method "socket" over serial is not supported`},
	}
	e := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	conns := []gwtest.Connector{{Type: modbus.Type, Name: "good", Conf: slave(map[string]any{"colour": "blue"})}}
	for name, b := range bad {
		conns = append(conns, gwtest.Connector{Type: modbus.Type, Name: name, Conf: b.conf})
	}
	e.WriteConfig(gwtest.Config{Connectors: conns})
	g := e.Start(gwtest.StartOptions{})
	e.WaitTelemetry("good", "v", 1)
	g.WaitLog(e.Ctx, "good.json", "master.slaves[0].colour", "unknown key, ignored")
	st := g.GW.Stats().Connectors
	for name, b := range bad {
		s := st[name]
		if s.State != runtime.StateFailed || !strings.Contains(s.Error, name+".json") || !strings.Contains(s.Error, b.want) {
			t.Errorf("%s: %+v; want failed, naming %s.json and %q", name, s, name, b.want)
		}
	}
	if s := st["good"]; s.State != runtime.StateRunning {
		t.Errorf("good: %+v", s)
	}
}
