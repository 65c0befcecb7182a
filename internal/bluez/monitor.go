package bluez

import (
	"sync"

	"github.com/godbus/dbus/v5"
)

// monitor is the AdvertisementMonitor1 object a passive scan exports for BlueZ to call.
type monitor struct {
	s         *scan
	path      dbus.ObjectPath
	patterns  []Pattern
	activated chan struct{}
	released  chan struct{}
	done      <-chan struct{} // closed when the scan returns
	once      sync.Once
	relOnce   sync.Once
}

// wirePattern is a pattern as BlueZ reads it: (yyay) start position, AD data type, content.
type wirePattern struct {
	Offset  byte
	ADType  byte
	Content []byte
}

func (m *monitor) props() map[string]dbus.Variant {
	ps := make([]wirePattern, len(m.patterns))
	for i, p := range m.patterns {
		ps[i] = wirePattern{Offset: p.Offset, ADType: p.ADType, Content: p.Content}
	}
	return map[string]dbus.Variant{
		"Type":     dbus.MakeVariant("or_patterns"),
		"Patterns": dbus.MakeVariant(ps),
	}
}

func (m *monitor) export(bus *dbus.Conn, root dbus.ObjectPath) error {
	if err := bus.Export(monitorRoot{m}, root, ifaceObjManager); err != nil {
		return err
	}
	if err := bus.Export(monitorMethods{m}, m.path, ifaceMonitor); err != nil {
		return err
	}
	return bus.Export(monitorProps{m}, m.path, ifaceProps)
}

func (m *monitor) unexport(bus *dbus.Conn, root dbus.ObjectPath) {
	bus.Export(nil, root, ifaceObjManager)
	bus.Export(nil, m.path, ifaceMonitor)
	bus.Export(nil, m.path, ifaceProps)
}

// monitorRoot is the ObjectManager BlueZ asks for the monitors under the registered root.
type monitorRoot struct{ m *monitor }

// GetManagedObjects lists the one monitor.
func (r monitorRoot) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	return map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
		r.m.path: {ifaceMonitor: r.m.props()},
	}, nil
}

// monitorProps serves org.freedesktop.DBus.Properties of the monitor (read-only).
type monitorProps struct{ m *monitor }

// Get returns one property of AdvertisementMonitor1.
func (p monitorProps) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	v, ok := p.m.props()[name]
	if iface != ifaceMonitor || !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no such property " + name})
	}
	return v, nil
}

// GetAll returns the properties of AdvertisementMonitor1.
func (p monitorProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	if iface != ifaceMonitor {
		return map[string]dbus.Variant{}, nil
	}
	return p.m.props(), nil
}

// Set refuses: the monitor's properties are read-only.
func (p monitorProps) Set(iface, name string, v dbus.Variant) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{name + " is read-only"})
}

// monitorMethods is org.bluez.AdvertisementMonitor1 as BlueZ calls it.
type monitorMethods struct{ m *monitor }

// Release: BlueZ deactivated the monitor (or could not activate it).
func (h monitorMethods) Release() *dbus.Error {
	h.m.relOnce.Do(func() { close(h.m.released) })
	return nil
}

// Activate: BlueZ will now report matching devices.
func (h monitorMethods) Activate() *dbus.Error {
	h.m.once.Do(func() { close(h.m.activated) })
	return nil
}

// DeviceFound hands the device to the scan goroutine, which reads its properties.
func (h monitorMethods) DeviceFound(device dbus.ObjectPath) *dbus.Error {
	select {
	case h.m.s.foundCh <- device:
	case <-h.m.done:
	}
	return nil
}

// DeviceLost stops reporting the device until it is found again.
func (h monitorMethods) DeviceLost(device dbus.ObjectPath) *dbus.Error {
	h.m.s.deviceLost(device)
	return nil
}
