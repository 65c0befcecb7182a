package modbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// countingProxy forwards TCP connections to target and counts the connections it accepted.
type countingProxy struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Go(func() {
		for {
			cli, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			srv, err := net.Dial("tcp", target)
			if err != nil {
				_ = cli.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, cli, srv)
			mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(srv, cli); _ = srv.Close() })
			p.wg.Go(func() { _, _ = io.Copy(cli, srv); _ = cli.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// connectorRPC calls "modbus_<method>" on the gateway device and returns the reply as JSON text.
func connectorRPC(g *gateway, method string, params map[string]any) string {
	g.T.Helper()
	b, _ := json.Marshal(g.RPC(gwtest.GatewayName, "modbus_"+method, params))
	return string(b)
}

// TestConnectorRPCAdHoc: RPCs to the connector whose params name a slave (host, port, unitId; or a serial port)
// read and write python3-pymodbus with the Python gateway's reply shape, a list of {"result", "device_name"}; one naming the
// endpoint of a configured device goes through that device's line (the device keeps its single connection); an
// endpoint that does not answer gives {"error": "Failed to connect to device …", "success": false}; without host,
// port and unitId the params are read from every configured device.
func TestConnectorRPCAdHoc(t *testing.T) {
	needPymodbus(t)
	connectortest.NeedPeer(t, "socat")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srvPty, cliPty := startPtyPair(t, ctx)
	peer := runPymodbus(t, ctx, "--tcp", "127.0.0.1:0", "--rtu", srvPty)["tcp"]
	proxy := startCountingProxy(t, peer)
	cfg := corpusConfig(t, "uplink_configs/modbus_uplink_converter_holding_registers_reading_little.json",
		proxy.ln.Addr().String(), 100, nil)
	g := startGateway(t, cfg)
	want := readValues(t, "uplink", "holding_registers_values_little.json")
	g.WaitFor("the configured device's values", func() bool {
		v, ok := g.Emu.Latest(device)["16int"]
		return ok && same(want["16int"], v.Value)
	})
	slave := func(addr string, extra map[string]any) map[string]any {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		m := map[string]any{"host": host, "port": p, "unitId": modbus.CorpusUnit, "deviceName": "adhoc",
			"type": "tcp", "method": "socket"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	read16 := map[string]any{"functionCode": 3, "address": 4, "objectsCount": 1, "type": "16int"}
	wantRead := `[{"device_name":"adhoc","result":` + fmt.Sprint(want["16int"]) + `}]`

	t.Run("unconfigured_endpoint", func(t *testing.T) {
		if got := connectorRPC(g, "get", slave(peer, read16)); got != wantRead {
			t.Errorf("read: %s, want %s", got, wantRead)
		}
		set := slave(peer, map[string]any{"functionCode": 6, "address": 41, "objectsCount": 1, "type": "16int", "value": "-1234"})
		if got, want := connectorRPC(g, "set", set), `[{"device_name":"adhoc","result":"-1234"}]`; got != want {
			t.Errorf("write: %s, want %s", got, want)
		}
		get := slave(peer, map[string]any{"functionCode": 3, "address": 41, "objectsCount": 1, "type": "16int"})
		if got, want := connectorRPC(g, "get", get), `[{"device_name":"adhoc","result":-1234}]`; got != want {
			t.Errorf("read back: %s, want %s", got, want)
		}
	})

	t.Run("serial", func(t *testing.T) {
		// "type" names the transport here, so the data type is taken from "tag", as the Python gateway's writes do
		params := map[string]any{"type": "serial", "method": "rtu", "port": cliPty, "baudrate": 19200,
			"unitId": modbus.CorpusUnit, "deviceName": "adhoc", "tag": "16int", "functionCode": 3, "address": 4,
			"objectsCount": 1}
		if got := connectorRPC(g, "get", params); got != wantRead {
			t.Errorf("read: %s, want %s", got, wantRead)
		}
	})

	t.Run("configured_line", func(t *testing.T) {
		before := proxy.accepted.Load()
		if got := connectorRPC(g, "get", slave(proxy.ln.Addr().String(), read16)); got != wantRead {
			t.Errorf("read: %s, want %s", got, wantRead)
		}
		if n := proxy.accepted.Load(); n != 1 || before != 1 {
			t.Errorf("the device's endpoint accepted %d connections (%d before the RPC), want 1: the RPC did not use the device's line", n, before)
		}
	})

	t.Run("every_configured_device", func(t *testing.T) {
		want := `[{"device_name":"` + device + `","result":` + fmt.Sprint(want["16int"]) + `}]`
		if got := connectorRPC(g, "read", read16); got != want {
			t.Errorf("%s, want %s", got, want)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		_ = ln.Close()
		var got []map[string]any
		if err := json.Unmarshal([]byte(connectorRPC(g, "get", slave(dead, read16))), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0]["success"] != false ||
			!strings.HasPrefix(got[0]["error"].(string), "Failed to connect to device adhoc: ") {
			t.Errorf("%v, want one entry {error: Failed to connect to device adhoc: …, success: false}", got)
		}
	})

	t.Run("bad_params", func(t *testing.T) {
		got := connectorRPC(g, "get", slave(peer, map[string]any{"port": 70000, "functionCode": 3, "address": 4}))
		if want := []any{map[string]any{"error": "params.port: expected a port number 1-65535, found 70000"}}; !reflect.DeepEqual(decodeJSON(got), want) {
			t.Errorf("%s, want %v", got, want)
		}
	})
}

func decodeJSON(s string) any {
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	return v
}
