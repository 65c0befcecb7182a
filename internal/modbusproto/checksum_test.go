package modbusproto

import "testing"

// Reference frames: the Modbus over Serial Line specification's (V1.02) read of 3 holding registers at 0x6B, and the
// well-known "01 03 00 00 00 0A" request, whose CRC is C5 CD on the wire.
func TestCRC16KnownFrames(t *testing.T) {
	cases := []struct {
		frame  []byte
		lo, hi byte
	}{
		{[]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}, 0xC5, 0xCD},
		{[]byte{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03}, 0x76, 0x87},
	}
	for _, c := range cases {
		crc := CRC16(c.frame)
		if byte(crc) != c.lo || byte(crc>>8) != c.hi {
			t.Errorf("CRC16(% X) = %02X %02X on the wire, want %02X %02X", c.frame, byte(crc), byte(crc>>8), c.lo, c.hi)
		}
	}
}

// The ASCII example of the specification: ":F7031389000A60" + CRLF carries LRC 0x60.
func TestLRCKnownFrame(t *testing.T) {
	if got := LRC([]byte{0xF7, 0x03, 0x13, 0x89, 0x00, 0x0A}); got != 0x60 {
		t.Errorf("LRC = %02X, want 60", got)
	}
}

func TestExceptionPDU(t *testing.T) {
	p := ExceptionPDU(FuncReadHoldingRegisters, IllegalDataAddress)
	if !p.IsException() || p.Bytes()[0] != 0x83 || p.Bytes()[1] != 0x02 {
		t.Fatalf("exception PDU = % X", p.Bytes())
	}
	err := p.Err()
	if err == nil || err.Error() != "modbus exception to function 0x03: illegal data address" {
		t.Fatalf("Err() = %v", err)
	}
	if (PDU{Function: 3, Data: []byte{2, 0, 1}}).Err() != nil {
		t.Fatal("normal response reported as exception")
	}
	if _, err := ParsePDU(nil); err == nil {
		t.Fatal("empty PDU parsed")
	}
}
