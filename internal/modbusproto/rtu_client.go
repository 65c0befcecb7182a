package modbusproto

import "fmt"

// Modbus RTU framing on the client side: a request is the address, the PDU and the CRC-16 (low byte first); the
// length of a response follows from its function code, and for reads from its byte count.

// EncodeRTU returns the RTU frame of a PDU for a unit.
func EncodeRTU(unit byte, p PDU) []byte {
	b := make([]byte, 0, 4+len(p.Data))
	b = append(append(b, unit, p.Function), p.Data...)
	crc := CRC16(b)
	return append(b, byte(crc), byte(crc>>8))
}

// rtuResponseHead is how many bytes of an answer tell its length: address, function code and the first data
// byte (the exception code or a read's byte count).
const rtuResponseHead = 3

// DecodeRTU checks the CRC of a whole RTU frame and splits it into its unit and PDU (the data aliases frame).
func DecodeRTU(frame []byte) (unit byte, p PDU, err error) {
	if len(frame) < 4 || len(frame) > MaxRTUFrame {
		return 0, PDU{}, fmt.Errorf("%w: RTU frame of %d bytes", ErrFrame, len(frame))
	}
	n := len(frame) - 2
	got := uint16(frame[n]) | uint16(frame[n+1])<<8
	if want := CRC16(frame[:n]); got != want {
		return 0, PDU{}, fmt.Errorf("%w: RTU frame % X carries CRC %04X, its bytes give %04X", ErrChecksum, frame, got, want)
	}
	return frame[0], PDU{Function: frame[1], Data: frame[2:n]}, nil
}
