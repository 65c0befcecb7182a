package bluezsim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/tbgateway/tbgateway/internal/bluez"
)

// DeviceSpec describes a simulated LE peripheral: what it advertises and its GATT database.
type DeviceSpec struct {
	Address          string // "AA:BB:CC:DD:EE:FF"
	Name             string // complete local name, may be empty
	RSSI             int16
	ManufacturerData map[uint16][]byte
	ServiceData      map[string][]byte // UUID (any form) -> data
	Services         []ServiceSpec
	// Unresponsive devices advertise but never answer a connection request: Connect stays pending until the client
	// calls Disconnect (then it fails with org.bluez.Error.Failed), the device goes away or the Sim closes.
	Unresponsive bool
}

// ServiceSpec is one primary GATT service.
type ServiceSpec struct {
	UUID            string
	Characteristics []CharSpec
}

// CharSpec is one characteristic: its UUID, BlueZ flags ("read", "write", "write-without-response", "notify",
// "indicate", ...) and initial value.
type CharSpec struct {
	UUID  string
	Flags []string
	Value []byte
}

// Write is one write a client made to a characteristic.
type Write struct {
	Value []byte
	Type  string // "request" or "command"
}

// SimDevice is a simulated peripheral added with AddDevice.
type SimDevice struct {
	s        *Sim
	spec     DeviceSpec
	path     dbus.ObjectPath
	chars    map[string]*simChar // lower-case 128-bit UUID -> characteristic (the first of that UUID)
	ordered  []*simChar
	services []*simService

	// guarded by s.mu
	present     bool          // in range
	exported    bool          // BlueZ has an object for it
	connected   bool          // Connected and ServicesResolved
	pending     chan struct{} // an unresponsive device's pending Connect; closed to end it
	attempted   chan struct{} // closed at the first Connect call of an unresponsive device
	connects    int
	disconnects int
	foundBy     map[monitorKey]bool
}

type simService struct {
	path   dbus.ObjectPath
	uuid   string
	handle uint16
	chars  []*simChar
}

type simChar struct {
	d        *SimDevice
	handle   uint16
	path     dbus.ObjectPath
	svc      dbus.ObjectPath
	uuid     string
	flags    []string
	value    []byte
	cached   bool            // Value property present (after a read or notification)
	sessions map[string]bool // senders with a notify session
	failRead string
	writes   []Write
}

