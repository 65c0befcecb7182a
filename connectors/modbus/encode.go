package modbus

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/float16"
	"github.com/tbgateway/tbgateway/internal/values"
)

// EncodeRegisters turns a value from ThingsBoard (a JSON-decoded value: json.Number, float64, string, bool,
// []any) into the registers that DecodeRegisters reads back as the same value. Divider and multiplier are
// undone, so writing the value a key shows sets the register behind it.
func (c *Codec) EncodeRegisters(v any) ([]uint16, error) {
	v = values.Tree(v)
	payload, err := c.encode(v)
	if err != nil {
		return nil, err
	}
	c.repack(payload)
	regs := make([]uint16, len(payload)/2)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(payload[2*i:])
	}
	return regs, nil
}

// EncodeBits turns a value into coils in address order (the inverse of DecodeBits).
func (c *Codec) EncodeBits(v any) ([]bool, error) {
	v = values.Tree(v)
	if c.Kind == KindBits && c.Count <= 1 && c.Bit < 0 {
		b, err := values.ToBool(v)
		if err != nil {
			return nil, err
		}
		return []bool{b}, nil
	}
	n := c.Objects()
	if c.Kind == KindBits && c.Bit < 0 {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("coils value must be a list of booleans, got %v", v)
		}
		idx := coilIndexes(n)
		if len(list) != len(idx) {
			return nil, fmt.Errorf("want %d coil values, got %d", len(idx), len(list))
		}
		bits := make([]bool, n)
		for i, x := range list {
			b, err := values.ToBool(x)
			if err != nil {
				return nil, fmt.Errorf("coils[%d]: %w", i, err)
			}
			bits[idx[i]] = b
		}
		return bits, nil
	}
	payload, err := c.encode(v)
	if err != nil {
		return nil, err
	}
	c.repack(payload)
	bits := make([]bool, n)
	for i := range bits {
		if i/8 < len(payload) {
			bits[i] = payload[i/8]&(1<<(i%8)) != 0
		}
	}
	return bits, nil
}

// repack swaps the bytes of each register of a built payload in place when Repack applies.
func (c *Codec) repack(payload []byte) {
	if !c.Repack || !c.LittleBytes {
		return
	}
	for i := 0; i+1 < len(payload); i += 2 {
		payload[i], payload[i+1] = payload[i+1], payload[i]
	}
}

// SetRepack sets Repack on the codec of every item of the device (its "repack" key).
func (d *Device) SetRepack(on bool) {
	d.Repack = on
	for _, list := range [][]*Item{d.Attributes, d.Timeseries, d.AttributeUpdates, d.RPC} {
		for _, it := range list {
			it.Codec.Repack = on
		}
	}
}

func (c *Codec) encode(v any) ([]byte, error) {
	switch c.Kind {
	case KindString:
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		out := make([]byte, max(c.Count, 1)*2)
		copy(out, s)
		return out, nil
	case KindBytes:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("bytes value must be a hex string, got %v", v)
		}
		b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
		if err != nil {
			return nil, fmt.Errorf("bytes value %q: %w", s, err)
		}
		out := make([]byte, max(c.Count, 1)*2)
		copy(out, b)
		return out, nil
	case KindBits:
		return c.encodeBits(v)
	}
	w := c.Kind.width()
	nregs := (w + 1) / 2
	buf := make([]byte, 8)
	switch c.Kind {
	case KindFloat16, KindFloat32, KindFloat64:
		f, err := c.unscaleFloat(v)
		if err != nil {
			return nil, err
		}
		switch c.Kind {
		case KindFloat16:
			binary.BigEndian.PutUint16(buf, float16.Bits(f))
		case KindFloat32:
			binary.BigEndian.PutUint32(buf, math.Float32bits(float32(f)))
		default:
			binary.BigEndian.PutUint64(buf, math.Float64bits(f))
		}
	default:
		u, err := c.unscaleInt(v)
		if err != nil {
			return nil, err
		}
		switch w {
		case 1:
			buf[0] = byte(u) // the other byte of the register stays 0
		case 2:
			binary.BigEndian.PutUint16(buf, uint16(u))
		case 4:
			binary.BigEndian.PutUint32(buf, uint32(u))
		default:
			binary.BigEndian.PutUint64(buf, u)
		}
	}
	out := c.reorder(buf[:2*nregs])
	if pad := 2*max(c.Count, 1) - len(out); pad > 0 && !c.Coils {
		out = append(out, make([]byte, pad)...)
	}
	return out, nil
}

