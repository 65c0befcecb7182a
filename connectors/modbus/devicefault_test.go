package modbus_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
)

// TestMissingRegisterLoggedOncePerStateChange: pymodbus lacks holding register 200 until the test creates a
// file. A device with an item there, beside a good item of its own and a good device on the same line: the
// refused item is logged once when it starts failing and once when the register appears, naming the connector,
// the device, the key and the address; every refused read is counted in gateway_stats and in the statistics
// telemetry's connectorsStats (deviceFaults, connectorsErrors); the other item and the other device keep
// reporting values throughout, and the device, which answers, is not disconnected at ThingsBoard.
func TestMissingRegisterLoggedOncePerStateChange(t *testing.T) {
	needPymodbus(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	appear := filepath.Join(t.TempDir(), "register-200")
	peers := runPymodbus(t, ctx, "--tcp", "127.0.0.1:0", "--hole", "200:"+appear)
	host, port, _ := net.SplitHostPort(peers["tcp"])
	slave := func(name string, items ...any) map[string]any {
		return map[string]any{
			"deviceName": name, "host": host, "port": json.Number(port), "type": "tcp", "unitId": modbus.CorpusUnit,
			"pollPeriod": 20, "timeout": 5, "retries": 0, "timeseries": items,
		}
	}
	good := map[string]any{"tag": "v", "type": "16int", "functionCode": 3, "address": 4}
	missing := map[string]any{"tag": "late", "type": "16uint", "functionCode": 3, "address": 200}
	cfg, _ := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{
		slave("good meter", good), slave("holed meter", good, missing),
	}}})
	const conn = "Modbus faults"
	e := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: modbus.Type, Name: conn, File: "modbus.json", Conf: cfg}},
		Thingsboard: map[string]any{"statistics": map[string]any{"enable": true}}})
	g := e.Start(gwtest.StartOptions{Runtime: runtime.Options{StatisticsPeriod: 20 * time.Millisecond}})

	start := []string{`msg="device fault"`, `connector="` + conn + `"`, `device="holed meter"`, "key=late",
		"functionCode=3", "address=200", "illegal data address"}
	cleared := []string{`msg="device fault cleared"`, `device="holed meter"`, "key=late", "address=200"}
	faults := func() uint64 { return g.GW.Stats().Connectors[conn].Faults }
	g.WaitLog(e.Ctx, start...)
	const more = 5
	e.WaitFor("more refused reads counted", func() bool { return faults() >= more })
	goodBefore, holedBefore := len(e.Emu.Telemetry("good meter", "v")), len(e.Emu.Telemetry("holed meter", "v"))
	e.WaitFor("values from the good device and the good item while the register is missing", func() bool {
		return len(e.Emu.Telemetry("good meter", "v")) >= goodBefore+more &&
			len(e.Emu.Telemetry("holed meter", "v")) >= holedBefore+more
	})
	if n := g.Log.Count(start...); n != 1 {
		t.Errorf("the missing register was logged %d times while it kept failing, want once", n)
	}
	if n := g.Log.Count(`msg="device fault`, `device="good meter"`); n != 0 {
		t.Errorf("the good device was logged with %d faults", n)
	}
	if d, ok := e.Emu.Device("holed meter"); !ok || !d.Connected || !d.LastDisconnect.IsZero() {
		t.Errorf("the device answers, so it stays connected at ThingsBoard: %+v", d)
	}
	if n := len(e.Emu.Telemetry("holed meter", "late")); n != 0 {
		t.Errorf("the missing register reported %d values", n)
	}
	if st := g.GW.Stats().Connectors[conn]; st.Active != 1 {
		t.Errorf("gateway_stats while the register is missing: %+v, want 1 active fault", st)
	}

	if err := os.WriteFile(appear, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.WaitLog(e.Ctx, cleared...)
	e.WaitFor("values of the register once it appeared", func() bool { return len(e.Emu.Telemetry("holed meter", "late")) >= more })
	settled := faults()
	lateBefore := len(e.Emu.Telemetry("holed meter", "late"))
	e.WaitFor("more polls after the recovery", func() bool { return len(e.Emu.Telemetry("holed meter", "late")) >= lateBefore+more })
	if n := faults(); n != settled {
		t.Errorf("faults counted after the register appeared: %d, then %d", settled, n)
	}
	if a, c := g.Log.Count(start...), g.Log.Count(cleared...); a != 1 || c != 1 {
		t.Errorf("log lines: %d fault starts and %d recoveries, want one each", a, c)
	}
	if st := g.GW.Stats().Connectors[conn]; st.Active != 0 {
		t.Errorf("gateway_stats after the recovery: %+v, want no active fault", st)
	}

	// the statistics telemetry carries the faults as deltas: they add up to the total
	e.WaitFor("connectorsStats deviceFaults adding up to the faults counted", func() bool {
		var sumFaults, sumErrors uint64
		for _, pt := range e.Emu.Telemetry(gwtest.GatewayName, "connectorsStats") {
			raw, _ := pt.Value.(json.RawMessage)
			var m map[string]struct {
				DeviceFaults     uint64 `json:"deviceFaults"`
				ConnectorsErrors uint64 `json:"connectorsErrors"`
			}
			if json.Unmarshal(raw, &m) == nil {
				sumFaults += m[conn].DeviceFaults
				sumErrors += m[conn].ConnectorsErrors
			}
		}
		return sumFaults == settled && sumErrors >= settled
	})
}
