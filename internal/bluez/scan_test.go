package bluez_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tbgateway/tbgateway/internal/bluez"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// scanInto runs Scan in the background, sending every advertisement to the returned channel; stop ends the scan
// and returns Scan's result.
func scanInto(t *testing.T, e *env, opts bluez.ScanOptions) (<-chan bluez.Advertisement, func() error) {
	t.Helper()
	ads := make(chan bluez.Advertisement, 1024)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.adapter.Scan(ctx, opts, func(ad bluez.Advertisement) {
			select {
			case ads <- ad:
			default:
				t.Error("test advertisement buffer full")
			}
		})
	}()
	return ads, func() error { cancel(); return <-done }
}

// await reads advertisements until one satisfies ok; it fails the test when the hang guard ends first.
func await(t *testing.T, e *env, ads <-chan bluez.Advertisement, ok func(bluez.Advertisement) bool) (seen []bluez.Advertisement) {
	t.Helper()
	for {
		select {
		case ad := <-ads:
			seen = append(seen, ad)
			if ok(ad) {
				return seen
			}
		case <-e.ctx.Done():
			t.Fatalf("advertisement not seen; saw %+v", seen)
		}
	}
}

func TestScanActiveReportsAdvertisementData(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	spec := sensor("AA:BB:CC:00:00:01", "thermo-1")
	spec.ManufacturerData = map[uint16][]byte{0x0059: {1, 2, 3}}
	spec.ServiceData = map[string][]byte{"181a": {0x10, 0x20}}
	dev := e.sim.AddDevice(spec)
	e.sim.AddDevice(sensor("AA:BB:CC:00:00:02", "other"))

	ads, stop := scanInto(t, e, bluez.ScanOptions{})
	seen := map[string]bluez.Advertisement{}
	await(t, e, ads, func(ad bluez.Advertisement) bool {
		seen[ad.Address] = ad
		return len(seen) == 2
	})
	ad := seen["AA:BB:CC:00:00:01"]
	if ad.Name != "thermo-1" || ad.RSSI != -60 {
		t.Errorf("name/RSSI = %q/%d, want thermo-1/-60", ad.Name, ad.RSSI)
	}
	if !bytes.Equal(ad.ManufacturerData[0x0059], []byte{1, 2, 3}) {
		t.Errorf("manufacturer data = %v", ad.ManufacturerData)
	}
	if !bytes.Equal(ad.ServiceData["0000181a-0000-1000-8000-00805f9b34fb"], []byte{0x10, 0x20}) {
		t.Errorf("service data = %v", ad.ServiceData)
	}
	if !e.sim.Discovering() {
		t.Error("active scan runs without a discovery session")
	}

	// A new advertisement with the same data is reported again (DuplicateData), new data as it changes.
	dev.Advertise(map[uint16][]byte{0x0059: {1, 2, 3}}, nil)
	await(t, e, ads, func(ad bluez.Advertisement) bool { return ad.Address == "AA:BB:CC:00:00:01" })
	dev.Advertise(map[uint16][]byte{0x0059: {4, 5}}, map[string][]byte{"181a": {0x30}})
	await(t, e, ads, func(ad bluez.Advertisement) bool {
		return bytes.Equal(ad.ManufacturerData[0x0059], []byte{4, 5}) &&
			bytes.Equal(ad.ServiceData["0000181a-0000-1000-8000-00805f9b34fb"], []byte{0x30})
	})

	if err := stop(); err != nil {
		t.Fatalf("Scan returned %v after its context ended", err)
	}
	if e.sim.Discovering() {
		t.Error("discovery still running after the scan ended (StopDiscovery not called)")
	}
}

func TestScanPassiveReportsOnlyMatchingDevices(t *testing.T) {
	e := setup(t, bluezsim.Options{Monitors: true})
	thermo := e.sim.AddDevice(sensor("AA:BB:CC:00:00:01", "thermo-1"))
	beacon := sensor("AA:BB:CC:00:00:03", "")
	beacon.ManufacturerData = map[uint16][]byte{0x004c: {0x02, 0x15, 0xAB}}
	e.sim.AddDevice(beacon)

	// Another program discovers meanwhile, so BlueZ has objects and announces changes for every device: the
	// passive scan must still report only what its monitor matched.
	other2, err := bluez.Dial(e.ctx, e.bus)
	if err != nil {
		t.Fatal(err)
	}
	defer other2.Close()
	a2, err := other2.Adapter(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(e.ctx)
	scan2 := make(chan error, 1)
	go func() { scan2 <- a2.Scan(ctx2, bluez.ScanOptions{}, func(bluez.Advertisement) {}) }()
	defer func() { cancel2(); <-scan2 }()
	if err := e.sim.WaitDiscovering(e.ctx); err != nil {
		t.Fatal(err)
	}

	ads, stop := scanInto(t, e, bluez.ScanOptions{Passive: true, Patterns: []bluez.Pattern{
		{Offset: 0, ADType: 0x09, Content: []byte("thermo")},   // local name starts with "thermo"
		{Offset: 2, ADType: 0xFF, Content: []byte{0x02, 0x15}}, // manufacturer data after the company id
	}})
	seen := map[string]bool{}
	await(t, e, ads, func(ad bluez.Advertisement) bool {
		seen[ad.Address] = true
		return seen["AA:BB:CC:00:00:01"] && seen["AA:BB:CC:00:00:03"]
	})
	if n := e.sim.DiscoverySessions(); n != 1 {
		t.Errorf("%d discovery sessions, want only the other program's: the passive scan scans actively", n)
	}
	// A device no pattern matches appears and changes: neither is reported; both come before the matched
	// device's change.
	other := e.sim.AddDevice(sensor("AA:BB:CC:00:00:02", "other"))
	other.Advertise(map[uint16][]byte{1: {1}}, nil)
	thermo.Advertise(map[uint16][]byte{2: {2}}, nil)
	for _, ad := range await(t, e, ads, func(ad bluez.Advertisement) bool { return ad.ManufacturerData[2] != nil }) {
		if ad.Address == "AA:BB:CC:00:00:02" {
			t.Errorf("passive scan reported a device no pattern matches: %+v", ad)
		}
	}
	if seen["AA:BB:CC:00:00:02"] {
		t.Error("passive scan reported a device no pattern matches")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestScanPassiveUnsupported(t *testing.T) {
	e := setup(t, bluezsim.Options{})
	err := e.adapter.Scan(e.ctx, bluez.ScanOptions{Passive: true, Patterns: []bluez.Pattern{{ADType: 9, Content: []byte("x")}}}, func(bluez.Advertisement) {})
	if !errors.Is(err, bluez.ErrPassiveUnsupported) {
		t.Errorf("passive scan without a monitor manager: %v, want ErrPassiveUnsupported", err)
	}
}

func TestScanPassiveWithoutPatterns(t *testing.T) {
	e2 := setup(t, bluezsim.Options{Monitors: true})
	err := e2.adapter.Scan(e2.ctx, bluez.ScanOptions{Passive: true}, func(bluez.Advertisement) {})
	if !errors.Is(err, bluez.ErrPassiveUnsupported) {
		t.Errorf("passive scan without patterns: %v, want ErrPassiveUnsupported", err)
	}
}
