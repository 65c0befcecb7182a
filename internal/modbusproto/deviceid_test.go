package modbusproto

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type idObject struct {
	id    byte
	value string
}

// parseDeviceIDResponse decodes a Read Device Identification response PDU (as a master would).
func parseDeviceIDResponse(p PDU) (more bool, next byte, objs []idObject, err error) {
	if err := p.Err(); err != nil {
		return false, 0, nil, err
	}
	d := p.Data
	if p.Function != FuncEncapsulatedInterface || len(d) < 6 || d[0] != MEIReadDeviceID {
		return false, 0, nil, fmt.Errorf("not a device identification response: % X", p.Bytes())
	}
	more, next, n := d[3] == 0xFF, d[4], int(d[5])
	rest := d[6:]
	for range n {
		if len(rest) < 2 || len(rest) < 2+int(rest[1]) {
			return false, 0, nil, fmt.Errorf("object list cut short: % X", p.Bytes())
		}
		objs = append(objs, idObject{rest[0], string(rest[2 : 2+int(rest[1])])})
		rest = rest[2+int(rest[1]):]
	}
	if len(rest) != 0 {
		return false, 0, nil, fmt.Errorf("%d bytes after the objects", len(rest))
	}
	return more, next, objs, nil
}

func readID(d *DeviceID, code, obj byte) PDU { return d.Respond([]byte{MEIReadDeviceID, code, obj}) }

var sampleIdentity = map[byte]string{
	ObjVendorName: "ThingsBoard", ObjProductCode: "TBGW", ObjMajorMinorRevision: "1.2",
	ObjVendorURL: "https://thingsboard.io", ObjProductName: "Gateway", ObjModelName: "Go",
}

// TestDeviceIDStreams reads each category from object 0: basic lists objects 0-2, regular 0-5, extended the
// same plus the private objects, each in ascending object id order with its value; a start object absent from
// the category restarts at its first object.
func TestDeviceIDStreams(t *testing.T) {
	objs := map[byte]string{0x81: "private"}
	for k, v := range sampleIdentity {
		objs[k] = v
	}
	d, err := NewDeviceID(objs)
	if err != nil {
		t.Fatal(err)
	}
	want := func(ids ...byte) []idObject {
		var out []idObject
		for _, id := range ids {
			out = append(out, idObject{id, objs[id]})
		}
		return out
	}
	cases := []struct {
		code, start byte
		want        []idObject
	}{
		{ReadDeviceIDBasic, 0, want(0, 1, 2)},
		{ReadDeviceIDBasic, 1, want(1, 2)},
		{ReadDeviceIDBasic, 4, want(0, 1, 2)}, // not in the basic category: from its start
		{ReadDeviceIDRegular, 0, want(0, 1, 2, 3, 4, 5)},
		{ReadDeviceIDRegular, 6, want(0, 1, 2, 3, 4, 5)}, // absent: from the start
		{ReadDeviceIDExtended, 0, want(0, 1, 2, 3, 4, 5, 0x81)},
		{ReadDeviceIDExtended, 0x81, want(0x81)},
		{ReadDeviceIDSpecific, 4, want(4)},
	}
	for _, c := range cases {
		resp := readID(d, c.code, c.start)
		more, _, got, err := parseDeviceIDResponse(resp)
		if err != nil || more || !slices.Equal(got, c.want) {
			t.Errorf("code %d from 0x%02X: %v more=%v (%v), want %v", c.code, c.start, got, more, err, c.want)
		}
		if resp.Data[1] != c.code || resp.Data[2] != 0x83 {
			t.Errorf("code %d: read code %d, conformity 0x%02X; want the request's code and 0x83", c.code, resp.Data[1], resp.Data[2])
		}
	}
}

