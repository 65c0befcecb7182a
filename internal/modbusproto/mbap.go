package modbusproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MBAPHeaderLen is the size of the Modbus Application Protocol header that prefixes a PDU over TCP, TLS and
// UDP: transaction id, protocol id (0), length (unit id plus PDU) and unit id.
const MBAPHeaderLen = 7

// MaxMBAPFrame is the largest MBAP frame: the header and the largest PDU.
const MaxMBAPFrame = MBAPHeaderLen + MaxPDUSize

// ErrFrameLength says an MBAP header announces a length no Modbus frame has: the stream cannot be resynchronised.
var ErrFrameLength = errors.New("modbus: MBAP length out of range")

// ErrProtocolID says an MBAP frame carries a protocol id other than 0 (Modbus): it is not a Modbus frame.
var ErrProtocolID = errors.New("modbus: MBAP protocol id is not 0")

// MBAPFrame is one decoded MBAP frame.
type MBAPFrame struct {
	Transaction uint16
	Unit        uint8
	PDU         PDU
}

// mbapLength checks a header and returns the frame's total size.
func mbapLength(h []byte) (int, error) {
	n := int(binary.BigEndian.Uint16(h[4:]))
	if n < 2 || n > 1+MaxPDUSize {
		return 0, fmt.Errorf("%w: %d", ErrFrameLength, n)
	}
	return 6 + n, nil
}

// ParseMBAP decodes one MBAP frame that fills b exactly (a UDP datagram). The PDU aliases b. A frame with a
// protocol id other than 0 fails with ErrProtocolID.
func ParseMBAP(b []byte) (MBAPFrame, error) {
	if len(b) < MBAPHeaderLen+1 {
		return MBAPFrame{}, fmt.Errorf("modbus: MBAP frame of %d bytes is too short", len(b))
	}
	size, err := mbapLength(b)
	if err != nil {
		return MBAPFrame{}, err
	}
	if size != len(b) {
		return MBAPFrame{}, fmt.Errorf("%w: header says %d bytes, frame has %d", ErrFrameLength, size, len(b))
	}
	if binary.BigEndian.Uint16(b[2:]) != 0 {
		return MBAPFrame{}, ErrProtocolID
	}
	return MBAPFrame{Transaction: binary.BigEndian.Uint16(b), Unit: b[6], PDU: PDU{Function: b[7], Data: b[8:]}}, nil
}

// ReadMBAP reads one MBAP frame from a stream into buf (at least MaxMBAPFrame bytes) and decodes it; the PDU
// aliases buf. On ErrProtocolID the frame has been read whole and the stream stays usable; on ErrFrameLength or
// a read error it does not.
func ReadMBAP(r io.Reader, buf []byte) (MBAPFrame, error) {
	if _, err := io.ReadFull(r, buf[:MBAPHeaderLen]); err != nil {
		return MBAPFrame{}, err
	}
	size, err := mbapLength(buf)
	if err != nil {
		return MBAPFrame{}, err
	}
	if _, err := io.ReadFull(r, buf[MBAPHeaderLen:size]); err != nil {
		return MBAPFrame{}, fmt.Errorf("modbus: MBAP frame cut short: %w", err)
	}
	return ParseMBAP(buf[:size])
}

// AppendMBAP appends the MBAP frame of a PDU to dst.
func AppendMBAP(dst []byte, transaction uint16, unit uint8, p PDU) []byte {
	dst = binary.BigEndian.AppendUint16(dst, transaction)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(2+len(p.Data)))
	dst = append(dst, unit, p.Function)
	return append(dst, p.Data...)
}
