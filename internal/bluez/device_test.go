package bluez_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tbgateway/tbgateway/internal/bluez"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

func TestConnectResolvesServices(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	// No discovery ran, so BlueZ has no object yet: Connect discovers the device first.
	d := e.connect(t, "aa-bb-cc-00-00-01")
	if d.Address() != "AA:BB:CC:00:00:01" || d.Name() != "thermo-1" {
		t.Errorf("address/name = %s/%s", d.Address(), d.Name())
	}
	if !sd.Connected() {
		t.Fatal("stand-in device not connected")
	}
	if e.sim.Discovering() {
		t.Error("discovery left running after connect")
	}
	svcs := d.Services()
	got := fmt.Sprint(svcs)
	want := "[{00001800-0000-1000-8000-00805f9b34fb true [{00002a00-0000-1000-8000-00805f9b34fb [read]}]} " +
		"{0000180f-0000-1000-8000-00805f9b34fb true [{00002a19-0000-1000-8000-00805f9b34fb [read notify]} " +
		"{0000fff1-0000-1000-8000-00805f9b34fb [read write]} {0000fff2-0000-1000-8000-00805f9b34fb [write-without-response]}]}]"
	if got != want {
		t.Errorf("services:\n got %s\nwant %s", got, want)
	}
}

func TestReadWrite(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")

	for _, u := range []string{level, "2A19", levelLong, "0x2a19"} {
		v, err := d.Read(e.ctx, u)
		if err != nil || !bytes.Equal(v, []byte{99}) {
			t.Errorf("Read(%s) = %v, %v; want [99]", u, v, err)
		}
	}
	sd.SetValue(level, []byte{42, 1})
	if v, err := d.Read(e.ctx, level); err != nil || !bytes.Equal(v, []byte{42, 1}) {
		t.Errorf("Read after change = %v, %v", v, err)
	}

	if err := d.Write(e.ctx, control, []byte("on"), true); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(e.ctx, command, []byte("go"), false); err != nil {
		t.Fatal(err)
	}
	if w := sd.Writes(control); len(w) != 1 || string(w[0].Value) != "on" || w[0].Type != "request" {
		t.Errorf("writes with response = %+v, want one request \"on\"", w)
	}
	if w := sd.Writes(command); len(w) != 1 || string(w[0].Value) != "go" || w[0].Type != "command" {
		t.Errorf("writes without response = %+v, want one command \"go\"", w)
	}
}

func TestBlueZErrorNamesSurface(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")

	sd.FailReads(level, "org.bluez.Error.Failed")
	_, err := d.Read(e.ctx, level)
	var be *bluez.Error
	if !errors.As(err, &be) || be.Name != "org.bluez.Error.Failed" {
		t.Errorf("failing read: %v, want *bluez.Error org.bluez.Error.Failed", err)
	}
	sd.FailReads(level, "")
	if _, err := d.Read(e.ctx, level); err != nil {
		t.Errorf("read after the failure ended: %v", err)
	}
	cases := []struct {
		what string
		err  error
		name string
	}{
		{"write request to a read-only characteristic", d.Write(e.ctx, readOnly, []byte{1}, true), "org.bluez.Error.NotPermitted"},
		{"read of a write-only characteristic", func() error { _, err := d.Read(e.ctx, command); return err }(), "org.bluez.Error.NotPermitted"},
		{"subscribe to a characteristic without notify", func() error { _, err := d.Subscribe(e.ctx, control, func([]byte) {}); return err }(), "org.bluez.Error.NotSupported"},
	}
	for _, c := range cases {
		if !bluez.IsErrorName(c.err, c.name) {
			t.Errorf("%s: %v, want %s", c.what, c.err, c.name)
		}
	}
	if _, err := d.Read(e.ctx, "2a6e"); !errors.Is(err, bluez.ErrNoCharacteristic) {
		t.Errorf("unknown characteristic: %v, want ErrNoCharacteristic", err)
	}
}

func TestAdapterErrors(t *testing.T) {
	e := setup(t, bluezsim.Options{Unpowered: true})
	if _, err := e.conn.Adapter(e.ctx, ""); !errors.Is(err, bluez.ErrNotPowered) {
		t.Errorf("unpowered adapter: %v, want ErrNotPowered", err)
	}
	if _, err := e.conn.Adapter(e.ctx, "hci7"); !errors.Is(err, bluez.ErrAdapterNotFound) {
		t.Errorf("missing adapter: %v, want ErrAdapterNotFound", err)
	}
}