// TestDeviceIDExceptions: an individual access to an absent object is illegal data address; an unknown read
// code or a short request is illegal data value; another MEI type is illegal function.
func TestDeviceIDExceptions(t *testing.T) {
	d, _ := NewDeviceID(sampleIdentity)
	cases := []struct {
		data []byte
		want ExceptionCode
	}{
		{[]byte{MEIReadDeviceID, ReadDeviceIDSpecific, ObjUserApplicationName}, IllegalDataAddress},
		{[]byte{MEIReadDeviceID, 5, 0}, IllegalDataValue},
		{[]byte{MEIReadDeviceID, 0, 0}, IllegalDataValue},
		{[]byte{MEIReadDeviceID, 1}, IllegalDataValue},
		{[]byte{0x0D, 1, 0}, IllegalFunction},
		{nil, IllegalFunction},
	}
	for _, c := range cases {
		p := d.Respond(c.data)
		if !bytes.Equal(p.Bytes(), ExceptionPDU(FuncEncapsulatedInterface, c.want).Bytes()) {
			t.Errorf("% X: answered % X, want exception %v", c.data, p.Bytes(), c.want)
		}
	}
}

// TestDeviceIDMoreFollows: extended objects too long for one response are read in several: each response
// says "more follows" and the next object id until the last, and together they list every object once, in
// order.
func TestDeviceIDMoreFollows(t *testing.T) {
	objs := map[byte]string{ObjVendorName: "v", ObjProductCode: "p", ObjMajorMinorRevision: "r"}
	var want []idObject
	for _, id := range []byte{0, 1, 2} {
		want = append(want, idObject{id, objs[id]})
	}
	for i := range 6 {
		id := byte(0x80 + i)
		objs[id] = strings.Repeat(string(rune('a'+i)), 100)
		want = append(want, idObject{id, objs[id]})
	}
	d, err := NewDeviceID(objs)
	if err != nil {
		t.Fatal(err)
	}
	var got []idObject
	start, responses := byte(0), 0
	for {
		resp := readID(d, ReadDeviceIDExtended, start)
		if len(resp.Bytes()) > MaxPDUSize {
			t.Fatalf("response of %d bytes", len(resp.Bytes()))
		}
		more, next, objs, err := parseDeviceIDResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, responses = append(got, objs...), responses+1
		if !more {
			break
		}
		if len(objs) == 0 || responses > 10 {
			t.Fatalf("no progress from 0x%02X", start)
		}
		start = next
	}
	if !slices.Equal(got, want) || responses != 3 {
		t.Errorf("%d responses listed %v, want 3 listing %v", responses, got, want)
	}
}

// TestNewDeviceIDRefuses reserved object ids and values too long for a response.
func TestNewDeviceIDRefuses(t *testing.T) {
	if _, err := NewDeviceID(map[byte]string{0x07: "x"}); err == nil {
		t.Error("object 0x07 accepted")
	}
	if _, err := NewDeviceID(map[byte]string{0x80: strings.Repeat("x", MaxDeviceIDObjectLen+1)}); err == nil {
		t.Error("a value longer than a response accepted")
	}
	if _, err := NewDeviceID(map[byte]string{0x80: strings.Repeat("x", MaxDeviceIDObjectLen)}); err != nil {
		t.Errorf("a value of %d bytes: %v", MaxDeviceIDObjectLen, err)
	}
}

// FuzzDeviceIDRespond: any request data gets an exception or a well-formed response that fits in a PDU.
func FuzzDeviceIDRespond(f *testing.F) {
	f.Add([]byte{MEIReadDeviceID, 1, 0})
	f.Add([]byte{MEIReadDeviceID, 3, 0x80})
	f.Add([]byte{MEIReadDeviceID, 4, 2})
	objs := map[byte]string{0x80: strings.Repeat("x", MaxDeviceIDObjectLen), 0x90: strings.Repeat("y", 100)}
	for k, v := range sampleIdentity {
		objs[k] = v
	}
	d, err := NewDeviceID(objs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := d.Respond(data)
		if len(p.Bytes()) > MaxPDUSize {
			t.Fatalf("response of %d bytes", len(p.Bytes()))
		}
		if p.IsException() {
			return
		}
		if _, _, _, err := parseDeviceIDResponse(p); err != nil {
			t.Fatal(err)
		}
	})
}
