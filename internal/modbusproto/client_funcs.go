package modbusproto

import (
	"context"
	"encoding/binary"
	"fmt"
)

// The client's requests of function codes 1-6, 15 and 16. Each checks that the answer has the size its request
// asks for (ErrUnexpected otherwise).

// ReadCoils reads n coils from addr (function code 1).
func (c *Client) ReadCoils(ctx context.Context, unit byte, addr, n uint16) ([]bool, error) {
	return c.readBits(ctx, unit, FuncReadCoils, addr, n)
}

// ReadDiscreteInputs reads n discrete inputs from addr (function code 2).
func (c *Client) ReadDiscreteInputs(ctx context.Context, unit byte, addr, n uint16) ([]bool, error) {
	return c.readBits(ctx, unit, FuncReadDiscreteInputs, addr, n)
}

// ReadHoldingRegisters reads n holding registers from addr (function code 3).
func (c *Client) ReadHoldingRegisters(ctx context.Context, unit byte, addr, n uint16) ([]uint16, error) {
	return c.readRegisters(ctx, unit, FuncReadHoldingRegisters, addr, n)
}

// ReadInputRegisters reads n input registers from addr (function code 4).
func (c *Client) ReadInputRegisters(ctx context.Context, unit byte, addr, n uint16) ([]uint16, error) {
	return c.readRegisters(ctx, unit, FuncReadInputRegisters, addr, n)
}

// WriteCoil writes one coil (function code 5).
func (c *Client) WriteCoil(ctx context.Context, unit byte, addr uint16, v bool) error {
	val := uint16(0)
	if v {
		val = 0xFF00
	}
	return c.writeEcho(ctx, unit, FuncWriteSingleCoil, addr, val)
}

// WriteRegister writes one holding register (function code 6).
func (c *Client) WriteRegister(ctx context.Context, unit byte, addr, v uint16) error {
	return c.writeEcho(ctx, unit, FuncWriteSingleRegister, addr, v)
}

// WriteCoils writes coils from addr (function code 15).
func (c *Client) WriteCoils(ctx context.Context, unit byte, addr uint16, v []bool) error {
	if len(v) == 0 || len(v) > 1968 {
		return fmt.Errorf("modbus: cannot write %d coils in one request (1-1968)", len(v))
	}
	packed := make([]byte, (len(v)+7)/8)
	for i, b := range v {
		if b {
			packed[i/8] |= 1 << (i % 8)
		}
	}
	return c.writeMany(ctx, unit, FuncWriteMultipleCoils, addr, uint16(len(v)), packed)
}

// WriteRegisters writes holding registers from addr (function code 16).
func (c *Client) WriteRegisters(ctx context.Context, unit byte, addr uint16, v []uint16) error {
	if len(v) == 0 || len(v) > 123 {
		return fmt.Errorf("modbus: cannot write %d registers in one request (1-123)", len(v))
	}
	data := make([]byte, 2*len(v))
	for i, r := range v {
		binary.BigEndian.PutUint16(data[2*i:], r)
	}
	return c.writeMany(ctx, unit, FuncWriteMultipleRegisters, addr, uint16(len(v)), data)
}

func addrCount(addr, n uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, addr), n)
}

func (c *Client) readBits(ctx context.Context, unit, fn byte, addr, n uint16) ([]bool, error) {
	if n == 0 || n > 2000 {
		return nil, fmt.Errorf("modbus: cannot read %d bits in one request (1-2000)", n)
	}
	p, err := c.Do(ctx, unit, PDU{Function: fn, Data: addrCount(addr, n)})
	if err != nil {
		return nil, err
	}
	want := (int(n) + 7) / 8
	if len(p.Data) != 1+want || int(p.Data[0]) != want {
		return nil, fmt.Errorf("%w: %d bits asked, answer data % X", ErrUnexpected, n, p.Data)
	}
	bits := make([]bool, n)
	for i := range bits {
		bits[i] = p.Data[1+i/8]&(1<<(i%8)) != 0
	}
	return bits, nil
}

func (c *Client) readRegisters(ctx context.Context, unit, fn byte, addr, n uint16) ([]uint16, error) {
	if n == 0 || n > 125 {
		return nil, fmt.Errorf("modbus: cannot read %d registers in one request (1-125)", n)
	}
	p, err := c.Do(ctx, unit, PDU{Function: fn, Data: addrCount(addr, n)})
	if err != nil {
		return nil, err
	}
	if len(p.Data) != 1+2*int(n) || int(p.Data[0]) != 2*int(n) {
		return nil, fmt.Errorf("%w: %d registers asked, answer data % X", ErrUnexpected, n, p.Data)
	}
	regs := make([]uint16, n)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(p.Data[1+2*i:])
	}
	return regs, nil
}

// writeEcho sends a write of function code 5 or 6, whose answer repeats the request.
func (c *Client) writeEcho(ctx context.Context, unit, fn byte, addr, v uint16) error {
	data := addrCount(addr, v)
	p, err := c.Do(ctx, unit, PDU{Function: fn, Data: data})
	if err != nil {
		return err
	}
	if string(p.Data) != string(data) {
		return fmt.Errorf("%w: write answered with % X, sent % X", ErrUnexpected, p.Data, data)
	}
	return nil
}

// writeMany sends a write of function code 15 or 16, whose answer repeats the address and count.
func (c *Client) writeMany(ctx context.Context, unit, fn byte, addr, n uint16, values []byte) error {
	head := addrCount(addr, n)
	data := append(append(append([]byte(nil), head...), byte(len(values))), values...)
	p, err := c.Do(ctx, unit, PDU{Function: fn, Data: data})
	if err != nil {
		return err
	}
	if string(p.Data) != string(head) {
		return fmt.Errorf("%w: write answered with % X, expected % X", ErrUnexpected, p.Data, head)
	}
	return nil
}
