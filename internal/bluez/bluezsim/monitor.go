package bluezsim

import (
	"context"
	"time"

	"github.com/godbus/dbus/v5"
)

// monitorKey names a client's object: a registered monitor root or one monitor under it.
type monitorKey struct {
	sender string
	path   dbus.ObjectPath
}

// monitorApp is a registered hierarchy of advertisement monitors.
type monitorApp struct {
	active []simMonitor // monitors BlueZ activated
}

type simMonitor struct {
	key      monitorKey
	patterns []pattern
}

type pattern struct {
	Offset  byte
	ADType  byte
	Content []byte
}

// monitorCallTimeout bounds the stand-in's calls to a client's monitor objects.
const monitorCallTimeout = 10 * time.Second

// registerMonitor records the root and, like bluetoothd, then reads the client's monitors (GetManagedObjects on
// the root), activates the valid ones ("or_patterns" with at least one pattern), releases the others, and reports
// the matching devices in range.
func (s *Sim) registerMonitor(sender string, _ dbus.ObjectPath, args []any) ([]any, error) {
	root := args[0].(dbus.ObjectPath)
	key := monitorKey{sender, root}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.monitors[key]; dup {
		return nil, bluezError("AlreadyExists", "Already Exists")
	}
	s.monitors[key] = &monitorApp{}
	s.wg.Add(1)
	go s.activate(key)
	return nil, nil
}

func (s *Sim) activate(key monitorKey) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), monitorCallTimeout)
	defer cancel() // Close of the Sim ends the call too (the connection closes)
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	err := s.conn.Object(key.sender, key.path).CallWithContext(ctx, ifaceObjManager+".GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.monitors[key]
	if !ok {
		return // unregistered meanwhile
	}
	for path, ifs := range objs {
		props, ok := ifs[ifaceMonitor]
		if !ok {
			continue
		}
		m := simMonitor{key: monitorKey{key.sender, path}}
		typ, _ := props["Type"].Value().(string)
		var ps []pattern
		if v, ok := props["Patterns"]; ok {
			if err := v.Store(&ps); err != nil {
				ps = nil
			}
		}
		if typ != "or_patterns" || len(ps) == 0 {
			s.conn.Object(key.sender, path).Call(ifaceMonitor+".Release", dbus.FlagNoReplyExpected)
			continue
		}
		m.patterns = ps
		app.active = append(app.active, m)
		s.conn.Object(key.sender, path).Call(ifaceMonitor+".Activate", dbus.FlagNoReplyExpected)
	}
	for _, d := range s.sortedDevices() {
		s.matchMonitors(d)
	}
}

func (s *Sim) unregisterMonitor(sender string, _ dbus.ObjectPath, args []any) ([]any, error) {
	root := args[0].(dbus.ObjectPath)
	key := monitorKey{sender, root}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.monitors[key]
	if !ok {
		return nil, bluezError("DoesNotExist", "Does Not Exist")
	}
	delete(s.monitors, key)
	for _, m := range app.active {
		for _, d := range s.devices {
			delete(d.foundBy, m.key)
		}
		s.conn.Object(sender, m.key.path).Call(ifaceMonitor+".Release", dbus.FlagNoReplyExpected)
	}
	return nil, nil
}

// matchMonitors reports a device in range to every active monitor whose patterns match and that has not found
// it yet; the device object is created first. s.mu held.
func (s *Sim) matchMonitors(d *SimDevice) {
	if !d.present {
		return
	}
	var ads []adStruct
	for _, app := range s.monitors {
		for _, m := range app.active {
			if d.foundBy[m.key] {
				continue
			}
			if ads == nil {
				ads = d.adStructs()
			}
			if !matches(ads, m.patterns) {
				continue
			}
			if !d.exported {
				d.export()
			}
			d.foundBy[m.key] = true
			s.conn.Object(m.key.sender, m.key.path).Call(ifaceMonitor+".DeviceFound", dbus.FlagNoReplyExpected, d.path)
		}
	}
}

// loseMonitors tells the monitors that found the device that it is gone. s.mu held.
func (s *Sim) loseMonitors(d *SimDevice) {
	for k := range d.foundBy {
		s.conn.Object(k.sender, k.path).Call(ifaceMonitor+".DeviceLost", dbus.FlagNoReplyExpected, d.path)
		delete(d.foundBy, k)
	}
}

// sortedDevices lists the devices in address order (deterministic signal order). s.mu held.
func (s *Sim) sortedDevices() []*SimDevice {
	out := make([]*SimDevice, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d)
	}
	sortDevices(out)
	return out
}
