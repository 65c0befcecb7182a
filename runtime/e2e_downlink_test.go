package runtime_test

// End-to-end tests of what ThingsBoard sends to the gateway: shared attributes, device RPC, gateway RPC,
// rename/delete, and the device table across a restart.

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/uplink"
)

// dataRec is a record with one telemetry value at ts.
func dataRec(device string, ts int64) tbgateway.Record {
	return tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{TS: ts, Values: map[string]any{"v": ts}}}}
}

// connected waits until the device has a session through the gateway at the emulator.
func (e *e2e) connected(device string) {
	e.t.Helper()
	e.waitFor(device+" connected", func() bool {
		d, ok := e.emu.Device(device)
		return ok && d.Connected
	})
}

// drained fails if the probe received more downlink calls than the test consumed; call it after the gateway
// stopped, when no more can arrive.
func (p *probe) drained(t *testing.T) {
	t.Helper()
	for len(p.updates) > 0 {
		t.Errorf("connector %q got an unexpected attribute update: %+v", p.name, <-p.updates)
	}
	for len(p.rpcs) > 0 {
		t.Errorf("connector %q got an unexpected RPC: %+v", p.name, <-p.rpcs)
	}
}

func TestE2ESharedAttributeUpdateReachesOwnerOnly(t *testing.T) {
	e := newE2E(t)
	a, b := newProbe(t, "alpha"), newProbe(t, "beta")
	r := e.start(setup{connectors: []connSpec{a.conn(), b.conn()}})
	a.send(t, e.ctx, dataRec("dev-a", 1))
	b.send(t, e.ctx, dataRec("dev-b", 1))
	e.connected("dev-a")
	e.connected("dev-b")

	if err := e.emu.SetSharedAttributes("dev-a", map[string]any{"setpoint": 21.5, "mode": "eco"}); err != nil {
		t.Fatal(err)
	}
	u := a.nextUpdate(t, e.ctx)
	if want := (attrUpdate{Device: "dev-a", Values: map[string]any{"setpoint": 21.5, "mode": "eco"}}); !reflect.DeepEqual(u, want) {
		t.Errorf("alpha got %+v, want %+v", u, want)
	}
	if err := e.emu.SetSharedAttributes("dev-b", map[string]any{"limit": int64(80)}); err != nil {
		t.Fatal(err)
	}
	u = b.nextUpdate(t, e.ctx)
	if want := (attrUpdate{Device: "dev-b", Values: map[string]any{"limit": int64(80)}}); !reflect.DeepEqual(u, want) {
		t.Errorf("beta got %+v, want %+v", u, want)
	}
	r.stop() // every downlink call has returned once Run has
	a.drained(t)
	b.drained(t)
}

func TestE2EDeviceRPC(t *testing.T) {
	e := newE2E(t)
	a, b := newProbe(t, "alpha"), newProbe(t, "beta")
	r := e.start(setup{connectors: []connSpec{a.conn(), b.conn()}})
	a.send(t, e.ctx, dataRec("dev-a", 1), dataRec("ghost", 1))
	b.send(t, e.ctx, dataRec("dev-b", 1))
	e.connected("dev-a")
	e.connected("dev-b")
	e.connected("ghost")

	reply := e.rpc("dev-a", "setValue", map[string]any{"v": 5})
	want := map[string]any{"connector": "alpha", "device": "dev-a", "method": "setValue", "params": map[string]any{"v": 5.0}}
	if !reflect.DeepEqual(reply, want) {
		t.Errorf("dev-a setValue replied %v, want %v", reply, want)
	}
	if req := a.nextRPC(t, e.ctx); req.Device != "dev-a" || req.Method != "setValue" || string(req.Params) != `{"v":5}` {
		t.Errorf("alpha received %+v", req)
	}

	reply = e.rpc("dev-b", "fail", nil)
	if reply["error"] == nil || reply["code"] != 500.0 {
		t.Errorf("a failing handler replied %v, want an error with code 500", reply)
	}
	b.nextRPC(t, e.ctx)

	// The gateway forgets "ghost" while the emulator still routes its RPCs through the gateway.
	if known, err := r.gw.Devices().Delete("ghost"); !known || err != nil {
		t.Fatalf("deleting ghost from the device table: %v %v", known, err)
	}
	reply = e.rpc("ghost", "setValue", map[string]any{"timeout": 1})
	if reply["error"] != "Request timeout" || reply["code"] != 408.0 {
		t.Errorf("rpc to a device the gateway does not know replied %v, want Request timeout, code 408", reply)
	}

	for _, m := range []string{"gateway_nosuch", "nounderscore", "nosuchtype_method"} {
		reply = e.rpc(gwName, m, nil)
		if reply["error"] == nil || reply["code"] != 404.0 {
			t.Errorf("gateway rpc %s replied %v, want an error with code 404", m, reply)
		}
	}
	r.stop()
	a.drained(t)
	b.drained(t)
}

