package bluezsim

import (
	"github.com/godbus/dbus/v5"
)

// readValue answers the characteristic's value; like bluetoothd it then caches it in Value (PropertiesChanged
// when it differs from the cached one).
func (s *Sim) readValue(_ string, path dbus.ObjectPath, args []any) ([]any, error) {
	opts := args[0].(map[string]dbus.Variant)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chars[path]
	offset, err := offsetOption(opts)
	if err != nil {
		return nil, err
	}
	if !c.has("read") {
		return nil, bluezError("NotPermitted", "Read not permitted")
	}
	if c.failRead != "" {
		return nil, dbus.NewError(c.failRead, []any{"Operation failed with ATT error: 0x0e"})
	}
	if int(offset) > len(c.value) {
		return nil, bluezError("InvalidOffset", "Invalid offset")
	}
	v := append([]byte{}, c.value[offset:]...)
	c.cache(c.value)
	return []any{v}, nil
}

// cache sets the Value property as bluetoothd does after a read or a notification. s.mu held.
func (c *simChar) cache(v []byte) {
	c.cached = true
	c.d.s.setProps(c.path, ifaceChar, map[string]dbus.Variant{"Value": dbus.MakeVariant(append([]byte{}, v...))}, false)
}

func offsetOption(opts map[string]dbus.Variant) (uint16, error) {
	var offset uint16
	for k, v := range opts {
		switch k {
		case "offset":
			o, ok := v.Value().(uint16)
			if !ok {
				return 0, bluezError("InvalidArguments", "Invalid arguments in method call")
			}
			offset = o
		case "type":
			if _, ok := v.Value().(string); !ok {
				return 0, bluezError("InvalidArguments", "Invalid arguments in method call")
			}
		}
	}
	return offset, nil
}

// writeValue follows bluetoothd's choice of procedure: type "request" sends a write request (the device answers
// Write Not Permitted without the "write" flag), "command" a write command (a device without
// "write-without-response" silently ignores it), no type picks request, else command, else NotSupported.
func (s *Sim) writeValue(_ string, path dbus.ObjectPath, args []any) ([]any, error) {
	value, opts := args[0].([]byte), args[1].(map[string]dbus.Variant)
	if _, err := offsetOption(opts); err != nil {
		return nil, err
	}
	typ, _ := opts["type"].Value().(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chars[path]
	switch typ {
	case "":
		switch {
		case c.has("write"):
			typ = "request"
		case c.has("write-without-response"):
			typ = "command"
		default:
			return nil, bluezError("NotSupported", "Operation is not supported")
		}
	case "request", "command":
	case "reliable":
		return nil, bluezError("NotSupported", "Operation is not supported")
	default:
		return nil, bluezError("InvalidArguments", "Invalid arguments in method call")
	}
	if typ == "request" && !c.has("write") {
		return nil, bluezError("NotPermitted", "Write not permitted")
	}
	if typ == "command" && !c.has("write-without-response") {
		return nil, nil
	}
	c.writes = append(c.writes, Write{Value: append([]byte(nil), value...), Type: typ})
	c.value = append([]byte(nil), value...)
	return nil, nil
}

// startNotify opens the sender's notify session; a second StartNotify of the same client succeeds (bluetoothd
// keeps one session per client).
func (s *Sim) startNotify(sender string, path dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chars[path]
	if !c.has("notify") && !c.has("indicate") {
		return nil, bluezError("NotSupported", "Operation is not supported")
	}
	if c.sessions[sender] {
		return nil, nil
	}
	c.sessions[sender] = true
	c.updateNotifying()
	return nil, nil
}

func (s *Sim) stopNotify(sender string, path dbus.ObjectPath, _ []any) ([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chars[path]
	if !c.sessions[sender] {
		return nil, bluezError("Failed", "No notify session started")
	}
	delete(c.sessions, sender)
	c.updateNotifying()
	return nil, nil
}

// updateNotifying sets Notifying to whether any client has a session. s.mu held.
func (c *simChar) updateNotifying() {
	c.d.s.setProps(c.path, ifaceChar, map[string]dbus.Variant{"Notifying": dbus.MakeVariant(len(c.sessions) > 0)}, false)
}
