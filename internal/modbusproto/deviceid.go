package modbusproto

import (
	"fmt"
	"slices"
)

// Object ids of Read Device Identification (function 43, MEI type 14). 0x00-0x02 are the basic category,
// 0x03-0x06 the regular one, 0x80-0xFF the extended one (private objects); 0x07-0x7F are reserved.
const (
	ObjVendorName          byte = 0x00
	ObjProductCode         byte = 0x01
	ObjMajorMinorRevision  byte = 0x02
	ObjVendorURL           byte = 0x03
	ObjProductName         byte = 0x04
	ObjModelName           byte = 0x05
	ObjUserApplicationName byte = 0x06
)

// Read Device ID codes of a request: three stream accesses (a category from an object on) and one individual
// access.
const (
	ReadDeviceIDBasic    byte = 0x01
	ReadDeviceIDRegular  byte = 0x02
	ReadDeviceIDExtended byte = 0x03
	ReadDeviceIDSpecific byte = 0x04
)

// MaxDeviceIDObjectLen is the longest object value: one object must fit in a response PDU beside the
// response's 7 header bytes and its own id and length bytes.
const MaxDeviceIDObjectLen = MaxPDUSize - 7 - 2

// deviceIDHeaderLen is the response's function code, MEI type, read code, conformity level, more follows,
// next object id and number of objects.
const deviceIDHeaderLen = 7

// DeviceID is the identification a server answers Read Device Identification with: a value per object id.
// Objects with an empty value are left out of every answer. It is immutable once made.
type DeviceID struct {
	ids    []byte // the objects present, ascending
	values [256]string
}

// NewDeviceID returns the identification holding objects (id to value). It fails on a reserved id
// (0x07-0x7F) or a value longer than MaxDeviceIDObjectLen bytes.
func NewDeviceID(objects map[byte]string) (*DeviceID, error) {
	d := &DeviceID{}
	for id, v := range objects {
		if id > ObjUserApplicationName && id < 0x80 {
			return nil, fmt.Errorf("modbus: device identification object 0x%02X is reserved", id)
		}
		if len(v) > MaxDeviceIDObjectLen {
			return nil, fmt.Errorf("modbus: device identification object 0x%02X holds %d bytes, at most %d fit in a response",
				id, len(v), MaxDeviceIDObjectLen)
		}
		if v != "" {
			d.values[id] = v
			d.ids = append(d.ids, id)
		}
	}
	slices.Sort(d.ids)
	return d, nil
}

// Value returns an object's value ("" when absent).
func (d *DeviceID) Value(id byte) string { return d.values[id] }

// conformity is the conformity level answered: the highest category held (at least basic), with individual
// access (0x80) always offered.
func (d *DeviceID) conformity() byte {
	level := ReadDeviceIDBasic
	for _, id := range d.ids {
		switch {
		case id >= 0x80:
			level = ReadDeviceIDExtended
		case id > ObjMajorMinorRevision && level < ReadDeviceIDRegular:
			level = ReadDeviceIDRegular
		}
	}
	return 0x80 | level
}

// inCategory says whether object id belongs to what a stream access with read code code lists.
func inCategory(code, id byte) bool {
	switch code {
	case ReadDeviceIDBasic:
		return id <= ObjMajorMinorRevision
	case ReadDeviceIDRegular:
		return id <= ObjUserApplicationName
	}
	return id <= ObjUserApplicationName || id >= 0x80
}

// Respond answers the data of a function 43 request (the bytes after the function code): a Read Device
// Identification response, or the exception the protocol prescribes: illegal function for another MEI type,
// illegal data value for a malformed request or an unknown read code, illegal data address for an individual
// access to an object that is absent. A stream access starting at an object that is absent from its category
// starts at the category's first object; when the objects do not fit in one response, "more follows" is 0xFF
// and the next object id names where the next request starts.
func (d *DeviceID) Respond(data []byte) PDU {
	if len(data) == 0 || data[0] != MEIReadDeviceID {
		return ExceptionPDU(FuncEncapsulatedInterface, IllegalFunction)
	}
	if len(data) != 3 {
		return ExceptionPDU(FuncEncapsulatedInterface, IllegalDataValue)
	}
	code, start := data[1], data[2]
	out := make([]byte, 0, MaxPDUSize-1)
	out = append(out, MEIReadDeviceID, code, d.conformity(), 0x00, 0x00, 0)
	switch code {
	case ReadDeviceIDSpecific:
		v := d.values[start]
		if v == "" {
			return ExceptionPDU(FuncEncapsulatedInterface, IllegalDataAddress)
		}
		out = append(append(out, start, byte(len(v))), v...)
		out[5] = 1
	case ReadDeviceIDBasic, ReadDeviceIDRegular, ReadDeviceIDExtended:
		ids := slices.DeleteFunc(slices.Clone(d.ids), func(id byte) bool { return !inCategory(code, id) })
		from := slices.Index(ids, start)
		if from < 0 {
			from = 0
		}
		room := MaxPDUSize - deviceIDHeaderLen
		for _, id := range ids[from:] {
			v := d.values[id]
			if 2+len(v) > room {
				out[3], out[4] = 0xFF, id
				break
			}
			room -= 2 + len(v)
			out = append(append(out, id, byte(len(v))), v...)
			out[5]++
		}
	default:
		return ExceptionPDU(FuncEncapsulatedInterface, IllegalDataValue)
	}
	return PDU{Function: FuncEncapsulatedInterface, Data: out}
}
