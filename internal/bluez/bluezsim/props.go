package bluezsim

import (
	"github.com/godbus/dbus/v5"
)

func (s *Sim) propGet(_ string, path dbus.ObjectPath, args []any) ([]any, error) {
	iface, name := args[0].(string), args[1].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	props, ok := s.objects[path][iface]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"No such interface '" + iface + "'"})
	}
	v, ok := props[name]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"No such property '" + name + "'"})
	}
	return []any{v}, nil
}

func (s *Sim) propGetAll(_ string, path dbus.ObjectPath, args []any) ([]any, error) {
	iface := args[0].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	props, ok := s.objects[path][iface]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"No such interface '" + iface + "'"})
	}
	out := make(map[string]dbus.Variant, len(props))
	for k, v := range props {
		out[k] = v
	}
	return []any{out}, nil
}

// propSet allows what bluetoothd allows a client to set here: the adapter's Powered and a device's Trusted.
func (s *Sim) propSet(_ string, path dbus.ObjectPath, args []any) ([]any, error) {
	iface, name, v := args[0].(string), args[1].(string), args[2].(dbus.Variant)
	s.mu.Lock()
	defer s.mu.Unlock()
	props, ok := s.objects[path][iface]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"No such interface '" + iface + "'"})
	}
	if _, ok := props[name]; !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"No such property '" + name + "'"})
	}
	writable := iface == ifaceAdapter && name == "Powered" || iface == ifaceDevice && name == "Trusted"
	if !writable {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"Property '" + name + "' is not writable"})
	}
	if _, ok := v.Value().(bool); !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Invalid arguments in method call"})
	}
	s.setProps(path, iface, map[string]dbus.Variant{name: v}, false)
	return nil, nil
}

func (s *Sim) getManagedObjects(string, dbus.ObjectPath, []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[dbus.ObjectPath]map[string]map[string]dbus.Variant, len(s.objects))
	for p, ifs := range s.objects {
		c := make(map[string]map[string]dbus.Variant, len(ifs))
		for n, props := range ifs {
			pc := make(map[string]dbus.Variant, len(props))
			for k, v := range props {
				pc[k] = v
			}
			c[n] = pc
		}
		out[p] = c
	}
	return []any{out}, nil
}
