package bluezsim

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// handler routes every incoming method call to Sim.call, so that object lookup, argument checking and error
// names follow bluetoothd rather than the bus library.
type handler struct{ s *Sim }

func (h handler) LookupObject(path dbus.ObjectPath) (dbus.ServerObject, bool) {
	return serverObject{h.s, path}, true
}

type serverObject struct {
	s    *Sim
	path dbus.ObjectPath
}

func (o serverObject) LookupInterface(name string) (dbus.Interface, bool) {
	return serverIface{o.s, o.path, name}, true
}

type serverIface struct {
	s     *Sim
	path  dbus.ObjectPath
	iface string
}

func (i serverIface) LookupMethod(name string) (dbus.Method, bool) {
	return &serverMethod{s: i.s, path: i.path, iface: i.iface, name: name}, true
}

// serverMethod is one incoming call; DecodeArguments keeps the raw body and the sender for Call.
type serverMethod struct {
	s      *Sim
	path   dbus.ObjectPath
	iface  string
	name   string
	sender string
	sig    string
}

func (m *serverMethod) DecodeArguments(_ *dbus.Conn, sender string, msg *dbus.Message, args []any) ([]any, error) {
	m.sender = sender
	if v, ok := msg.Headers[dbus.FieldSignature]; ok {
		if sg, ok := v.Value().(dbus.Signature); ok {
			m.sig = sg.String()
		}
	}
	return args, nil
}

func (m *serverMethod) Call(args ...any) ([]any, error) {
	out, err := m.s.call(m.sender, m.path, m.iface, m.name, m.sig, args)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *serverMethod) NumArguments() int     { return 0 }
func (m *serverMethod) NumReturns() int       { return 0 }
func (m *serverMethod) ArgumentValue(int) any { return nil }
func (m *serverMethod) ReturnValue(int) any   { return nil }

// bluezError is a D-Bus error as bluetoothd sends it: org.bluez.Error.<name> with a message.
func bluezError(name, msg string) *dbus.Error {
	return dbus.NewError("org.bluez.Error."+name, []any{msg})
}

// unknownMethod is libdbus's answer for an object, interface or method bluetoothd does not serve.
func unknownMethod(iface, name, sig string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.UnknownMethod", []any{fmt.Sprintf(
		"Method %q with signature %q on interface %q doesn't exist", name, sig, iface)})
}

func invalidArgs() *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Invalid arguments in method call"})
}

// method describes one served method: its input signature and its implementation.
type method struct {
	in string
	fn func(s *Sim, sender string, path dbus.ObjectPath, args []any) ([]any, error)
}

var methods = map[string]method{
	ifaceProps + ".Get":                    {"ss", (*Sim).propGet},
	ifaceProps + ".GetAll":                 {"s", (*Sim).propGetAll},
	ifaceProps + ".Set":                    {"ssv", (*Sim).propSet},
	ifaceObjManager + ".GetManagedObjects": {"", (*Sim).getManagedObjects},
	ifaceAdapter + ".SetDiscoveryFilter":   {"a{sv}", (*Sim).setDiscoveryFilter},
	ifaceAdapter + ".StartDiscovery":       {"", (*Sim).startDiscovery},
	ifaceAdapter + ".StopDiscovery":        {"", (*Sim).stopDiscovery},
	ifaceAdapter + ".RemoveDevice":         {"o", (*Sim).removeDevice},
	ifaceMonitorMgr + ".RegisterMonitor":   {"o", (*Sim).registerMonitor},
	ifaceMonitorMgr + ".UnregisterMonitor": {"o", (*Sim).unregisterMonitor},
	ifaceDevice + ".Connect":               {"", (*Sim).connect},
	ifaceDevice + ".Disconnect":            {"", (*Sim).disconnect},
	ifaceChar + ".ReadValue":               {"a{sv}", (*Sim).readValue},
	ifaceChar + ".WriteValue":              {"aya{sv}", (*Sim).writeValue},
	ifaceChar + ".StartNotify":             {"", (*Sim).startNotify},
	ifaceChar + ".StopNotify":              {"", (*Sim).stopNotify},
}

// call serves one method call: the object must exist and carry the interface (Properties on every object, the
// ObjectManager at "/"), the signature must match, else the errors libdbus and bluetoothd give.
func (s *Sim) call(sender string, path dbus.ObjectPath, iface, name, sig string, args []any) ([]any, error) {
	m, ok := methods[iface+"."+name]
	s.mu.Lock()
	obj, exists := s.objects[path]
	_, hasIface := obj[iface]
	s.mu.Unlock()
	switch {
	case !ok:
		return nil, unknownMethod(iface, name, sig)
	case iface == ifaceObjManager:
		if path != "/" {
			return nil, unknownMethod(iface, name, sig)
		}
	case iface == ifaceProps:
		if !exists {
			return nil, unknownMethod(iface, name, sig)
		}
	case !hasIface:
		return nil, unknownMethod(iface, name, sig)
	}
	if sig != m.in {
		return nil, invalidArgs()
	}
	return m.fn(s, sender, path, args)
}