// gatewayReply is the Python gateway's reply shape for its own RPC methods.
type gatewayReply[T any] struct {
	Code int `json:"code"`
	Resp T   `json:"resp"`
}

// gatewayRPC calls a gateway method and decodes its reply.
func gatewayRPC[T any](e *e2e, method string, params json.RawMessage) gatewayReply[T] {
	e.t.Helper()
	raw, err := e.emu.RPC(e.ctx, gwName, method, params, false, rpcTimeout)
	if err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	var out gatewayReply[T]
	if err := json.Unmarshal(raw, &out); err != nil || out.Code != 200 {
		e.t.Fatalf("%s replied %s (%v), want code 200", method, raw, err)
	}
	return out
}

func TestE2EGatewayRPC(t *testing.T) {
	e := newE2E(t)
	a, b := newProbe(t, "alpha"), newProbe(t, "beta")
	r := e.start(setup{connectors: []connSpec{a.conn(), b.conn()}})
	a.send(t, e.ctx, dataRec("dev-a", 1))
	b.send(t, e.ctx, dataRec("dev-b", 1), dataRec("dev-b", 2))
	e.waitFor("the data", func() bool {
		_, ok1 := e.valueAt("dev-a", "v", 1)
		_, ok2 := e.valueAt("dev-b", "v", 2)
		return ok1 && ok2
	})

	if got := gatewayRPC[string](e, "gateway_ping", nil).Resp; got != "pong" {
		t.Errorf("gateway_ping: %q", got)
	}
	if got := gatewayRPC[map[string]string](e, "gateway_version", nil).Resp; got["current_version"] != runtime.Version {
		t.Errorf("gateway_version: %v, want current_version %q", got, runtime.Version)
	}
	devs := gatewayRPC[map[string]string](e, "gateway_devices", nil).Resp
	if want := map[string]string{"dev-a": "alpha", "dev-b": "beta"}; !reflect.DeepEqual(devs, want) {
		t.Errorf("gateway_devices: %v, want %v", devs, want)
	}
	st := gatewayRPC[runtime.Stats](e, "gateway_stats", nil).Resp
	ca, cb := st.Connectors["alpha"], st.Connectors["beta"]
	if ca.Type != "e2etest" || ca.RecordsReceived != 1 || ca.Datapoints != 1 || cb.RecordsReceived != 2 || cb.Datapoints != 2 {
		t.Errorf("gateway_stats connectors: %+v", st.Connectors)
	}
	if st.Devices != 2 || st.Uplink.Acks == 0 {
		t.Errorf("gateway_stats: %d devices, %d acks; want 2 devices and some acks", st.Devices, st.Uplink.Acks)
	}

	// <connectorType>_<method> goes to every connector of the type, with the prefix removed.
	raw, err := e.emu.RPC(e.ctx, gwName, "e2etest_echo", json.RawMessage(`{"x":1}`), false, rpcTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var per map[string]probeReply
	if err := json.Unmarshal(raw, &per); err != nil {
		t.Fatalf("e2etest_echo replied %s: %v", raw, err)
	}
	for _, name := range []string{"alpha", "beta"} {
		if got := per[name]; got.Connector != name || got.Device != "" || got.Method != "echo" || string(got.Params) != `{"x":1}` {
			t.Errorf("e2etest_echo reply of %s: %+v (whole reply %s)", name, got, raw)
		}
	}
	for _, p := range []*probe{a, b} {
		if req := p.nextRPC(t, e.ctx); req.Device != "" || req.Method != "echo" {
			t.Errorf("connector %s received %+v", p.name, req)
		}
	}
	r.stop()
	a.drained(t)
	b.drained(t)
}

func TestE2ERestartRenameDelete(t *testing.T) {
	e := newE2E(t)
	p1 := newProbe(t, "keeper")
	r1 := e.start(setup{connectors: []connSpec{p1.conn()}})
	p1.send(t, e.ctx, dataRec("dev-a", 1000), dataRec("dev-b", 1000))
	e.waitFor("the first data", func() bool {
		_, ok1 := e.valueAt("dev-a", "v", 1000)
		_, ok2 := e.valueAt("dev-b", "v", 1000)
		return ok1 && ok2
	})
	r1.stop()

	// A second runtime on the same data folder knows the devices before any data.
	p2 := newProbe(t, "keeper")
	restarted := time.Now()
	r2 := e.start(setup{connectors: []connSpec{p2.conn()}})
	devs := gatewayRPC[map[string]string](e, "gateway_devices", nil).Resp
	if want := map[string]string{"dev-a": "keeper", "dev-b": "keeper"}; !reflect.DeepEqual(devs, want) {
		t.Fatalf("gateway_devices after a restart: %v, want %v", devs, want)
	}
	if st := r2.gw.Stats().Connectors["keeper"]; st.RecordsReceived != 0 {
		t.Fatalf("the test sent data before asking: %+v", st)
	}

	// The re-announcement after connect must be over before the rename, or it recreates the old name (as it
	// would at ThingsBoard: a rename racing a reconnect).
	for _, name := range []string{"dev-a", "dev-b"} {
		e.waitFor(name+" announced by the second runtime", func() bool {
			d, ok := e.emu.Device(name)
			return ok && d.Connected && d.LastConnect.After(restarted)
		})
	}

	// Rename: data goes out under the new name; an RPC to the new name reaches the connector with the old one.
	if err := e.emu.RenameDevice("dev-a", "dev-a-renamed"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the rename to reach the gateway", func() bool {
		return r2.gw.Devices().OutboundName("dev-a") == "dev-a-renamed"
	})
	p2.send(t, e.ctx, dataRec("dev-a", 2000))
	e.waitFor("data under the new name", func() bool { _, ok := e.valueAt("dev-a-renamed", "v", 2000); return ok })
	if _, ok := e.emu.Device("dev-a"); ok {
		t.Error("the emulator has a device under the old name again")
	}
	reply := e.rpc("dev-a-renamed", "setValue", map[string]any{"v": 1})
	if reply["device"] != "dev-a" || reply["connector"] != "keeper" {
		t.Errorf("rpc to the renamed device replied %v, want it served as dev-a by keeper", reply)
	}
	if req := p2.nextRPC(t, e.ctx); req.Device != "dev-a" {
		t.Errorf("the connector got the RPC for %q, want dev-a", req.Device)
	}

	// Delete: the gateway forgets the device.
	if err := e.emu.DeleteDevice("dev-b"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the delete to reach the gateway", func() bool {
		_, ok := r2.gw.Devices().Owner("dev-b")
		return !ok
	})
	devs = gatewayRPC[map[string]string](e, "gateway_devices", nil).Resp
	if want := map[string]string{"dev-a": "keeper"}; !reflect.DeepEqual(devs, want) {
		t.Errorf("gateway_devices after the delete: %v, want %v", devs, want)
	}
	r2.stop()
	p2.drained(t)
}

