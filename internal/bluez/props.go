package bluez

import (
	"strings"

	"github.com/godbus/dbus/v5"
)

// devState is what a scan knows of one device: its Device1 properties merged from GetManagedObjects,
// InterfacesAdded and PropertiesChanged.
type devState struct {
	props map[string]dbus.Variant
}

// merge applies changed properties and forgets invalidated ones.
func (s *devState) merge(changed map[string]dbus.Variant, invalidated []string) {
	if s.props == nil {
		s.props = map[string]dbus.Variant{}
	}
	for k, v := range changed {
		s.props[k] = v
	}
	for _, k := range invalidated {
		delete(s.props, k)
	}
}

// advertisement builds the Advertisement of a device from its Device1 properties; maps and slices are copies.
func advertisement(props map[string]dbus.Variant) Advertisement {
	var ad Advertisement
	ad.Address, _ = props["Address"].Value().(string)
	ad.Address = strings.ToUpper(ad.Address)
	if s, ok := props["Alias"].Value().(string); ok && s != "" {
		ad.Name = s
	} else {
		ad.Name, _ = props["Name"].Value().(string)
	}
	ad.RSSI, _ = props["RSSI"].Value().(int16)
	if m, ok := props["ManufacturerData"].Value().(map[uint16]dbus.Variant); ok {
		ad.ManufacturerData = make(map[uint16][]byte, len(m))
		for id, v := range m {
			if b, ok := v.Value().([]byte); ok {
				ad.ManufacturerData[id] = append([]byte(nil), b...)
			}
		}
	}
	if m, ok := props["ServiceData"].Value().(map[string]dbus.Variant); ok {
		ad.ServiceData = make(map[string][]byte, len(m))
		for id, v := range m {
			if b, ok := v.Value().([]byte); ok {
				if u, err := ParseUUID(id); err == nil {
					id = u
				}
				ad.ServiceData[id] = append([]byte(nil), b...)
			}
		}
	}
	if l, ok := props["UUIDs"].Value().([]string); ok {
		for _, u := range l {
			if p, err := ParseUUID(u); err == nil {
				u = p
			}
			ad.ServiceUUIDs = append(ad.ServiceUUIDs, u)
		}
	}
	return ad
}

// advertised reports whether a change of these properties is a new advertisement worth reporting.
func advertised(changed map[string]dbus.Variant) bool {
	for _, k := range []string{"RSSI", "ManufacturerData", "ServiceData", "Name", "Alias", "UUIDs"} {
		if _, ok := changed[k]; ok {
			return true
		}
	}
	return false
}

// propertiesChanged decodes a PropertiesChanged signal: interface, changed and invalidated properties.
func propertiesChanged(sig *dbus.Signal) (iface string, changed map[string]dbus.Variant, invalidated []string, ok bool) {
	if sig.Name != ifaceProps+".PropertiesChanged" || len(sig.Body) < 2 {
		return "", nil, nil, false
	}
	iface, ok1 := sig.Body[0].(string)
	changed, ok2 := sig.Body[1].(map[string]dbus.Variant)
	if len(sig.Body) > 2 {
		invalidated, _ = sig.Body[2].([]string)
	}
	return iface, changed, invalidated, ok1 && ok2
}

// interfacesAdded decodes an InterfacesAdded signal (the object path was already taken for routing).
func interfacesAdded(sig *dbus.Signal) (map[string]map[string]dbus.Variant, bool) {
	if sig.Name != ifaceObjManager+".InterfacesAdded" || len(sig.Body) < 2 {
		return nil, false
	}
	ifs, ok := sig.Body[1].(map[string]map[string]dbus.Variant)
	return ifs, ok
}

// interfacesRemoved decodes an InterfacesRemoved signal.
func interfacesRemoved(sig *dbus.Signal) ([]string, bool) {
	if sig.Name != ifaceObjManager+".InterfacesRemoved" || len(sig.Body) < 2 {
		return nil, false
	}
	ifs, ok := sig.Body[1].([]string)
	return ifs, ok
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// pathMAC reads the address from a device object path ".../dev_AA_BB_CC_DD_EE_FF".
func pathMAC(path dbus.ObjectPath) (string, bool) {
	s := string(path)
	i := strings.LastIndex(s, "/dev_")
	if i < 0 {
		return "", false
	}
	mac, err := ParseMAC(strings.ReplaceAll(s[i+len("/dev_"):], "_", ":"))
	return mac, err == nil
}
