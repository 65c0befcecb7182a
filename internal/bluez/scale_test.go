package bluez_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// Fifty devices connected at once (sharing one discovery session while BlueZ does not know them yet), each
// notifying: every value arrives, in order, at its own subscriber.
func TestFiftyDevicesConnectAndNotify(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	const devices, values = 50, 40
	sims := make([]*bluezsim.SimDevice, devices)
	for i := range sims {
		sims[i] = e.sim.AddDevice(sensor(fmt.Sprintf("AA:BB:CC:00:01:%02X", i), fmt.Sprintf("thermo-%d", i)))
	}
	got := make([]chan uint32, devices)
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for i := range sims {
		got[i] = make(chan uint32, values)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.adapter.Connect(e.ctx, fmt.Sprintf("AA:BB:CC:00:01:%02X", i))
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { d.Disconnect(e.ctx) })
			_, err = d.Subscribe(e.ctx, level, func(v []byte) { got[i] <- binary.LittleEndian.Uint32(v) })
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if e.sim.Discovering() {
		t.Error("discovery left running after every connect finished")
	}
	for v := uint32(0); v < values; v++ {
		for i, sd := range sims {
			if !sd.Notify(level, binary.LittleEndian.AppendUint32(nil, v)) {
				t.Fatalf("device %d: no notify session", i)
			}
		}
	}
	for i := range sims {
		for v := uint32(0); v < values; v++ {
			select {
			case x := <-got[i]:
				if x != v {
					t.Fatalf("device %d: value %d, want %d", i, x, v)
				}
			case <-e.ctx.Done():
				t.Fatalf("device %d: value %d missing", i, v)
			}
		}
	}
}
