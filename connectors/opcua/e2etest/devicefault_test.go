package e2etest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

// lateNodeMap is a node-opcua map whose node ns=2;i=3 exists only after the server gets SIGUSR1.
const lateNodeMap = `{
  "namespaces": ["urn:tbgateway:test:faults"],
  "tickMs": 50,
  "objects": [{
    "nodeId": "ns=2;i=1", "browseName": "Plant",
    "variables": [
      {"nodeId": "ns=2;i=2", "browseName": "Temp", "dataType": "Double", "value": 1, "simulate": "counter"},
      {"nodeId": "ns=2;i=3", "browseName": "Late", "dataType": "Double", "value": 7, "late": true}
    ]
  }]
}`

// TestMissingNodeLoggedOncePerStateChange: a device key reads node ns=2;i=3, which node-opcua does not have, beside
// a good key of its own and a good device. The missing node is logged once when it starts failing and once when
// the node appears, naming the connector, the device, the key and the node; every failed read is counted in
// gateway_stats; the good key and the good device keep reporting values throughout.
func TestMissingNodeLoggedOncePerStateChange(t *testing.T) {
	e := gwtest.New(t, gwtest.Options{Timeout: 90 * time.Second})
	if !opcuapeer.Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", opcuapeer.ErrMissing)
		}
		t.Skip("node-opcua test peer missing: install with make test-deps")
	}
	nodemap := filepath.Join(t.TempDir(), "nodemap.json")
	if err := os.WriteFile(nodemap, []byte(lateNodeMap), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := opcuapeer.Start(e.Ctx, opcuapeer.Options{NodeMap: nodemap, PKIDir: t.TempDir(), Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	device := func(name string, keys ...string) map[string]any {
		var ts []any
		for _, k := range keys {
			node := map[string]string{"temp": "${ns=2;i=2}", "late": "${ns=2;i=3}"}[k]
			ts = append(ts, map[string]any{"key": k, "path": node})
		}
		return map[string]any{"deviceNodePattern": "ns=2;i=1", "deviceInfo": map[string]any{"deviceNameExpression": name},
			"timeseries": ts}
	}
	conf := map[string]any{
		"server": map[string]any{"url": p.URL, "security": "None", "timeoutInMillis": 5000,
			"enableSubscriptions": false, "pollPeriodInMillis": 20},
		"mapping": []any{device("boiler", "temp", "late"), device("pump", "temp")},
	}
	const conn = "OPC-UA faults"
	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{{Type: opcua.Type, Name: conn, File: "opcua.json", Conf: conf}}})
	g := e.Start(gwtest.StartOptions{})

	start := []string{`msg="device fault"`, `connector="` + conn + `"`, "device=boiler", "key=late", `node="ns=2;i=3"`,
		"BadNodeIdUnknown"}
	cleared := []string{`msg="device fault cleared"`, "device=boiler", "key=late", `node="ns=2;i=3"`}
	faults := func() uint64 { return g.GW.Stats().Connectors[conn].Faults }
	g.WaitLog(e.Ctx, start...)
	const more = 5
	e.WaitFor("more failed reads counted", func() bool { return faults() >= more })
	pumpBefore, boilerBefore := len(e.Emu.Telemetry("pump", "temp")), len(e.Emu.Telemetry("boiler", "temp"))
	e.WaitFor("values of the good key and the good device while the node is missing", func() bool {
		return len(e.Emu.Telemetry("pump", "temp")) >= pumpBefore+more && len(e.Emu.Telemetry("boiler", "temp")) >= boilerBefore+more
	})
	if n := g.Log.Count(start...); n != 1 {
		t.Errorf("the missing node was logged %d times while it kept failing, want once", n)
	}
	if n := g.Log.Count(`msg="device fault`, "device=pump"); n != 0 {
		t.Errorf("the good device was logged with %d faults", n)
	}
	if st := g.GW.Stats().Connectors[conn]; st.Active != 1 {
		t.Errorf("gateway_stats while the node is missing: %+v, want 1 active fault", st)
	}

	if err := syscall.Kill(p.PID(), syscall.SIGUSR1); err != nil { // the server adds the node
		t.Fatal(err)
	}
	g.WaitLog(e.Ctx, cleared...)
	waitLatest(e, "boiler", map[string]any{"late": 7})
	settled := faults()
	lateBefore := len(e.Emu.Telemetry("boiler", "temp"))
	e.WaitFor("more polls after the recovery", func() bool { return len(e.Emu.Telemetry("boiler", "temp")) >= lateBefore+more })
	if n := faults(); n != settled {
		t.Errorf("faults counted after the node appeared: %d, then %d", settled, n)
	}
	if a, c := g.Log.Count(start...), g.Log.Count(cleared...); a != 1 || c != 1 {
		t.Errorf("log lines: %d fault starts and %d recoveries, want one each", a, c)
	}
	if st := g.GW.Stats().Connectors[conn]; st.Active != 0 {
		t.Errorf("gateway_stats after the recovery: %+v, want no active fault", st)
	}
}
