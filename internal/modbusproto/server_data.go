package modbusproto

import "encoding/binary"

// Table names one of the four Modbus data tables, numbered like the function code that reads it.
type Table uint8

// The data tables.
const (
	Coils            Table = 1
	DiscreteInputs   Table = 2
	HoldingRegisters Table = 3
	InputRegisters   Table = 4
)

// Quantity limits of the protocol per request.
const (
	MaxReadBits       = 2000
	MaxReadRegisters  = 125
	MaxWriteBits      = 1968
	MaxWriteRegisters = 123
)

// DataModel is the data a DataHandler serves: the four tables of each unit id it serves. Addresses and counts
// passed to it are already checked (addr+n <= 65536). Implementations must be safe for concurrent use.
type DataModel interface {
	// Serves says whether the model answers a unit id.
	Serves(unit uint8) bool
	Bits(unit uint8, t Table, addr uint16, n int) []bool
	SetBits(unit uint8, t Table, addr uint16, bits []bool)
	Registers(unit uint8, t Table, addr uint16, n int) []uint16
	SetRegisters(unit uint8, t Table, addr uint16, regs []uint16)
}

// DataHandler is the Handler of a Modbus slave backed by a DataModel: function codes 1-6, 15 and 16, and 43/14
// (Read Device Identification) answered from Identity (no objects when nil). Units the model does not serve get
// no answer; every other request gets a response or an exception, never a panic.
type DataHandler struct {
	Data     DataModel
	Identity *DeviceID
}

// ServeModbus implements Handler.
func (h DataHandler) ServeModbus(unit uint8, req PDU) (PDU, bool) {
	if !h.Data.Serves(unit) {
		return PDU{}, false
	}
	d := req.Data
	fn := req.Function
	switch fn {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(d) != 4 {
			return ExceptionPDU(fn, IllegalDataValue), true
		}
		addr, n := be16(d), int(be16(d[2:]))
		limit := MaxReadRegisters
		if fn <= FuncReadDiscreteInputs {
			limit = MaxReadBits
		}
		if n < 1 || n > limit {
			return ExceptionPDU(fn, IllegalDataValue), true
		}
		if int(addr)+n > 65536 {
			return ExceptionPDU(fn, IllegalDataAddress), true
		}
		if fn <= FuncReadDiscreteInputs {
			return PDU{Function: fn, Data: packBits(h.Data.Bits(unit, Table(fn), addr, n))}, true
		}
		regs := h.Data.Registers(unit, Table(fn), addr, n)
		out := make([]byte, 1, 1+2*n)
		out[0] = byte(2 * n)
		for _, r := range regs {
			out = binary.BigEndian.AppendUint16(out, r)
		}
		return PDU{Function: fn, Data: out}, true
	case FuncWriteSingleCoil:
		if len(d) != 4 || (be16(d[2:]) != 0xFF00 && be16(d[2:]) != 0) {
			return ExceptionPDU(fn, IllegalDataValue), true
		}
		h.Data.SetBits(unit, Coils, be16(d), []bool{d[2] == 0xFF})
		return PDU{Function: fn, Data: append([]byte(nil), d...)}, true
	case FuncWriteSingleRegister:
		if len(d) != 4 {
			return ExceptionPDU(fn, IllegalDataValue), true
		}
		h.Data.SetRegisters(unit, HoldingRegisters, be16(d), []uint16{be16(d[2:])})
		return PDU{Function: fn, Data: append([]byte(nil), d...)}, true
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return h.writeMultiple(unit, fn, d), true
	case FuncEncapsulatedInterface:
		id := h.Identity
		if id == nil {
			id = &DeviceID{}
		}
		return id.Respond(d), true
	}
	return ExceptionPDU(fn, IllegalFunction), true
}

// writeMultiple serves function codes 15 and 16.
func (h DataHandler) writeMultiple(unit uint8, fn byte, d []byte) PDU {
	if len(d) < 5 {
		return ExceptionPDU(fn, IllegalDataValue)
	}
	addr, n, count := be16(d), int(be16(d[2:])), int(d[4])
	want, limit := (n+7)/8, MaxWriteBits
	if fn == FuncWriteMultipleRegisters {
		want, limit = 2*n, MaxWriteRegisters
	}
	if n < 1 || n > limit || count != want || len(d) != 5+count {
		return ExceptionPDU(fn, IllegalDataValue)
	}
	if int(addr)+n > 65536 {
		return ExceptionPDU(fn, IllegalDataAddress)
	}
	vals := d[5:]
	if fn == FuncWriteMultipleCoils {
		bits := make([]bool, n)
		for i := range bits {
			bits[i] = vals[i/8]&(1<<(i%8)) != 0
		}
		h.Data.SetBits(unit, Coils, addr, bits)
	} else {
		regs := make([]uint16, n)
		for i := range regs {
			regs[i] = be16(vals[2*i:])
		}
		h.Data.SetRegisters(unit, HoldingRegisters, addr, regs)
	}
	return PDU{Function: fn, Data: append([]byte(nil), d[:4]...)}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// packBits returns a byte count followed by bits packed LSB first.
func packBits(bits []bool) []byte {
	out := make([]byte, 1+(len(bits)+7)/8)
	out[0] = byte(len(out) - 1)
	for i, b := range bits {
		if b {
			out[1+i/8] |= 1 << (i % 8)
		}
	}
	return out
}
