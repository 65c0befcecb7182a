package modbus

import (
	"context"
	"io"
	"log"

	mb "github.com/simonvetter/modbus"
)

// client is what a line needs of a Modbus master connection: the reads and writes of function codes 1-6, 15 and
// 16 addressed to the unit set last. Calls block until the answer, the device's timeout or the end of ctx,
// whichever the implementation can honour first. A line holds one client and uses it from one goroutine.
type client interface {
	SetUnitID(unit uint8) error
	ReadCoils(ctx context.Context, addr, n uint16) ([]bool, error)
	ReadDiscreteInputs(ctx context.Context, addr, n uint16) ([]bool, error)
	ReadHoldingRegisters(ctx context.Context, addr, n uint16) ([]uint16, error)
	ReadInputRegisters(ctx context.Context, addr, n uint16) ([]uint16, error)
	WriteCoil(ctx context.Context, addr uint16, v bool) error
	WriteCoils(ctx context.Context, addr uint16, v []bool) error
	WriteRegister(ctx context.Context, addr uint16, v uint16) error
	WriteRegisters(ctx context.Context, addr uint16, v []uint16) error
	// Close releases the connection or the serial port; the client is not used afterwards.
	Close() error
}

// libClient is a client on github.com/simonvetter/modbus (TCP, UDP, RTU over TCP or UDP). The library bounds
// each call by the device's timeout; it cannot be cancelled earlier.
type libClient struct{ c *mb.ModbusClient }

// dialLib opens a library client for the device's transport.
func dialLib(d *Device) (client, error) {
	parity := mb.PARITY_NONE
	switch d.Parity {
	case "E":
		parity = mb.PARITY_EVEN
	case "O":
		parity = mb.PARITY_ODD
	}
	cc := &mb.ClientConfiguration{
		URL: d.url(), Speed: uint(d.Baudrate), DataBits: uint(d.Bytesize), Parity: parity,
		StopBits: uint(d.Stopbits), Timeout: d.Timeout, Logger: log.New(io.Discard, "", 0),
	}
	var c *mb.ModbusClient
	err := d.TLS.apply(cc)
	if err == nil {
		c, err = mb.NewClient(cc)
	}
	if err == nil {
		err = c.Open()
	}
	if err != nil {
		return nil, err
	}
	return libClient{c}, nil
}

func (l libClient) SetUnitID(unit uint8) error { return l.c.SetUnitId(unit) }

func (l libClient) ReadCoils(_ context.Context, addr, n uint16) ([]bool, error) {
	return l.c.ReadCoils(addr, n)
}

func (l libClient) ReadDiscreteInputs(_ context.Context, addr, n uint16) ([]bool, error) {
	return l.c.ReadDiscreteInputs(addr, n)
}

func (l libClient) ReadHoldingRegisters(_ context.Context, addr, n uint16) ([]uint16, error) {
	return l.c.ReadRegisters(addr, n, mb.HOLDING_REGISTER)
}

func (l libClient) ReadInputRegisters(_ context.Context, addr, n uint16) ([]uint16, error) {
	return l.c.ReadRegisters(addr, n, mb.INPUT_REGISTER)
}

func (l libClient) WriteCoil(_ context.Context, addr uint16, v bool) error {
	return l.c.WriteCoil(addr, v)
}

func (l libClient) WriteCoils(_ context.Context, addr uint16, v []bool) error {
	return l.c.WriteCoils(addr, v)
}

func (l libClient) WriteRegister(_ context.Context, addr uint16, v uint16) error {
	return l.c.WriteRegister(addr, v)
}

func (l libClient) WriteRegisters(_ context.Context, addr uint16, v []uint16) error {
	return l.c.WriteRegisters(addr, v)
}

func (l libClient) Close() error { return l.c.Close() }
