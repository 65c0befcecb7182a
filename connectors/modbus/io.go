package modbus

import (
	"context"
	"fmt"
	"log/slog"
)

// readResult is what one read request returned.
type readResult struct {
	regs []uint16
	bits []bool
	err  error
}

// readFrom runs a read request with a client.
func readFrom(ctx context.Context, mc client, r *readRequest) readResult {
	var res readResult
	switch r.fc {
	case 1:
		res.bits, res.err = mc.ReadCoils(ctx, r.addr, uint16(r.count))
	case 2:
		res.bits, res.err = mc.ReadDiscreteInputs(ctx, r.addr, uint16(r.count))
	case 3:
		res.regs, res.err = mc.ReadHoldingRegisters(ctx, r.addr, uint16(r.count))
	case 4:
		res.regs, res.err = mc.ReadInputRegisters(ctx, r.addr, uint16(r.count))
	default:
		res.err = fmt.Errorf("function code %d does not read", r.fc)
	}
	return res
}

// read runs a read request against the bank (slave mode).
func (b *Bank) read(unit uint8, r *readRequest) readResult {
	switch r.fc {
	case 1, 2:
		return readResult{bits: b.Bits(unit, Table(r.fc), r.addr, r.count)}
	case 3, 4:
		return readResult{regs: b.Registers(unit, Table(r.fc), r.addr, r.count)}
	}
	return readResult{err: fmt.Errorf("function code %d does not read", r.fc)}
}

// decode extracts and decodes one item's value from a request's result; a failure is logged at debug level
// (it repeats every poll) and the key is left out.
func (p readPart) decode(res readResult, log *slog.Logger, device string) (any, error) {
	n := p.item.Codec.Objects()
	var v any
	var err error
	if res.bits != nil || p.item.Codec.Coils {
		if p.offset+n > len(res.bits) {
			err = fmt.Errorf("%w: answer holds %d bits", ErrShortData, len(res.bits))
		} else {
			v, err = p.item.Codec.DecodeBits(res.bits[p.offset : p.offset+n])
		}
	} else {
		if p.offset+n > len(res.regs) {
			err = fmt.Errorf("%w: answer holds %d registers", ErrShortData, len(res.regs))
		} else {
			v, err = p.item.Codec.DecodeRegisters(res.regs[p.offset : p.offset+n])
		}
	}
	if err != nil {
		log.Debug("cannot decode value", "device", device, "key", p.item.Tag, "address", p.item.Address, "err", err)
		return nil, err
	}
	return v, nil
}

// writeOp is a write of one item: registers for function codes 6 and 16, coils for 5 and 15.
type writeOp struct {
	fc   int
	addr uint16
	regs []uint16
	bits []bool
}

// newWrite encodes value for a write item.
func newWrite(it *Item, value any) (*writeOp, error) {
	w := &writeOp{fc: it.FunctionCode, addr: it.Address}
	var err error
	switch it.FunctionCode {
	case 5, 15:
		if w.bits, err = it.Codec.EncodeBits(value); err != nil {
			return nil, err
		}
		if it.FunctionCode == 5 {
			w.bits = w.bits[:1]
		}
	case 6, 16:
		if w.regs, err = it.Codec.EncodeRegisters(value); err != nil {
			return nil, err
		}
		if it.FunctionCode == 6 {
			w.regs = w.regs[:1] // the Python gateway writes the first register with function code 6
		}
	default:
		return nil, fmt.Errorf("function code %d does not write", it.FunctionCode)
	}
	return w, nil
}

func (w *writeOp) run(ctx context.Context, mc client) error {
	switch w.fc {
	case 5:
		return mc.WriteCoil(ctx, w.addr, w.bits[0])
	case 15:
		return mc.WriteCoils(ctx, w.addr, w.bits)
	case 6:
		return mc.WriteRegister(ctx, w.addr, w.regs[0])
	}
	return mc.WriteRegisters(ctx, w.addr, w.regs)
}

// apply performs the write on the bank (slave mode): the item's own table.
func (w *writeOp) apply(b *Bank, unit uint8, table Table) {
	if w.bits != nil {
		b.SetBits(unit, table, w.addr, w.bits)
		return
	}
	b.SetRegisters(unit, table, w.addr, w.regs)
}
