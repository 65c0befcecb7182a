package bluez

import (
	"errors"

	"github.com/godbus/dbus/v5"
)

// Error is a D-Bus error returned by BlueZ (or by the bus), keeping its error name, for example
// "org.bluez.Error.NotPermitted", "org.bluez.Error.Failed", "org.bluez.Error.InProgress",
// "org.bluez.Error.NotConnected" or "org.bluez.Error.NotSupported".
type Error struct {
	Name    string // D-Bus error name
	Message string // the error's first string argument, may be empty
}

// Error returns "<Name>: <Message>" (or just the name when there is no message).
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrPassiveUnsupported: a passive scan was asked for but the adapter has no AdvertisementMonitorManager1 or
	// the scan options carry no pattern (BlueZ reports only advertisements matching a monitor's patterns).
	ErrPassiveUnsupported = errors.New("bluez: passive scanning unsupported (no advertisement monitor manager or no pattern)")
	// ErrNoCharacteristic: the connected device has no GATT characteristic with the UUID asked for.
	ErrNoCharacteristic = errors.New("bluez: no such characteristic")
	// ErrAdapterNotFound: BlueZ lists no adapter of that name (or none at all).
	ErrAdapterNotFound = errors.New("bluez: adapter not found")
	// ErrNotPowered: the adapter exists but its Powered property is false.
	ErrNotPowered = errors.New("bluez: adapter not powered")
	// ErrClosed: the Conn was closed.
	ErrClosed = errors.New("bluez: connection closed")
)

// IsErrorName reports whether err is (or wraps) a BlueZ *Error with that D-Bus error name.
func IsErrorName(err error, name string) bool {
	var e *Error
	return errors.As(err, &e) && e.Name == name
}

// wrapErr turns a godbus error into *Error (keeping its name) and leaves other errors alone.
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var de dbus.Error
	if errors.As(err, &de) {
		e := &Error{Name: de.Name}
		if len(de.Body) > 0 {
			if s, ok := de.Body[0].(string); ok {
				e.Message = s
			}
		}
		return e
	}
	var dp *dbus.Error
	if errors.As(err, &dp) && dp != nil {
		e := &Error{Name: dp.Name}
		if len(dp.Body) > 0 {
			if s, ok := dp.Body[0].(string); ok {
				e.Message = s
			}
		}
		return e
	}
	return err
}
