package bluezsim

import (
	"github.com/godbus/dbus/v5"
)

func (s *Sim) powered() bool {
	b, _ := s.objects[s.adapter][ifaceAdapter]["Powered"].Value().(bool)
	return b
}

// setDiscoveryFilter keeps the client's filter; keys and types are checked as bluetoothd does.
func (s *Sim) setDiscoveryFilter(sender string, _ dbus.ObjectPath, args []any) ([]any, error) {
	f := args[0].(map[string]dbus.Variant)
	for k, v := range f {
		ok := true
		switch k {
		case "Transport":
			t, isStr := v.Value().(string)
			ok = isStr && (t == "auto" || t == "bredr" || t == "le")
		case "DuplicateData", "Discoverable":
			_, ok = v.Value().(bool)
		case "RSSI":
			_, ok = v.Value().(int16)
		case "Pathloss":
			_, ok = v.Value().(uint16)
		case "UUIDs":
			_, ok = v.Value().([]string)
		case "Pattern":
			_, ok = v.Value().(string)
		default:
			ok = false
		}
		if !ok {
			return nil, bluezError("InvalidArguments", "Invalid arguments in method call")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.powered() {
		return nil, bluezError("NotReady", "Resource Not Ready")
	}
	if len(f) == 0 {
		delete(s.filters, sender)
	} else {
		s.filters[sender] = f
	}
	return nil, nil
}

func (s *Sim) startDiscovery(sender string, _ dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.powered() {
		return nil, bluezError("NotReady", "Resource Not Ready")
	}
	if s.sessions[sender] {
		return nil, bluezError("InProgress", "Operation already in progress")
	}
	s.sessions[sender] = true
	s.discoveryChanged()
	return nil, nil
}

func (s *Sim) stopDiscovery(sender string, _ dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.powered() {
		return nil, bluezError("NotReady", "Resource Not Ready")
	}
	if !s.sessions[sender] {
		return nil, bluezError("Failed", "No discovery started")
	}
	delete(s.sessions, sender)
	delete(s.filters, sender)
	s.discoveryChanged()
	return nil, nil
}

// discoveryChanged updates Discovering and, while discovering, makes every device in range visible. s.mu held.
func (s *Sim) discoveryChanged() {
	on := len(s.sessions) > 0
	close(s.discoveryWake)
	s.discoveryWake = make(chan struct{})
	s.setProps(s.adapter, ifaceAdapter, map[string]dbus.Variant{"Discovering": dbus.MakeVariant(on)}, false)
	if !on {
		return
	}
	for _, d := range s.sortedDevices() {
		if d.present && !d.exported {
			d.export()
		}
	}
}

// duplicateData reports whether a discovering client asked for every advertisement (DuplicateData). s.mu held.
func (s *Sim) duplicateData() bool {
	for sender := range s.sessions {
		if b, _ := s.filters[sender]["DuplicateData"].Value().(bool); b {
			return true
		}
	}
	return false
}

// removeDevice forgets a device that is not connected (a connected one is disconnected first, as bluetoothd does).
func (s *Sim) removeDevice(_ string, _ dbus.ObjectPath, args []any) ([]any, error) {
	p := args[0].(dbus.ObjectPath)
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.byPath[p]
	if !ok || !d.exported {
		return nil, bluezError("DoesNotExist", "Does Not Exist")
	}
	d.teardown()
	d.unexport()
	return nil, nil
}
