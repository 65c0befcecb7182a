package bluezsim

import (
	"bytes"
	"encoding/hex"
	"sort"
	"strings"
)

// baseUUIDSuffix ends every UUID on the Bluetooth base UUID.
const baseUUIDSuffix = "-0000-1000-8000-00805f9b34fb"

// adStruct is one AD structure of an advertisement: type and data.
type adStruct struct {
	typ  byte
	data []byte
}

// adStructs is the device's advertisement as AD structures: complete local name (0x09), complete lists of
// 16-bit (0x03) and 128-bit (0x07) service UUIDs, service data (0x16 for 16-bit, 0x21 for 128-bit UUIDs) and
// manufacturer specific data (0xFF, company id little-endian first). s.mu held.
func (d *SimDevice) adStructs() []adStruct {
	var out []adStruct
	if d.spec.Name != "" {
		out = append(out, adStruct{0x09, []byte(d.spec.Name)})
	}
	var u16, u128 []byte
	for _, u := range d.uuids() {
		if short, ok := shortUUID(u); ok {
			u16 = append(u16, short...)
		} else {
			u128 = append(u128, uuidBytes(u)...)
		}
	}
	if u16 != nil {
		out = append(out, adStruct{0x03, u16})
	}
	if u128 != nil {
		out = append(out, adStruct{0x07, u128})
	}
	var svc []string
	for u := range d.spec.ServiceData {
		svc = append(svc, u)
	}
	sort.Strings(svc)
	for _, u := range svc {
		if short, ok := shortUUID(u); ok {
			out = append(out, adStruct{0x16, append(short, d.spec.ServiceData[u]...)})
		} else {
			out = append(out, adStruct{0x21, append(uuidBytes(u), d.spec.ServiceData[u]...)})
		}
	}
	var ids []int
	for id := range d.spec.ManufacturerData {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		out = append(out, adStruct{0xFF, append([]byte{byte(id), byte(id >> 8)}, d.spec.ManufacturerData[uint16(id)]...)})
	}
	return out
}

// matches applies "or_patterns": some AD structure of the pattern's type holds the content at the offset.
func matches(ads []adStruct, ps []pattern) bool {
	for _, p := range ps {
		for _, a := range ads {
			end := int(p.Offset) + len(p.Content)
			if a.typ == p.ADType && end <= len(a.data) && bytes.Equal(a.data[p.Offset:end], p.Content) {
				return true
			}
		}
	}
	return false
}

// shortUUID returns the little-endian 16-bit form of a UUID on the Bluetooth base.
func shortUUID(u string) ([]byte, bool) {
	if !strings.HasPrefix(u, "0000") || !strings.HasSuffix(u, baseUUIDSuffix) {
		return nil, false
	}
	b, err := hex.DecodeString(u[4:8])
	if err != nil {
		return nil, false
	}
	return []byte{b[1], b[0]}, true
}

// uuidBytes is the 128-bit UUID little-endian, as advertised.
func uuidBytes(u string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(u, "-", ""))
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

func sortDevices(l []*SimDevice) {
	sort.Slice(l, func(i, j int) bool { return l[i].spec.Address < l[j].spec.Address })
}
