package modbusproto

import (
	"bytes"
	"errors"
	"testing"
)

// The example of Modbus over Serial Line V1.02 (2.5.2.2): unit F7, read 10 holding registers from 0x1389.
func TestEncodeASCIISpecExample(t *testing.T) {
	got := EncodeASCII(0xF7, PDU{Function: 0x03, Data: []byte{0x13, 0x89, 0x00, 0x0A}})
	if want := ":F7031389000A60\r\n"; string(got) != want {
		t.Fatalf("EncodeASCII = %q, want %q", got, want)
	}
}

func TestDecodeASCII(t *testing.T) {
	unit, p, err := DecodeASCII([]byte(":F7031389000A60\r\n"))
	if err != nil || unit != 0xF7 || p.Function != 3 || !bytes.Equal(p.Data, []byte{0x13, 0x89, 0x00, 0x0A}) {
		t.Fatalf("DecodeASCII = %d %+v %v", unit, p, err)
	}
	// lower-case hex is accepted (the specification asks for upper case; pymodbus decodes either)
	if _, _, err := DecodeASCII([]byte(":f7031389000a60\r\n")); err != nil {
		t.Fatalf("lower-case frame: %v", err)
	}
	bad := []struct {
		frame string
		want  error
	}{
		{":F7031389000A61\r\n", ErrChecksum}, // LRC off by one
		{":F7031389000B60\r\n", ErrChecksum}, // a data byte changed
		{"F7031389000A60\r\n", ErrFrame},     // no ':'
		{":F7031389000A60\n", ErrFrame},      // no CR
		{":F7031389000A60\r", ErrFrame},      // no LF
		{":F7031389000A6\r\n", ErrFrame},     // odd hex length
		{":F70313G9000A60\r\n", ErrFrame},    // not hex
		{":F760\r\n", ErrFrame},              // no function code
		{"", ErrFrame},
	}
	for _, b := range bad {
		if _, _, err := DecodeASCII([]byte(b.frame)); !errors.Is(err, b.want) {
			t.Errorf("DecodeASCII(%q) = %v, want %v", b.frame, err, b.want)
		}
	}
}

// FuzzDecodeASCII: the decoder never panics, accepts only frames whose LRC matches, and what it accepts
// encodes back to the same frame (up to the case of the hex digits).
func FuzzDecodeASCII(f *testing.F) {
	f.Add([]byte(":F7031389000A60\r\n"))
	f.Add([]byte(":010300000002FA\r\n"))
	f.Add([]byte(":0183027A\r\n"))
	f.Add([]byte(":\r\n"))
	f.Add(EncodeASCII(1, PDU{Function: 16, Data: bytes.Repeat([]byte{0xAB}, 252)}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		unit, p, err := DecodeASCII(frame)
		if err != nil {
			if !errors.Is(err, ErrFrame) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v is neither ErrFrame nor ErrChecksum", err)
			}
			return
		}
		again := EncodeASCII(unit, p)
		if !bytes.EqualFold(again, frame) {
			t.Fatalf("decoded %q to unit %d %+v, which encodes to %q", frame, unit, p, again)
		}
		if len(p.Data)+1 > MaxPDUSize {
			t.Fatalf("accepted a PDU of %d bytes", len(p.Data)+1)
		}
	})
}
