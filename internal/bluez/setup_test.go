package bluez_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/internal/bluez"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// hangGuard bounds every test against hangs only; no test asserts a duration.
const hangGuard = 60 * time.Second

type env struct {
	ctx     context.Context
	bus     string
	sim     *bluezsim.Sim
	conn    *bluez.Conn
	adapter *bluez.Adapter
}

// setup starts a private bus, the stand-in on it and a client connection; all are closed at cleanup, after which
// no goroutine may be left.
func setup(t *testing.T, opts bluezsim.Options) *env {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, runs last
	bus := bluezsim.StartBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	sim, err := bluezsim.New(ctx, bus, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	conn, err := bluez.Dial(ctx, bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e := &env{ctx: ctx, bus: bus, sim: sim, conn: conn}
	if !opts.Unpowered {
		e.adapter, err = conn.Adapter(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

const (
	battery   = "180f"
	level     = "2a19"                                 // read, notify
	control   = "0000fff1-0000-1000-8000-00805f9b34fb" // write
	command   = "0000fff2-0000-1000-8000-00805f9b34fb" // write-without-response
	readOnly  = "2a00"                                 // read only
	levelLong = "00002a19-0000-1000-8000-00805f9b34fb"
)

func sensor(addr, name string) bluezsim.DeviceSpec {
	return bluezsim.DeviceSpec{
		Address: addr,
		Name:    name,
		RSSI:    -60,
		Services: []bluezsim.ServiceSpec{
			{UUID: "1800", Characteristics: []bluezsim.CharSpec{{UUID: readOnly, Flags: []string{"read"}, Value: []byte(name)}}},
			{UUID: battery, Characteristics: []bluezsim.CharSpec{
				{UUID: level, Flags: []string{"read", "notify"}, Value: []byte{99}},
				{UUID: control, Flags: []string{"read", "write"}},
				{UUID: command, Flags: []string{"write-without-response"}},
			}},
		},
	}
}

// connect connects to the device and disconnects at cleanup.
func (e *env) connect(t *testing.T, mac string) *bluez.Device {
	t.Helper()
	d, err := e.adapter.Connect(e.ctx, mac)
	if err != nil {
		t.Fatalf("connect %s: %v", mac, err)
	}
	t.Cleanup(func() { d.Disconnect(context.Background()) })
	return d
}
