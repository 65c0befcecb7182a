package modbus

import (
	"sync"

	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// Bank is an in-memory Modbus data model: 65536 coils, discrete inputs, holding and input registers per unit
// id. It is a modbusproto.DataModel and a modbusproto.Handler, so a Server serves it; it backs the connector's
// slave mode and the simulated devices of tests, benchmarks and the demo. Safe for concurrent use.
type Bank struct {
	mu    sync.Mutex
	units map[uint8]*unitData
	any   bool // answer every unit id from unit 0's data
}

// Table names one of the four Modbus data tables, numbered like the function codes that read them.
type Table = modbusproto.Table

// The data tables.
const (
	Coils            = modbusproto.Coils
	DiscreteInputs   = modbusproto.DiscreteInputs
	HoldingRegisters = modbusproto.HoldingRegisters
	InputRegisters   = modbusproto.InputRegisters
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

// Serves reports whether the bank has data for a unit id: a request for another unit id gets no answer (an
// exception over TCP, silence on a serial line).
func (b *Bank) Serves(unit uint8) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unit(unit, false) != nil
}

// ServeModbus implements modbusproto.Handler with the bank's data (function codes 1-6, 15, 16) and no device
// identification objects; the slave mode adds its identity with a modbusproto.DataHandler of its own.
func (b *Bank) ServeModbus(unit uint8, req modbusproto.PDU) (modbusproto.PDU, bool) {
	return modbusproto.DataHandler{Data: b}.ServeModbus(unit, req)
}
