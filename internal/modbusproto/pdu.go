package modbusproto

import "fmt"

// Function codes the connector uses.
const (
	FuncReadCoils              byte = 0x01
	FuncReadDiscreteInputs     byte = 0x02
	FuncReadHoldingRegisters   byte = 0x03
	FuncReadInputRegisters     byte = 0x04
	FuncWriteSingleCoil        byte = 0x05
	FuncWriteSingleRegister    byte = 0x06
	FuncWriteMultipleCoils     byte = 0x0F
	FuncWriteMultipleRegisters byte = 0x10
	// FuncEncapsulatedInterface carries MEI types; MEIReadDeviceID (0x0E) is Read Device Identification.
	FuncEncapsulatedInterface byte = 0x2B
	MEIReadDeviceID           byte = 0x0E
)

// MaxPDUSize is the largest protocol data unit the protocol allows: function code plus 252 bytes of data.
const MaxPDUSize = 253

// PDU is a Modbus protocol data unit: a function code and the bytes after it. An exception response has the
// function code's high bit set and one data byte, the exception code.
type PDU struct {
	Function byte
	Data     []byte
}

// Bytes returns the PDU as sent on the wire: the function code followed by the data.
func (p PDU) Bytes() []byte {
	b := make([]byte, 0, 1+len(p.Data))
	return append(append(b, p.Function), p.Data...)
}

// ParsePDU splits wire bytes into a PDU; it fails on an empty or oversized input. The data aliases b.
func ParsePDU(b []byte) (PDU, error) {
	if len(b) == 0 {
		return PDU{}, fmt.Errorf("modbus: empty PDU")
	}
	if len(b) > MaxPDUSize {
		return PDU{}, fmt.Errorf("modbus: PDU of %d bytes exceeds %d", len(b), MaxPDUSize)
	}
	return PDU{Function: b[0], Data: b[1:]}, nil
}

// IsException says whether the PDU is an exception response.
func (p PDU) IsException() bool { return p.Function&0x80 != 0 }

// Err returns the exception a response PDU carries, or nil when it is a normal response.
func (p PDU) Err() error {
	if !p.IsException() {
		return nil
	}
	code := ExceptionCode(0)
	if len(p.Data) > 0 {
		code = ExceptionCode(p.Data[0])
	}
	return &ExceptionError{Function: p.Function &^ 0x80, Code: code}
}

// ExceptionPDU returns the exception response to a request with function code fn.
func ExceptionPDU(fn byte, code ExceptionCode) PDU {
	return PDU{Function: fn | 0x80, Data: []byte{byte(code)}}
}

// ExceptionCode is a Modbus exception code.
type ExceptionCode byte

// Exception codes of the protocol.
const (
	IllegalFunction                    ExceptionCode = 0x01
	IllegalDataAddress                 ExceptionCode = 0x02
	IllegalDataValue                   ExceptionCode = 0x03
	ServerDeviceFailure                ExceptionCode = 0x04
	Acknowledge                        ExceptionCode = 0x05
	ServerDeviceBusy                   ExceptionCode = 0x06
	MemoryParityError                  ExceptionCode = 0x08
	GatewayPathUnavailable             ExceptionCode = 0x0A
	GatewayTargetDeviceFailedToRespond ExceptionCode = 0x0B
)

func (c ExceptionCode) String() string {
	switch c {
	case IllegalFunction:
		return "illegal function"
	case IllegalDataAddress:
		return "illegal data address"
	case IllegalDataValue:
		return "illegal data value"
	case ServerDeviceFailure:
		return "server device failure"
	case Acknowledge:
		return "acknowledge"
	case ServerDeviceBusy:
		return "server device busy"
	case MemoryParityError:
		return "memory parity error"
	case GatewayPathUnavailable:
		return "gateway path unavailable"
	case GatewayTargetDeviceFailedToRespond:
		return "gateway target device failed to respond"
	}
	return fmt.Sprintf("exception 0x%02x", byte(c))
}

// ExceptionError is an exception response from a device.
type ExceptionError struct {
	Function byte
	Code     ExceptionCode
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception to function 0x%02x: %s", e.Function, e.Code)
}
