package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	mb "github.com/simonvetter/modbus"

	"github.com/tbgateway/tbgateway/internal/modbusproto"
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

// dial opens a client for the device's transport: the project's own framing for serial lines, the library for
// the rest.
func dial(d *Device) (client, error) {
	if d.Transport == "serial" {
		return dialSerial(d)
	}
	return dialLib(d)
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

// serialClient is a client on the project's own serial framing (internal/modbusproto): RTU or ASCII on a serial
// port, reading back the line's local echo when the device says handleLocalEcho.
type serialClient struct {
	c    *modbusproto.Client
	unit uint8
	echo bool
}

// dialSerial opens the device's serial port with its line settings.
func dialSerial(d *Device) (client, error) {
	line, err := modbusproto.OpenSerial(serialConfig(d))
	if err != nil {
		return nil, err
	}
	framing := modbusproto.RTU
	if d.Method == "ascii" {
		framing = modbusproto.ASCII
	}
	return &serialClient{echo: d.HandleLocalEcho, c: modbusproto.NewClient(line, modbusproto.ClientConfig{
		Framing: framing, LocalEcho: d.HandleLocalEcho, Timeout: d.Timeout, Baudrate: d.Baudrate})}, nil
}

// serialConfig is the device's serial port and line settings.
func serialConfig(d *Device) modbusproto.SerialConfig {
	return modbusproto.SerialConfig{Device: d.SerialPort, Baudrate: d.Baudrate, DataBits: d.Bytesize,
		Parity: d.Parity, StopBits: d.Stopbits}
}

// explain adds what the user can change to an error that a local echo explains.
func (s *serialClient) explain(err error) error {
	switch {
	case errors.Is(err, modbusproto.ErrRequestEchoed):
		return fmt.Errorf("%w; set handleLocalEcho: true for this device", err)
	case errors.Is(err, modbusproto.ErrLocalEcho):
		return fmt.Errorf("%w; handleLocalEcho is true: does this line echo what the gateway sends?", err)
	}
	return err
}

func (s *serialClient) SetUnitID(unit uint8) error { s.unit = unit; return nil }

func (s *serialClient) ReadCoils(ctx context.Context, addr, n uint16) ([]bool, error) {
	v, err := s.c.ReadCoils(ctx, s.unit, addr, n)
	return v, s.explain(err)
}

func (s *serialClient) ReadDiscreteInputs(ctx context.Context, addr, n uint16) ([]bool, error) {
	v, err := s.c.ReadDiscreteInputs(ctx, s.unit, addr, n)
	return v, s.explain(err)
}

func (s *serialClient) ReadHoldingRegisters(ctx context.Context, addr, n uint16) ([]uint16, error) {
	v, err := s.c.ReadHoldingRegisters(ctx, s.unit, addr, n)
	return v, s.explain(err)
}

func (s *serialClient) ReadInputRegisters(ctx context.Context, addr, n uint16) ([]uint16, error) {
	v, err := s.c.ReadInputRegisters(ctx, s.unit, addr, n)
	return v, s.explain(err)
}

func (s *serialClient) WriteCoil(ctx context.Context, addr uint16, v bool) error {
	return s.explain(s.c.WriteCoil(ctx, s.unit, addr, v))
}

func (s *serialClient) WriteCoils(ctx context.Context, addr uint16, v []bool) error {
	return s.explain(s.c.WriteCoils(ctx, s.unit, addr, v))
}

func (s *serialClient) WriteRegister(ctx context.Context, addr uint16, v uint16) error {
	return s.explain(s.c.WriteRegister(ctx, s.unit, addr, v))
}

func (s *serialClient) WriteRegisters(ctx context.Context, addr uint16, v []uint16) error {
	return s.explain(s.c.WriteRegisters(ctx, s.unit, addr, v))
}

func (s *serialClient) Close() error { return s.c.Close() }