func TestE2ESharedAttributesResyncedAfterReconnect(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "syncer")
	p.sharedKeys["dev-s"] = []string{"mode", "limit"}
	r := e.start(setup{connectors: []connSpec{p.conn()}})
	p.send(t, e.ctx, dataRec("dev-s", 1))
	e.connected("dev-s")

	e.emu.RefuseConnections(time.Hour)
	e.emu.DropConnections()
	r.waitEvent(t, e.ctx, uplink.EventDisconnected)
	// Changed while the gateway is offline: ThingsBoard does not push it later.
	if err := e.emu.SetSharedAttributes("dev-s", map[string]any{"mode": "eco", "limit": int64(80), "other": "not asked"}); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, e.ctx, uplink.EventRejected)
	e.emu.RefuseConnections(0)
	r.waitEvent(t, e.ctx, uplink.EventConnected)

	want := attrUpdate{Device: "dev-s", Values: map[string]any{"mode": "eco", "limit": int64(80)}}
	if u := p.nextUpdate(t, e.ctx); !reflect.DeepEqual(u, want) {
		t.Errorf("after the reconnect the connector got %+v, want %+v", u, want)
	}
	r.stop()
	// A sync of the first connection still running at the reconnect may repeat the same values; nothing else.
	for len(p.updates) > 0 {
		if u := <-p.updates; !reflect.DeepEqual(u, want) {
			t.Errorf("unexpected attribute update %+v", u)
		}
	}
}
