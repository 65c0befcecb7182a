package bluez

import (
	"context"
	"errors"

	"github.com/godbus/dbus/v5"
)

// Device is a connected BLE device (org.bluez.Device1) with its resolved GATT database.
type Device struct {
	a       *Adapter
	path    dbus.ObjectPath
	address string
	name    string
	gone    chan struct{}
}

// Address is the device's MAC address, upper case.
func (d *Device) Address() string { return d.address }

// Name is the device's Alias (or Name) when it connected; may be empty.
func (d *Device) Name() string { return d.name }

// Services lists the resolved GATT services and their characteristics (for showMap and UUID lookup), in path order.
func (d *Device) Services() []Service { return nil }

// Read reads the characteristic with that UUID (any case, 16-bit "2a00" or 128-bit form): ReadValue. Errors:
// ErrNoCharacteristic, *Error from BlueZ, ctx's error.
func (d *Device) Read(ctx context.Context, uuid string) ([]byte, error) {
	return nil, errors.New("bluez: Read not implemented yet")
}

// Write writes data to the characteristic with that UUID: WriteValue with type "request" (withResponse, BlueZ
// waits for the device's acknowledgement) or "command" (write without response).
func (d *Device) Write(ctx context.Context, uuid string, data []byte, withResponse bool) error {
	return errors.New("bluez: Write not implemented yet")
}

// Subscribe calls StartNotify on the characteristic and then fn for every change of its Value, in order, on the
// connection's dispatcher goroutine (fn must not block nor call into the Conn; copy the slice to keep it). The
// returned stop removes fn and calls StopNotify; it is safe to call after the device is gone.
func (d *Device) Subscribe(ctx context.Context, uuid string, fn func(value []byte)) (stop func(context.Context) error, err error) {
	return nil, errors.New("bluez: Subscribe not implemented yet")
}

// Gone is closed when the device disconnects (Connected becomes false) or BlueZ removes its object
// (InterfacesRemoved of Device1). A gone Device is not reused: Connect again for a new one.
func (d *Device) Gone() <-chan struct{} { return d.gone }

// Disconnect calls Device1.Disconnect and releases the device's signal routes.
func (d *Device) Disconnect(ctx context.Context) error {
	return errors.New("bluez: Disconnect not implemented yet")
}
