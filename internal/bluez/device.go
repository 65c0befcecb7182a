package bluez

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Device is a connected BLE device (org.bluez.Device1) with its resolved GATT database. It is safe for
// concurrent use.
type Device struct {
	c        *Conn
	path     dbus.ObjectPath
	address  string
	name     string
	services []Service
	chars    map[string]dbus.ObjectPath // 128-bit UUID -> characteristic object (the first in path order)

	gone     chan struct{}
	goneOnce sync.Once
	changed  chan struct{} // a Device1 property or the object changed (capacity 1)
	unroute  func()

	mu     sync.Mutex
	nextID uint64
	subs   map[uint64]func() // removes a subscription's route
}

// Address is the device's MAC address, upper case.
func (d *Device) Address() string { return d.address }

// Name is the device's Alias (or Name) when it connected; may be empty.
func (d *Device) Name() string { return d.name }

// Services lists the resolved GATT services and their characteristics (for showMap and UUID lookup), in object
// path order (BlueZ numbers them by handle). The slices are copies.
func (d *Device) Services() []Service {
	out := make([]Service, len(d.services))
	for i, s := range d.services {
		out[i] = s
		out[i].Characteristics = append([]Characteristic(nil), s.Characteristics...)
	}
	return out
}

// Gone is closed when the device disconnects (Connected becomes false), BlueZ removes its object
// (InterfacesRemoved of Device1) or bluetoothd leaves the bus. A gone Device is not reused: Connect again for a new one.
func (d *Device) Gone() <-chan struct{} { return d.gone }

// signal handles, on the dispatcher, signals about the device object.
func (d *Device) signal(sig *dbus.Signal) {
	switch sig.Name {
	case ifaceObjManager + ".InterfacesRemoved":
		if ifs, ok := interfacesRemoved(sig); ok && contains(ifs, ifaceDevice) {
			d.markGone()
		}
	case ifaceProps + ".PropertiesChanged":
		iface, changed, _, ok := propertiesChanged(sig)
		if !ok || iface != ifaceDevice {
			return
		}
		if v, ok := changed["Connected"]; ok {
			if b, _ := v.Value().(bool); !b {
				d.markGone()
			}
		}
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// ownerChanged handles NameOwnerChanged of org.bluez: its old owner left, taking the connection along.
func (d *Device) ownerChanged(sig *dbus.Signal) {
	if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
		return
	}
	if name, _ := sig.Body[0].(string); name != service {
		return
	}
	if old, _ := sig.Body[1].(string); old != "" {
		d.markGone()
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}
}

func (d *Device) markGone() {
	d.goneOnce.Do(func() {
		close(d.gone)
		d.release()
	})
}

// release removes the device's routes and those of its subscriptions.
func (d *Device) release() {
	d.unroute()
	d.mu.Lock()
	subs := d.subs
	d.subs = map[uint64]func(){}
	d.mu.Unlock()
	for _, remove := range subs {
		remove()
	}
}

func (d *Device) char(uuid string) (dbus.ObjectPath, error) {
	u, err := ParseUUID(uuid)
	if err != nil {
		return "", err
	}
	p, ok := d.chars[u]
	if !ok {
		return "", fmt.Errorf("%s characteristic %s: %w", d.address, u, ErrNoCharacteristic)
	}
	return p, nil
}

// Read reads the characteristic with that UUID (any case, 16-bit "2a00" or 128-bit form): ReadValue. Errors:
// ErrNoCharacteristic, *Error from BlueZ, ctx's error. Note that BlueZ also announces the value read as a Value
// change, so a subscriber of the same characteristic sees it too.
func (d *Device) Read(ctx context.Context, uuid string) ([]byte, error) {
	p, err := d.char(uuid)
	if err != nil {
		return nil, err
	}
	var v []byte
	if err := d.c.call(ctx, p, ifaceChar+".ReadValue", []any{&v}, map[string]dbus.Variant{}); err != nil {
		return nil, fmt.Errorf("bluez: read %s %s: %w", d.address, uuid, err)
	}
	return v, nil
}

// Write writes data to the characteristic with that UUID: WriteValue with type "request" (withResponse: BlueZ
// returns once the device acknowledged) or "command" (write without response).
func (d *Device) Write(ctx context.Context, uuid string, data []byte, withResponse bool) error {
	p, err := d.char(uuid)
	if err != nil {
		return err
	}
	typ := "command"
	if withResponse {
		typ = "request"
	}
	opts := map[string]dbus.Variant{"type": dbus.MakeVariant(typ)}
	if err := d.c.call(ctx, p, ifaceChar+".WriteValue", nil, data, opts); err != nil {
		return fmt.Errorf("bluez: write %s %s: %w", d.address, uuid, err)
	}
	return nil
}

// Subscribe calls StartNotify on the characteristic and then fn for every change of its Value, in order, on the
// connection's dispatcher goroutine (fn must not block nor call into the Conn; copy the slice to keep it). The
// returned stop removes fn and calls StopNotify; it returns nil without calling BlueZ once the device is gone, and
// is safe to call more than once. BlueZ announces a value read with ReadValue (by anyone) the same way as a
// notification, so fn also sees those.
func (d *Device) Subscribe(ctx context.Context, uuid string, fn func(value []byte)) (stop func(context.Context) error, err error) {
	p, err := d.char(uuid)
	if err != nil {
		return nil, err
	}
	remove := d.c.route(p, false, func(sig *dbus.Signal) {
		iface, changed, _, ok := propertiesChanged(sig)
		if !ok || iface != ifaceChar {
			return
		}
		if v, ok := changed["Value"]; ok {
			if b, ok := v.Value().([]byte); ok {
				fn(b)
			}
		}
	})
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	d.subs[id] = remove
	d.mu.Unlock()
	unsubscribe := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		r, ok := d.subs[id]
		if ok {
			delete(d.subs, id)
			r()
		}
		return ok
	}
	if err := d.c.call(ctx, p, ifaceChar+".StartNotify", nil); err != nil {
		unsubscribe()
		return nil, fmt.Errorf("bluez: subscribe %s %s: %w", d.address, uuid, err)
	}
	return func(ctx context.Context) error {
		if !unsubscribe() {
			return nil // stopped already, or the device is gone
		}
		select {
		case <-d.gone:
			return nil
		default:
		}
		if err := d.c.call(ctx, p, ifaceChar+".StopNotify", nil); err != nil {
			return fmt.Errorf("bluez: unsubscribe %s %s: %w", d.address, uuid, err)
		}
		return nil
	}, nil
}

// Disconnect calls Device1.Disconnect and releases the device's signal routes. A device BlueZ already reports
// as not connected is not an error.
func (d *Device) Disconnect(ctx context.Context) error {
	defer d.markGone()
	err := d.c.call(ctx, d.path, ifaceDevice+".Disconnect", nil)
	if err != nil && !IsErrorName(err, "org.bluez.Error.NotConnected") && !IsErrorName(err, "org.freedesktop.DBus.Error.UnknownObject") {
		return fmt.Errorf("bluez: disconnect %s: %w", d.address, err)
	}
	return nil
}