// encodeBits is the inverse of decodeBits: bit list positions are register bits least significant first; a
// list shorter than the registers fills their last bits.
func (c *Codec) encodeBits(v any) ([]byte, error) {
	nregs := (max(c.Count, 1) + 15) / 16
	if c.Bit >= 0 {
		nregs = max(nregs, c.Bit/16+1)
	}
	all := make([]bool, nregs*16)
	switch {
	case c.Bit >= 0:
		b, err := values.ToBool(v)
		if err != nil {
			return nil, err
		}
		all[c.Bit] = b
	default:
		list, ok := v.([]any)
		if !ok {
			b, err := values.ToBool(v)
			if err != nil {
				return nil, fmt.Errorf("bits value must be a list of booleans or a boolean, got %v", v)
			}
			list = []any{b}
		}
		if len(list) > len(all) {
			return nil, fmt.Errorf("%d bits do not fit %d registers", len(list), nregs)
		}
		start := len(all) - len(list)
		for i, x := range list {
			b, err := values.ToBool(x)
			if err != nil {
				return nil, fmt.Errorf("bits[%d]: %w", i, err)
			}
			all[start+i] = b
		}
	}
	out := make([]byte, nregs*2)
	for r := range nregs {
		var word uint16
		for b := range 16 {
			if all[r*16+b] {
				word |= 1 << b
			}
		}
		binary.BigEndian.PutUint16(out[2*r:], word)
	}
	return out, nil
}

// number parses a JSON-decoded number (or numeric string) exactly.
func number(v any) (*big.Float, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		return new(big.Float).SetFloat64(x), nil
	case int64:
		return new(big.Float).SetInt64(x), nil
	case int:
		return new(big.Float).SetInt64(int64(x)), nil
	case bool:
		if x {
			return big.NewFloat(1), nil
		}
		return big.NewFloat(0), nil
	case string:
		s = strings.TrimSpace(x)
	default:
		return nil, fmt.Errorf("want a number, got %v", v)
	}
	f, _, err := big.ParseFloat(s, 10, 128, big.ToNearestEven)
	if err != nil {
		return nil, fmt.Errorf("want a number, got %q", s)
	}
	return f, nil
}

func (c *Codec) unscale(v any) (*big.Float, error) {
	f, err := number(v)
	if err != nil {
		return nil, err
	}
	if c.Multiplier != 0 {
		f.Quo(f, new(big.Float).SetFloat64(c.Multiplier))
	}
	if c.Divider != 0 {
		f.Mul(f, new(big.Float).SetFloat64(c.Divider))
	}
	return f, nil
}

func (c *Codec) unscaleFloat(v any) (float64, error) {
	f, err := c.unscale(v)
	if err != nil {
		return 0, err
	}
	x, _ := f.Float64()
	return x, nil
}

// unscaleInt returns the two's-complement bits of an integer value, checking its range for the kind.
func (c *Codec) unscaleInt(v any) (uint64, error) {
	f, err := c.unscale(v)
	if err != nil {
		return 0, err
	}
	// round half away from zero, like int(round(x)) would for the values a register can take
	if f.Sign() >= 0 {
		f.Add(f, big.NewFloat(0.5))
	} else {
		f.Sub(f, big.NewFloat(0.5))
	}
	i, _ := f.Int(nil)
	bits := c.Kind.width() * 8
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), uint(bits))
	switch c.Kind {
	case KindInt8, KindInt16, KindInt32, KindInt64:
		half := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		lo.Neg(half)
		hi = half
	}
	if i.Cmp(lo) < 0 || i.Cmp(hi) >= 0 {
		return 0, fmt.Errorf("value %s is out of range for the type", i.String())
	}
	if i.Sign() < 0 {
		i.Add(i, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	}
	return i.Uint64(), nil
}

// replyValue renders a decoded value as the JSON an RPC reply carries; unsigned 64-bit values that a record
// holds as float64 are re-read exactly here.
func replyValue(v any) json.RawMessage {
	switch x := v.(type) {
	case tbgateway.RawJSON:
		return json.RawMessage(x)
	case float64:
		return json.RawMessage(strconv.FormatFloat(x, 'g', -1, 64))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
