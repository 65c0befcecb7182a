package bluezsim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"go.uber.org/goleak"
)

// client is a raw bus client of the stand-in: the tests speak BlueZ's D-Bus API directly.
type client struct {
	t    *testing.T
	ctx  context.Context
	conn *dbus.Conn
	sigs chan *dbus.Signal
}

func setup(t *testing.T, opts Options) (*Sim, *client, string) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	bus := StartBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard only
	t.Cleanup(cancel)
	sim, err := New(ctx, bus, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, dial(t, ctx, bus), bus
}

func dial(t *testing.T, ctx context.Context, bus string) *client {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, ctx: ctx, conn: conn, sigs: make(chan *dbus.Signal, 1000)}
	if err := conn.AddMatchSignal(dbus.WithMatchSender("org.bluez")); err != nil {
		t.Fatal(err)
	}
	conn.Signal(c.sigs)
	return c
}

func (c *client) call(path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	return c.conn.Object("org.bluez", path).CallWithContext(c.ctx, method, 0, args...)
}

// wantErr asserts the call failed with that D-Bus error name.
func (c *client) wantErr(call *dbus.Call, name string) {
	c.t.Helper()
	var de dbus.Error
	if !errors.As(call.Err, &de) || de.Name != name {
		c.t.Errorf("%s: error %v, want %s", call.Method, call.Err, name)
	}
}

func (c *client) ok(call *dbus.Call) {
	c.t.Helper()
	if call.Err != nil {
		c.t.Fatalf("%s: %v", call.Method, call.Err)
	}
}

func (c *client) objects() map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := c.call("/", ifaceObjManager+".GetManagedObjects").Store(&objs); err != nil {
		c.t.Fatal(err)
	}
	return objs
}

// waitSignal reads signals until one satisfies ok.
func (c *client) waitSignal(ok func(*dbus.Signal) bool) {
	c.t.Helper()
	for {
		select {
		case s := <-c.sigs:
			if ok(s) {
				return
			}
		case <-c.ctx.Done():
			c.t.Fatal("signal not seen")
		}
	}
}

func gattObjects(objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant, dev dbus.ObjectPath) int {
	n := 0
	for p := range objs {
		if strings.HasPrefix(string(p), string(dev)+"/") {
			n++
		}
	}
	return n
}

func spec() DeviceSpec {
	return DeviceSpec{Address: "AA:BB:CC:00:00:01", Name: "thermo", RSSI: -50, Services: []ServiceSpec{{
		UUID: "180f", Characteristics: []CharSpec{
			{UUID: "2a19", Flags: []string{"read", "notify"}, Value: []byte{7}},
			{UUID: "fff1", Flags: []string{"read"}},
		}}}}
}

func TestDiscoverySessionsAreStrict(t *testing.T) {
	sim, c, bus := setup(t, Options{})
	adapter := sim.AdapterPath()
	d := sim.AddDevice(spec())
	if d.Visible() {
		t.Fatal("device visible before anyone discovered")
	}
	c.wantErr(c.call(adapter, ifaceAdapter+".StopDiscovery"), "org.bluez.Error.Failed")
	c.wantErr(c.call(adapter, ifaceAdapter+".SetDiscoveryFilter", map[string]dbus.Variant{"Transport": dbus.MakeVariant("radio")}),
		"org.bluez.Error.InvalidArguments")
	c.ok(c.call(adapter, ifaceAdapter+".StartDiscovery"))
	c.wantErr(c.call(adapter, ifaceAdapter+".StartDiscovery"), "org.bluez.Error.InProgress")
	c.waitSignal(func(s *dbus.Signal) bool {
		return s.Name == ifaceObjManager+".InterfacesAdded" && s.Body[0] == d.Path()
	})
	// A second client's session keeps discovery on after the first stops; leaving the bus ends it.
	c2 := dial(t, c.ctx, bus)
	c2.ok(c2.call(adapter, ifaceAdapter+".StartDiscovery"))
	c.ok(c.call(adapter, ifaceAdapter+".StopDiscovery"))
	if !sim.Discovering() {
		t.Fatal("discovery stopped while another client's session runs")
	}
	c2.conn.Close()
	if err := waitFor(c.ctx, func() bool { return !sim.Discovering() }, sim); err != nil {
		t.Fatal("discovery session of a client that left the bus still runs")
	}
}