// AddDevice puts a device in range. It becomes visible (InterfacesAdded) while a client discovers, and is
// reported to advertisement monitors whose patterns match. It panics on a malformed address or UUID (a test bug).
func (s *Sim) AddDevice(spec DeviceSpec) *SimDevice {
	addr := strings.ToUpper(spec.Address)
	if len(addr) != 17 {
		panic(fmt.Sprintf("bluezsim: bad device address %q", spec.Address))
	}
	d := &SimDevice{
		s:         s,
		spec:      spec,
		path:      s.adapter + dbus.ObjectPath("/dev_"+strings.ReplaceAll(addr, ":", "_")),
		chars:     map[string]*simChar{},
		foundBy:   map[monitorKey]bool{},
		attempted: make(chan struct{}),
	}
	d.spec.Address = addr
	d.spec.ServiceData = map[string][]byte{}
	for u, v := range spec.ServiceData {
		d.spec.ServiceData[mustUUID(u)] = v
	}
	handle := uint16(1)
	for _, sv := range spec.Services {
		svc := &simService{path: d.path + dbus.ObjectPath(fmt.Sprintf("/service%04x", handle)),
			uuid: mustUUID(sv.UUID), handle: handle}
		d.services = append(d.services, svc)
		handle++
		for _, cs := range sv.Characteristics {
			c := &simChar{d: d, svc: svc.path, uuid: mustUUID(cs.UUID), flags: append([]string(nil), cs.Flags...),
				value: append([]byte(nil), cs.Value...), sessions: map[string]bool{}, handle: handle}
			c.path = svc.path + dbus.ObjectPath(fmt.Sprintf("/char%04x", handle))
			svc.chars = append(svc.chars, c)
			handle += 2
			if c.has("notify") || c.has("indicate") {
				handle++ // client characteristic configuration descriptor
			}
			if _, dup := d.chars[c.uuid]; !dup {
				d.chars[c.uuid] = c
			}
			d.ordered = append(d.ordered, c)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.devices[addr]; dup {
		panic("bluezsim: device added twice: " + addr)
	}
	s.devices[addr] = d
	s.byPath[d.path] = d
	d.present = true
	d.seen()
	return d
}

// Path is the device's object path.
func (d *SimDevice) Path() dbus.ObjectPath { return d.path }

// seen makes a device in range visible to discovery and monitors. s.mu held.
func (d *SimDevice) seen() {
	if !d.present {
		return
	}
	if !d.exported && len(d.s.sessions) > 0 {
		d.export()
	}
	d.s.matchMonitors(d)
}

func (c *simChar) has(flag string) bool {
	for _, f := range c.flags {
		if f == flag {
			return true
		}
	}
	return false
}

func mustUUID(s string) string {
	u, err := bluez.ParseUUID(s)
	if err != nil {
		panic("bluezsim: " + err.Error())
	}
	return u
}

// deviceProps are the Device1 properties of an exported device. s.mu held.
func (d *SimDevice) deviceProps() map[string]dbus.Variant {
	alias := d.spec.Name
	if alias == "" {
		alias = strings.ReplaceAll(d.spec.Address, ":", "-")
	}
	p := map[string]dbus.Variant{
		"Address":          dbus.MakeVariant(d.spec.Address),
		"AddressType":      dbus.MakeVariant("public"),
		"Alias":            dbus.MakeVariant(alias),
		"Paired":           dbus.MakeVariant(false),
		"Bonded":           dbus.MakeVariant(false),
		"Trusted":          dbus.MakeVariant(false),
		"Blocked":          dbus.MakeVariant(false),
		"LegacyPairing":    dbus.MakeVariant(false),
		"Connected":        dbus.MakeVariant(d.connected),
		"ServicesResolved": dbus.MakeVariant(d.connected),
		"Adapter":          dbus.MakeVariant(d.s.adapter),
		"UUIDs":            dbus.MakeVariant(d.uuids()),
		"RSSI":             dbus.MakeVariant(d.spec.RSSI),
	}
	if d.spec.Name != "" {
		p["Name"] = dbus.MakeVariant(d.spec.Name)
	}
	for k, v := range d.advertProps() {
		p[k] = v
	}
	return p
}

// advertProps are the advertisement-data properties (present only when advertised). s.mu held.
func (d *SimDevice) advertProps() map[string]dbus.Variant {
	p := map[string]dbus.Variant{}
	if len(d.spec.ManufacturerData) > 0 {
		m := map[uint16]dbus.Variant{}
		for id, b := range d.spec.ManufacturerData {
			m[id] = dbus.MakeVariant(append([]byte(nil), b...))
		}
		p["ManufacturerData"] = dbus.MakeVariant(m)
	}
	if len(d.spec.ServiceData) > 0 {
		m := map[string]dbus.Variant{}
		for u, b := range d.spec.ServiceData {
			m[u] = dbus.MakeVariant(append([]byte(nil), b...))
		}
		p["ServiceData"] = dbus.MakeVariant(m)
	}
	return p
}

func (d *SimDevice) uuids() []string {
	var l []string
	for _, s := range d.services {
		l = append(l, s.uuid)
	}
	sort.Strings(l)
	if l == nil {
		l = []string{}
	}
	return l
}

// export creates the device object (InterfacesAdded). s.mu held.
func (d *SimDevice) export() {
	d.exported = true
	d.s.addObject(d.path, map[string]map[string]dbus.Variant{ifaceDevice: d.deviceProps()})
}

// unexport removes the device object (InterfacesRemoved). s.mu held.
func (d *SimDevice) unexport() {
	if !d.exported {
		return
	}
	d.exported = false
	d.s.removeObject(d.path)
}

func (s *Sim) deviceAt(path dbus.ObjectPath) *SimDevice { return s.byPath[path] }

func (s *Sim) connect(_ string, path dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	d := s.deviceAt(path)
	switch {
	case d.connected:
		s.mu.Unlock()
		return nil, bluezError("AlreadyConnected", "Already Connected")
	case d.pending != nil:
		s.mu.Unlock()
		return nil, bluezError("InProgress", "In Progress")
	case !d.present:
		s.mu.Unlock()
		return nil, bluezError("Failed", "Page Timeout")
	case d.spec.Unresponsive:
		pending := make(chan struct{})
		d.pending = pending
		select {
		case <-d.attempted:
		default:
			close(d.attempted)
		}
		s.mu.Unlock()
		select {
		case <-pending:
		case <-s.closed:
		}
		return nil, bluezError("Failed", "le-connection-abort-by-local")
	}
	defer s.mu.Unlock()
	d.connects++
	d.connected = true
	s.setProps(d.path, ifaceDevice, map[string]dbus.Variant{"Connected": dbus.MakeVariant(true)}, false)
	d.exportGATT()
	s.setProps(d.path, ifaceDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(true)}, false)
	return nil, nil
}

func (s *Sim) disconnect(_ string, path dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deviceAt(path)
	switch {
	case d.pending != nil:
		d.disconnects++
		close(d.pending)
		d.pending = nil
	case d.connected:
		d.disconnects++
		d.teardown()
	default:
		return nil, bluezError("NotConnected", "Not Connected")
	}
	return nil, nil
}

// teardown ends the connection: ServicesResolved false, the GATT objects removed, Connected false. s.mu held.
func (d *SimDevice) teardown() {
	if d.pending != nil {
		close(d.pending)
		d.pending = nil
	}
	if !d.connected {
		return
	}
	d.connected = false
	d.s.setProps(d.path, ifaceDevice, map[string]dbus.Variant{"ServicesResolved": dbus.MakeVariant(false)}, false)
	for i := len(d.ordered) - 1; i >= 0; i-- {
		c := d.ordered[i]
		c.sessions = map[string]bool{}
		c.cached = false
		delete(d.s.chars, c.path)
		d.s.removeObject(c.path)
	}
	for i := len(d.services) - 1; i >= 0; i-- {
		d.s.removeObject(d.services[i].path)
	}
	d.s.setProps(d.path, ifaceDevice, map[string]dbus.Variant{"Connected": dbus.MakeVariant(false)}, false)
}

// exportGATT creates the service and characteristic objects. s.mu held.
func (d *SimDevice) exportGATT() {
	for _, sv := range d.services {
		d.s.addObject(sv.path, map[string]map[string]dbus.Variant{ifaceService: {
			"UUID":     dbus.MakeVariant(sv.uuid),
			"Primary":  dbus.MakeVariant(true),
			"Device":   dbus.MakeVariant(d.path),
			"Includes": dbus.MakeVariant([]dbus.ObjectPath{}),
			"Handle":   dbus.MakeVariant(sv.handle),
		}})
		for _, c := range sv.chars {
			d.s.chars[c.path] = c
			d.s.addObject(c.path, map[string]map[string]dbus.Variant{ifaceChar: c.props()})
		}
	}
}

// props are the GattCharacteristic1 properties. s.mu held.
func (c *simChar) props() map[string]dbus.Variant {
	p := map[string]dbus.Variant{
		"UUID":    dbus.MakeVariant(c.uuid),
		"Service": dbus.MakeVariant(c.svc),
		"Flags":   dbus.MakeVariant(append([]string{}, c.flags...)),
		"Handle":  dbus.MakeVariant(c.handle),
		"MTU":     dbus.MakeVariant(uint16(247)),
	}
	if c.cached {
		p["Value"] = dbus.MakeVariant(append([]byte{}, c.value...))
	}
	if c.has("notify") || c.has("indicate") {
		p["Notifying"] = dbus.MakeVariant(len(c.sessions) > 0)
	}
	return p
}
