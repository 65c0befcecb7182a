package bluezsim

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

// rawMonitor is a client's AdvertisementMonitor1 recording what the stand-in calls.
type rawMonitor struct{ calls chan string }

func (m rawMonitor) Release() *dbus.Error  { m.calls <- "Release"; return nil }
func (m rawMonitor) Activate() *dbus.Error { m.calls <- "Activate"; return nil }
func (m rawMonitor) DeviceFound(p dbus.ObjectPath) *dbus.Error {
	m.calls <- "DeviceFound " + string(p)
	return nil
}
func (m rawMonitor) DeviceLost(p dbus.ObjectPath) *dbus.Error {
	m.calls <- "DeviceLost " + string(p)
	return nil
}

type rawRoot struct {
	path dbus.ObjectPath
	typ  string
}

func (r rawRoot) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	type pat struct {
		Offset, ADType byte
		Content        []byte
	}
	return map[dbus.ObjectPath]map[string]map[string]dbus.Variant{r.path: {ifaceMonitor: {
		"Type":     dbus.MakeVariant(r.typ),
		"Patterns": dbus.MakeVariant([]pat{{0, 0x09, []byte("therm")}}),
	}}}, nil
}

func (c *client) exportMonitor(root dbus.ObjectPath, typ string) chan string {
	calls := make(chan string, 10)
	m := root + "/0"
	if err := c.conn.Export(rawRoot{m, typ}, root, ifaceObjManager); err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Export(rawMonitor{calls}, m, ifaceMonitor); err != nil {
		c.t.Fatal(err)
	}
	return calls
}

func (c *client) next(calls chan string) string {
	c.t.Helper()
	select {
	case s := <-calls:
		return s
	case <-c.ctx.Done():
		c.t.Fatal("the stand-in did not call the monitor")
		return ""
	}
}

func TestMonitorManager(t *testing.T) {
	sim, c, _ := setup(t, Options{Monitors: true})
	d := sim.AddDevice(spec()) // "thermo"
	sim.AddDevice(DeviceSpec{Address: "AA:BB:CC:00:00:02", Name: "other"})
	adapter := sim.AdapterPath()

	calls := c.exportMonitor("/app1", "or_patterns")
	c.ok(c.call(adapter, ifaceMonitorMgr+".RegisterMonitor", dbus.ObjectPath("/app1")))
	c.wantErr(c.call(adapter, ifaceMonitorMgr+".RegisterMonitor", dbus.ObjectPath("/app1")), "org.bluez.Error.AlreadyExists")
	// godbus serves each incoming call on its own goroutine, so the client may see these two in either order.
	first, second := c.next(calls), c.next(calls)
	if first > second {
		first, second = second, first
	}
	if first != "Activate" || second != "DeviceFound "+string(d.Path()) {
		t.Fatalf("calls %q, %q; want Activate and DeviceFound of the matching device only", first, second)
	}
	if !d.Visible() {
		t.Error("found device has no object")
	}
	d.GoAway()
	if got := c.next(calls); got != "DeviceLost "+string(d.Path()) {
		t.Fatalf("after GoAway %q, want DeviceLost", got)
	}
	d.ComeBack()
	if got := c.next(calls); got != "DeviceFound "+string(d.Path()) {
		t.Fatalf("after ComeBack %q, want DeviceFound", got)
	}
	c.ok(c.call(adapter, ifaceMonitorMgr+".UnregisterMonitor", dbus.ObjectPath("/app1")))
	if got := c.next(calls); got != "Release" {
		t.Fatalf("after UnregisterMonitor %q, want Release", got)
	}
	c.wantErr(c.call(adapter, ifaceMonitorMgr+".UnregisterMonitor", dbus.ObjectPath("/app1")), "org.bluez.Error.DoesNotExist")

	bad := c.exportMonitor("/app2", "and_patterns")
	c.ok(c.call(adapter, ifaceMonitorMgr+".RegisterMonitor", dbus.ObjectPath("/app2")))
	if got := c.next(bad); got != "Release" {
		t.Fatalf("monitor of an unsupported type: %q, want Release", got)
	}
}