func TestSubscribeDeliversNotificationsInOrder(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")
	if sd.Notify(level, []byte{0}) {
		t.Fatal("stand-in notified without a notify session")
	}
	got := make(chan []byte, 1000)
	stop, err := d.Subscribe(e.ctx, level, func(v []byte) { got <- append([]byte(nil), v...) })
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := 0; i < n; i++ {
		if !sd.Notify(level, []byte{byte(i), byte(i >> 8)}) {
			t.Fatalf("notification %d not sent: no notify session", i)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case v := <-got:
			if want := []byte{byte(i), byte(i >> 8)}; !bytes.Equal(v, want) {
				t.Fatalf("notification %d = %v, want %v", i, v, want)
			}
		case <-e.ctx.Done():
			t.Fatalf("only %d of %d notifications arrived", i, n)
		}
	}
	if err := stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	if sd.Notifying(level) {
		t.Error("notify session still open after stop (StopNotify not called)")
	}
	if sd.Notify(level, []byte{1}) {
		t.Error("stand-in still notifies after stop")
	}
	if err := stop(e.ctx); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestNotificationsRoutedToTheirDevice(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	var devs []*bluezsim.SimDevice
	var got []chan []byte
	for i := 0; i < 3; i++ {
		mac := fmt.Sprintf("AA:BB:CC:00:00:%02X", i+1)
		devs = append(devs, e.sim.AddDevice(sensor(mac, "thermo")))
		d := e.connect(t, mac)
		ch := make(chan []byte, 100)
		got = append(got, ch)
		if _, err := d.Subscribe(e.ctx, level, func(v []byte) { ch <- append([]byte(nil), v...) }); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 3; round++ {
		for i, sd := range devs {
			sd.Notify(level, []byte{byte(i), byte(round)})
		}
	}
	for i, ch := range got {
		for round := 0; round < 3; round++ {
			select {
			case v := <-ch:
				if !bytes.Equal(v, []byte{byte(i), byte(round)}) {
					t.Fatalf("device %d got %v, want [%d %d]", i, v, i, round)
				}
			case <-e.ctx.Done():
				t.Fatalf("device %d: notification %d missing", i, round)
			}
		}
	}
	// Each device received exactly its own three: a fourth would be another device's.
	for i, sd := range devs {
		sd.Notify(level, []byte{byte(i), 9})
	}
	for i, ch := range got {
		if v := <-ch; !bytes.Equal(v, []byte{byte(i), 9}) {
			t.Errorf("device %d got %v, want [%d 9]", i, v, i)
		}
	}
}

func TestConnectGivenUpDisconnects(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	spec := sensor("AA:BB:CC:00:00:01", "mute")
	spec.Unresponsive = true
	sd := e.sim.AddDevice(spec)

	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := e.adapter.Connect(ctx, "AA:BB:CC:00:00:01")
		done <- err
	}()
	if err := sd.ConnectAttempted(e.ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // the caller's timeout
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want the context's error", err)
	}
	if n := sd.Disconnects(); n != 1 {
		t.Errorf("Device1.Disconnect called %d times after the abandoned connect, want 1", n)
	}
	if sd.Connected() {
		t.Error("device connected")
	}
}

func TestGoneOnRemoteDisconnect(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")
	if !sd.DropConnection() {
		t.Fatal("not connected")
	}
	select {
	case <-d.Gone():
	case <-e.ctx.Done():
		t.Fatal("Gone not closed after Connected became false")
	}
	// The object stays: connect again directly.
	d2 := e.connect(t, "AA:BB:CC:00:00:01")
	if v, err := d2.Read(e.ctx, level); err != nil || !bytes.Equal(v, []byte{99}) {
		t.Errorf("read after reconnect = %v, %v", v, err)
	}
}

func TestDeviceGoneAndBack(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	sd := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")
	got := make(chan []byte, 10)
	stop, err := d.Subscribe(e.ctx, level, func(v []byte) { got <- append([]byte(nil), v...) })
	if err != nil {
		t.Fatal(err)
	}
	sd.Notify(level, []byte{1})
	if v := <-got; v[0] != 1 {
		t.Fatalf("got %v", v)
	}

	sd.GoAway()
	select {
	case <-d.Gone():
	case <-e.ctx.Done():
		t.Fatal("Gone not closed when the device went away")
	}
	if err := stop(e.ctx); err != nil {
		t.Errorf("stop after gone: %v", err)
	}
	if _, err := d.Read(e.ctx, level); err == nil {
		t.Error("read of a gone device succeeded")
	}

	// Reconnect while it is still away: Connect discovers until the device is back.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	connected := make(chan *bluez.Device, 1)
	go func() {
		d, err := e.adapter.Connect(ctx, "AA:BB:CC:00:00:01")
		if err != nil {
			t.Error(err)
		}
		connected <- d
	}()
	waitDiscovering(t, e)
	sd.ComeBack()
	d2 := <-connected
	if d2 == nil {
		t.FailNow()
	}
	t.Cleanup(func() { d2.Disconnect(context.Background()) })
	if _, err := d2.Subscribe(e.ctx, level, func(v []byte) { got <- append([]byte(nil), v...) }); err != nil {
		t.Fatal(err)
	}
	sd.Notify(level, []byte{2})
	if v := <-got; v[0] != 2 {
		t.Fatalf("after reconnect got %v", v)
	}
}

// waitDiscovering waits for the stand-in's Discovering property to become true, watching it on the bus.
func waitDiscovering(t *testing.T, e *env) {
	t.Helper()
	if err := e.sim.WaitDiscovering(e.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestGoneWhenBlueZLeavesTheBus(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	d := e.connect(t, "AA:BB:CC:00:00:01")
	e.sim.Close() // bluetoothd stops
	select {
	case <-d.Gone():
	case <-e.ctx.Done():
		t.Fatal("Gone not closed when bluetoothd left the bus")
	}
}