// waitFor waits for cond, re-checking whenever discovery starts or stops.
func waitFor(ctx context.Context, cond func() bool, sim *Sim) error {
	for {
		sim.mu.Lock()
		wake := sim.discoveryWake
		sim.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestUnknownObjectsAnswerLikeLibdbus(t *testing.T) {
	sim, c, _ := setup(t, Options{})
	c.wantErr(c.call(sim.AdapterPath()+"/dev_00_00_00_00_00_09", ifaceDevice+".Connect"), "org.freedesktop.DBus.Error.UnknownMethod")
	c.wantErr(c.call(sim.AdapterPath(), ifaceDevice+".Connect"), "org.freedesktop.DBus.Error.UnknownMethod")
	c.wantErr(c.call(sim.AdapterPath(), ifaceAdapter+".StartDiscovery", "extra"), "org.freedesktop.DBus.Error.InvalidArgs")
}

func TestGATTObjectsOnlyWhileConnected(t *testing.T) {
	sim, c, _ := setup(t, Options{})
	d := sim.AddDevice(spec())
	c.ok(c.call(sim.AdapterPath(), ifaceAdapter+".StartDiscovery"))
	c.waitSignal(func(s *dbus.Signal) bool {
		return s.Name == ifaceObjManager+".InterfacesAdded" && s.Body[0] == d.Path()
	})
	c.ok(c.call(sim.AdapterPath(), ifaceAdapter+".StopDiscovery"))
	if n := gattObjects(c.objects(), d.Path()); n != 0 {
		t.Fatalf("%d GATT objects before connecting", n)
	}
	c.wantErr(c.call(d.Path(), ifaceDevice+".Disconnect"), "org.bluez.Error.NotConnected")
	c.ok(c.call(d.Path(), ifaceDevice+".Connect"))
	c.wantErr(c.call(d.Path(), ifaceDevice+".Connect"), "org.bluez.Error.AlreadyConnected")
	objs := c.objects()
	if n := gattObjects(objs, d.Path()); n != 3 {
		t.Fatalf("%d GATT objects after connecting, want a service and two characteristics", n)
	}
	if b, _ := objs[d.Path()][ifaceDevice]["ServicesResolved"].Value().(bool); !b {
		t.Error("ServicesResolved false after Connect returned")
	}
	c.ok(c.call(d.Path(), ifaceDevice+".Disconnect"))
	if n := gattObjects(c.objects(), d.Path()); n != 0 {
		t.Errorf("%d GATT objects after disconnecting", n)
	}
	if d.Disconnects() != 1 || d.Connects() != 1 {
		t.Errorf("connects/disconnects = %d/%d, want 1/1", d.Connects(), d.Disconnects())
	}
}

func TestNotifySessions(t *testing.T) {
	sim, c, _ := setup(t, Options{})
	d := sim.AddDevice(spec())
	c.ok(c.call(sim.AdapterPath(), ifaceAdapter+".StartDiscovery"))
	c.waitSignal(func(s *dbus.Signal) bool {
		return s.Name == ifaceObjManager+".InterfacesAdded" && s.Body[0] == d.Path()
	})
	c.ok(c.call(d.Path(), ifaceDevice+".Connect"))
	var chr, plain dbus.ObjectPath
	for p, ifs := range c.objects() {
		switch ifs[ifaceChar]["UUID"].Value() {
		case "00002a19-0000-1000-8000-00805f9b34fb":
			chr = p
		case "0000fff1-0000-1000-8000-00805f9b34fb":
			plain = p
		}
	}
	if d.Notify("2a19", []byte{1}) {
		t.Error("notification sent before StartNotify")
	}
	c.wantErr(c.call(chr, ifaceChar+".StopNotify"), "org.bluez.Error.Failed")
	c.wantErr(c.call(plain, ifaceChar+".StartNotify"), "org.bluez.Error.NotSupported")
	c.wantErr(c.call(plain, ifaceChar+".WriteValue", []byte{1}, map[string]dbus.Variant{"type": dbus.MakeVariant("request")}),
		"org.bluez.Error.NotPermitted")
	c.ok(c.call(chr, ifaceChar+".StartNotify"))
	c.ok(c.call(chr, ifaceChar+".StartNotify")) // one session per client; asking again is not an error
	if !d.Notify("2a19", []byte{5}) {
		t.Fatal("notification not sent after StartNotify")
	}
	c.waitSignal(func(s *dbus.Signal) bool {
		if s.Path != chr || s.Name != ifaceProps+".PropertiesChanged" {
			return false
		}
		v, ok := s.Body[1].(map[string]dbus.Variant)["Value"]
		return ok && v.Value().([]byte)[0] == 5
	})
	c.ok(c.call(chr, ifaceChar+".StopNotify"))
	if d.Notify("2a19", []byte{6}) {
		t.Error("notification sent after StopNotify")
	}
}

func TestGoAwayRemovesObjects(t *testing.T) {
	sim, c, _ := setup(t, Options{})
	d := sim.AddDevice(spec())
	c.ok(c.call(sim.AdapterPath(), ifaceAdapter+".StartDiscovery"))
	c.waitSignal(func(s *dbus.Signal) bool {
		return s.Name == ifaceObjManager+".InterfacesAdded" && s.Body[0] == d.Path()
	})
	c.ok(c.call(d.Path(), ifaceDevice+".Connect"))
	c.waitSignal(func(s *dbus.Signal) bool {
		if s.Name != ifaceProps+".PropertiesChanged" || s.Path != d.Path() {
			return false
		}
		_, ok := s.Body[1].(map[string]dbus.Variant)["ServicesResolved"]
		return ok
	})
	d.GoAway()
	var order []string
	c.waitSignal(func(s *dbus.Signal) bool {
		switch {
		case s.Name == ifaceProps+".PropertiesChanged" && s.Path == d.Path():
			for k, v := range s.Body[1].(map[string]dbus.Variant) {
				order = append(order, k+"="+v.String())
			}
		case s.Name == ifaceObjManager+".InterfacesRemoved" && s.Body[0] == d.Path():
			order = append(order, "removed")
			return true
		}
		return false
	})
	if got := strings.Join(order, " "); got != "ServicesResolved=false Connected=false removed" {
		t.Errorf("signals when the device went away: %s", got)
	}
	if d.Visible() {
		t.Error("device visible after it went away")
	}
	d.ComeBack()
	c.waitSignal(func(s *dbus.Signal) bool {
		return s.Name == ifaceObjManager+".InterfacesAdded" && s.Body[0] == d.Path()
	})
}
