package modbus

import (
	"sync"

	mb "github.com/simonvetter/modbus"
)

// Bank is an in-memory Modbus data model: 65536 coils, discrete inputs, holding and input registers per unit
// id. It implements the simonvetter/modbus server's RequestHandler, so it can be served over TCP; it backs the
// connector's slave mode and the simulated devices of tests, benchmarks and the demo. Safe for concurrent use.
type Bank struct {
	mu    sync.Mutex
	units map[uint8]*unitData
	any   bool // answer every unit id from unit 0's data

	// OnWrite, when set, is called (without the bank's lock) after a client wrote coils or holding registers.
	OnWrite func(unit uint8, table Table, addr uint16, n int)
}

// Table names one of the four Modbus data tables.
type Table uint8

// The data tables, numbered like the function codes that read them.
const (
	Coils            Table = 1
	DiscreteInputs   Table = 2
	HoldingRegisters Table = 3
	InputRegisters   Table = 4
)

type unitData struct {
	bits [2][65536]bool   // coils, discrete inputs
	regs [2][65536]uint16 // holding, input
}

// NewBank returns an empty bank; anyUnit makes it answer every unit id with the same data.
func NewBank(anyUnit bool) *Bank {
	return &Bank{units: map[uint8]*unitData{}, any: anyUnit}
}

func (b *Bank) unit(id uint8, create bool) *unitData {
	if b.any {
		id = 0
	}
	u := b.units[id]
	if u == nil && create {
		u = &unitData{}
		b.units[id] = u
	}
	return u
}

// SetRegisters stores registers of a holding or input table from addr on.
func (b *Bank) SetRegisters(unit uint8, t Table, addr uint16, regs []uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.unit(unit, true)
	for i, r := range regs {
		u.regs[regIndex(t)][(int(addr)+i)&0xffff] = r
	}
}

// Registers returns n registers of a holding or input table from addr on.
func (b *Bank) Registers(unit uint8, t Table, addr uint16, n int) []uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]uint16, n)
	if u := b.unit(unit, false); u != nil {
		for i := range out {
			out[i] = u.regs[regIndex(t)][(int(addr)+i)&0xffff]
		}
	}
	return out
}

// SetBits stores coils or discrete inputs from addr on.
func (b *Bank) SetBits(unit uint8, t Table, addr uint16, bits []bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.unit(unit, true)
	for i, v := range bits {
		u.bits[bitIndex(t)][(int(addr)+i)&0xffff] = v
	}
}

// Bits returns n coils or discrete inputs from addr on.
func (b *Bank) Bits(unit uint8, t Table, addr uint16, n int) []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]bool, n)
	if u := b.unit(unit, false); u != nil {
		for i := range out {
			out[i] = u.bits[bitIndex(t)][(int(addr)+i)&0xffff]
		}
	}
	return out
}

func regIndex(t Table) int {
	if t == InputRegisters {
		return 1
	}
	return 0
}

func bitIndex(t Table) int {
	if t == DiscreteInputs {
		return 1
	}
	return 0
}

// known reports whether the bank has data for a unit id (unknown unit ids get no answer, like pymodbus).
func (b *Bank) known(unit uint8) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unit(unit, false) != nil
}

func (b *Bank) check(unit uint8, addr, qty uint16) error {
	if !b.known(unit) {
		return mb.ErrGWTargetFailedToRespond
	}
	if int(addr)+int(qty) > 65536 {
		return mb.ErrIllegalDataAddress
	}
	return nil
}

// HandleCoils serves function codes 1, 5 and 15.
func (b *Bank) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if err := b.check(req.UnitId, req.Addr, req.Quantity); err != nil {
		return nil, err
	}
	if req.IsWrite {
		b.SetBits(req.UnitId, Coils, req.Addr, req.Args)
		if b.OnWrite != nil {
			b.OnWrite(req.UnitId, Coils, req.Addr, len(req.Args))
		}
		return nil, nil
	}
	return b.Bits(req.UnitId, Coils, req.Addr, int(req.Quantity)), nil
}

// HandleDiscreteInputs serves function code 2.
func (b *Bank) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	if err := b.check(req.UnitId, req.Addr, req.Quantity); err != nil {
		return nil, err
	}
	return b.Bits(req.UnitId, DiscreteInputs, req.Addr, int(req.Quantity)), nil
}

// HandleHoldingRegisters serves function codes 3, 6 and 16.
func (b *Bank) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if err := b.check(req.UnitId, req.Addr, req.Quantity); err != nil {
		return nil, err
	}
	if req.IsWrite {
		b.SetRegisters(req.UnitId, HoldingRegisters, req.Addr, req.Args)
		if b.OnWrite != nil {
			b.OnWrite(req.UnitId, HoldingRegisters, req.Addr, len(req.Args))
		}
		return nil, nil
	}
	return b.Registers(req.UnitId, HoldingRegisters, req.Addr, int(req.Quantity)), nil
}

// HandleInputRegisters serves function code 4.
func (b *Bank) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	if err := b.check(req.UnitId, req.Addr, req.Quantity); err != nil {
		return nil, err
	}
	return b.Registers(req.UnitId, InputRegisters, req.Addr, int(req.Quantity)), nil
}
