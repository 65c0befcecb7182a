package bluez

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Adapter is one BlueZ adapter (org.bluez.Adapter1), e.g. hci0.
type Adapter struct {
	c       *Conn
	path    dbus.ObjectPath
	name    string
	address string
	monitor bool // has AdvertisementMonitorManager1
}

// Adapter finds an adapter by name ("hci0"); "" means the first one BlueZ lists (in path order). Errors:
// ErrAdapterNotFound, ErrNotPowered, or the bus error.
func (c *Conn) Adapter(ctx context.Context, name string) (*Adapter, error) {
	objs, err := c.managed(ctx)
	if err != nil {
		return nil, err
	}
	var paths []string
	for p, ifs := range objs {
		if _, ok := ifs[ifaceAdapter]; ok {
			paths = append(paths, string(p))
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		path := dbus.ObjectPath(p)
		if name != "" && p[strings.LastIndexByte(p, '/')+1:] != name {
			continue
		}
		props := objs[path][ifaceAdapter]
		a := &Adapter{c: c, path: path, name: p[strings.LastIndexByte(p, '/')+1:]}
		a.address, _ = props["Address"].Value().(string)
		_, a.monitor = objs[path][ifaceMonitorMgr]
		if powered, _ := props["Powered"].Value().(bool); !powered {
			return nil, fmt.Errorf("adapter %s: %w", a.name, ErrNotPowered)
		}
		return a, nil
	}
	if name == "" {
		return nil, ErrAdapterNotFound
	}
	return nil, fmt.Errorf("adapter %q: %w", name, ErrAdapterNotFound)
}

// Name is the adapter's name, e.g. "hci0".
func (a *Adapter) Name() string { return a.name }

// Address is the adapter's Bluetooth address as BlueZ reports it.
func (a *Adapter) Address() string { return a.address }

// Scan runs discovery until ctx ends and calls fn for every advertisement seen: a device added, or its RSSI,
// ManufacturerData, ServiceData, Name or Alias changed. fn runs on the dispatcher goroutine (it must return quickly
// and must not call into the Conn). Active: SetDiscoveryFilter{Transport: "le", DuplicateData: true} and
// StartDiscovery, StopDiscovery at the end. Passive: registers an AdvertisementMonitor1 of type "or_patterns" with
// the adapter's AdvertisementMonitorManager1 and reports the devices BlueZ hands to its DeviceFound;
// ErrPassiveUnsupported when the adapter has no monitor manager or no pattern is given. Scan returns nil when ctx
// ends after a successful start, or the error that prevented scanning.
func (a *Adapter) Scan(ctx context.Context, opts ScanOptions, fn func(Advertisement)) error {
	return errors.New("bluez: Scan not implemented yet")
}

// Connect connects to the device with that MAC address and returns once BlueZ reports both Connected and
// ServicesResolved, or ctx ends (then it calls Device1.Disconnect so BlueZ stops trying, and returns ctx's error).
// When BlueZ has no object for the MAC yet it runs an active discovery until the device appears or ctx ends.
// Errors from BlueZ come back as *Error.
func (a *Adapter) Connect(ctx context.Context, mac string) (*Device, error) {
	return nil, errors.New("bluez: Connect not implemented yet")
}
