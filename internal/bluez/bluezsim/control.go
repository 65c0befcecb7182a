package bluezsim

import (
	"context"

	"github.com/godbus/dbus/v5"
)

func (d *SimDevice) char(uuid string) *simChar {
	c, ok := d.chars[mustUUID(uuid)]
	if !ok {
		panic("bluezsim: device " + d.spec.Address + " has no characteristic " + uuid)
	}
	return c
}

// SetValue sets what ReadValue answers next.
func (d *SimDevice) SetValue(uuid string, v []byte) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.char(uuid).value = append([]byte(nil), v...)
}

// Notify sends a notification: the characteristic's Value changes (PropertiesChanged) if the device is connected
// and some client called StartNotify; it reports whether it was sent.
func (d *SimDevice) Notify(uuid string, v []byte) bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	c := d.char(uuid)
	if !d.connected || len(c.sessions) == 0 {
		return false
	}
	c.value = append([]byte(nil), v...)
	c.cached = true
	// Every notification is announced, even with an unchanged value.
	d.s.setProps(c.path, ifaceChar, map[string]dbus.Variant{"Value": dbus.MakeVariant(append([]byte{}, v...))}, true)
	return true
}

// FailReads makes ReadValue of that characteristic answer the D-Bus error errName ("" stops failing).
func (d *SimDevice) FailReads(uuid string, errName string) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.char(uuid).failRead = errName
}

// Advertise changes the advertised manufacturer and service data (nil keeps the current one). While the device
// object exists its ManufacturerData/ServiceData change (PropertiesChanged; every time when a discovering client
// set DuplicateData), and monitors whose patterns now match are told.
func (d *SimDevice) Advertise(manuf map[uint16][]byte, svc map[string][]byte) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if manuf != nil {
		d.spec.ManufacturerData = manuf
	}
	if svc != nil {
		d.spec.ServiceData = map[string][]byte{}
		for u, v := range svc {
			d.spec.ServiceData[mustUUID(u)] = v
		}
	}
	if !d.present {
		return
	}
	if d.exported {
		d.s.setProps(d.path, ifaceDevice, d.advertProps(), d.s.duplicateData())
	}
	d.seen()
}

// SetRSSI changes the signal strength; like an advertisement it is announced while the object exists.
func (d *SimDevice) SetRSSI(rssi int16) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.spec.RSSI = rssi
	if d.exported {
		d.s.setProps(d.path, ifaceDevice, map[string]dbus.Variant{"RSSI": dbus.MakeVariant(rssi)}, d.s.duplicateData())
	}
}

// GoAway takes the device out of range: a connection ends (ServicesResolved false, GATT objects removed,
// Connected false), monitors that found it get DeviceLost, and its object is removed (InterfacesRemoved).
func (d *SimDevice) GoAway() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.present = false
	d.teardown()
	d.s.loseMonitors(d)
	d.unexport()
}

// ComeBack brings the device back in range: visible to discovery and monitors again, connectable.
func (d *SimDevice) ComeBack() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.present = true
	d.seen()
}

// Writes returns the writes clients made to the characteristic, in order.
func (d *SimDevice) Writes(uuid string) []Write {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return append([]Write(nil), d.char(uuid).writes...)
}

// Notifying reports whether any client has a notify session on the characteristic.
func (d *SimDevice) Notifying(uuid string) bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return len(d.char(uuid).sessions) > 0
}

// Connected reports whether a client connected the device (Connected and ServicesResolved).
func (d *SimDevice) Connected() bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.connected
}

// Connects counts the connections made; Disconnects counts Device1.Disconnect calls that ended a connection or a
// pending connection attempt.
func (d *SimDevice) Connects() int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.connects
}

// Disconnects: see Connects.
func (d *SimDevice) Disconnects() int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.disconnects
}

// Visible reports whether BlueZ has an object for the device.
func (d *SimDevice) Visible() bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.exported
}

// ConnectAttempted waits until a client called Connect on an unresponsive device (the call is then pending), or
// ctx ends.
func (d *SimDevice) ConnectAttempted(ctx context.Context) error {
	select {
	case <-d.attempted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DropConnection ends a connection from the device's side (supervision timeout): ServicesResolved false, GATT
// objects removed, Connected false; the device object stays. It reports whether the device was connected.
func (d *SimDevice) DropConnection() bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	was := d.connected
	d.teardown()
	return was
}

// WaitDiscovering waits until some client has a discovery session, or ctx ends.
func (s *Sim) WaitDiscovering(ctx context.Context) error {
	for {
		s.mu.Lock()
		on, ch := len(s.sessions) > 0, s.discoveryWake
		s.mu.Unlock()
		if on {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DiscoverySessions counts the clients with a discovery session.
func (s *Sim) DiscoverySessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
