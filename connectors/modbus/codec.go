package modbus

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/float16"
)

// Kind is a value type of an item, after aliases are resolved ("int" with objectsCount 2 is Int32, ...).
type Kind uint8

// The value kinds.
const (
	KindString Kind = iota + 1
	KindBytes
	KindBits
	KindInt8
	KindUint8
	KindInt16
	KindUint16
	KindInt32
	KindUint32
	KindInt64
	KindUint64
	KindFloat16
	KindFloat32
	KindFloat64
)

var kindNames = map[string]Kind{
	"string": KindString, "bytes": KindBytes, "bits": KindBits, "bit": KindBits, "coil": KindBits, "coils": KindBits,
	"bool": KindBits, "boolean": KindBits,
	"8int": KindInt8, "8uint": KindUint8, "16int": KindInt16, "16uint": KindUint16, "32int": KindInt32,
	"32uint": KindUint32, "64int": KindInt64, "64uint": KindUint64, "16float": KindFloat16, "32float": KindFloat32,
	"64float": KindFloat64,
}

// parseKind resolves a configured type name; the aliases int|long|integer, uint and float|double take their
// width from objectsCount (16 bits per object), as the Python gateway does.
func parseKind(name string, objectsCount int) (Kind, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if k, ok := kindNames[n]; ok {
		return k, nil
	}
	width := strconv.Itoa(objectsCount * 16)
	switch n {
	case "int", "long", "integer":
		n = width + "int"
	case "uint":
		n = width + "uint"
	case "float", "double":
		n = width + "float"
	default:
		return 0, fmt.Errorf("unknown type %q (want string, bytes, bits, 8int..64int, 8uint..64uint, 16float..64float, int, uint, float)", name)
	}
	if k, ok := kindNames[n]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("type %q with objectsCount %d makes %s, which does not exist", name, objectsCount, n)
}

// width returns the number of bytes a numeric kind occupies (0 for string, bytes and bits).
func (k Kind) width() int {
	switch k {
	case KindInt8, KindUint8:
		return 1
	case KindInt16, KindUint16, KindFloat16:
		return 2
	case KindInt32, KindUint32, KindFloat32:
		return 4
	case KindInt64, KindUint64, KindFloat64:
		return 8
	}
	return 0
}

// Codec turns the registers or bits of one item into a value and back, following the Python gateway's
// decoding (pymodbus BinaryPayloadDecoder): registers travel big-endian; byteOrder LITTLE swaps the two bytes of
// every register, wordOrder LITTLE reverses the order of the registers of a value. Strings and bytes ignore both
// orders; 8-bit values always sit in the register's high byte (pymodbus ignores the byte order for them).
//
// Bits: a register's bits are listed least significant first (bit 0 .. bit 15). Coils and discrete inputs are
// first packed as on the wire (eight per byte, least significant bit first) and two bytes make a big-endian
// register, so 16 coils c0..c15 read as [c8..c15, c0..c7]; this is the order the Python gateway reports (the
// corpus' coil cases depend on it). Of a bit list, the last objectsCount bits are kept; objectsCount 1 gives a
// scalar (for coils the coil itself), "bit" picks one bit of the full list; bitTargetType "int" gives 0/1.
type Codec struct {
	Kind          Kind
	Count         int  // objectsCount: registers, or bits for KindBits
	Coils         bool // the item reads coils or discrete inputs (function codes 1, 2, 5, 15)
	LittleBytes   bool
	LittleWords   bool
	Bit           int // -1 when not set
	BitsAsInt     bool
	Divider       float64 // 0 when not set
	Multiplier    float64 // 0 when not set
	Round         int     // decimal places for floats; negative keeps all
	Variants      map[string]any
	variantsValid bool
	// Repack (the slave entry's "repack") swaps the two bytes of every register a write builds when LittleBytes
	// is set, as pymodbus's BinaryPayloadBuilder(repack=True).to_registers does; reads are not affected.
	Repack bool
}

// Objects returns how many registers (or coils) a read of the item must cover.
func (c *Codec) Objects() int {
	if c.Coils {
		if c.Kind == KindBits {
			n := max(c.Count, 1)
			if c.Bit >= 0 {
				n = max(n, c.Bit+1)
			}
			return n
		}
		regs := (c.Kind.width() + 1) / 2
		if c.Kind == KindString || c.Kind == KindBytes {
			regs = c.Count
		}
		return max(c.Count, 16*regs)
	}
	switch c.Kind {
	case KindBits:
		n := (max(c.Count, 1) + 15) / 16
		if c.Bit >= 0 {
			n = max(n, c.Bit/16+1)
		}
		return n
	case KindString, KindBytes:
		return max(c.Count, 1)
	}
	return max(c.Count, (c.Kind.width()+1)/2, 1)
}

// ErrShortData is wrapped by decoding errors when fewer registers or bits arrived than the item needs.
var ErrShortData = errors.New("too few registers or bits for the type")

// DecodeRegisters decodes an item's registers into a record value (bool, int64, float64, string or RawJSON).
func (c *Codec) DecodeRegisters(regs []uint16) (any, error) {
	if len(regs) < c.Objects() {
		return nil, fmt.Errorf("%w: have %d, need %d", ErrShortData, len(regs), c.Objects())
	}
	regs = regs[:c.Objects()]
	payload := make([]byte, 2*len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(payload[2*i:], r)
	}
	return c.decode(payload)
}

// DecodeBits decodes an item's coils or discrete inputs, in address order.
func (c *Codec) DecodeBits(bits []bool) (any, error) {
	if len(bits) < c.Objects() {
		return nil, fmt.Errorf("%w: have %d bits, need %d", ErrShortData, len(bits), c.Objects())
	}
	bits = bits[:c.Objects()]
	if c.Kind == KindBits && c.Bit < 0 {
		if c.Count <= 1 {
			return c.bitValue(bits[0]), nil
		}
		return c.bitList(coilOrder(len(bits), func(i int) bool { return bits[i] })), nil
	}
	return c.decode(packBits(bits))
}

// coilOrder lists n coils in the order a bit list reports them: each run of 16 coils as the big-endian
// register their two bytes make, least significant bit first (c8..c15, c0..c7), leaving out coils past n.
func coilOrder(n int, get func(int) bool) []bool {
	out := make([]bool, 0, n)
	for _, i := range coilIndexes(n) {
		out = append(out, get(i))
	}
	return out
}

// coilIndexes returns the coil index behind each position of a bit list of n coils.
func coilIndexes(n int) []int {
	out := make([]int, 0, n)
	for g := 0; g < n; g += 16 {
		for _, i := range [...]int{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7} {
			if g+i < n {
				out = append(out, g+i)
			}
		}
	}
	return out
}

// packBits packs bits as on the Modbus wire, padded to whole registers.
func packBits(bits []bool) []byte {
	n := (len(bits) + 7) / 8
	out := make([]byte, n+n%2)
	for i, b := range bits {
		if b {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out
}

func (c *Codec) decode(payload []byte) (any, error) {
	switch c.Kind {
	case KindString:
		b := payload[:min(len(payload), max(c.Count, 1)*2)]
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		if utf8.Valid(b) {
			return string(b), nil
		}
		return hex.EncodeToString(b), nil
	case KindBytes:
		return hex.EncodeToString(payload[:min(len(payload), max(c.Count, 1)*2)]), nil
	case KindBits:
		return c.decodeBits(payload)
	}
	w := c.Kind.width()
	nregs := (w + 1) / 2
	if len(payload) < 2*nregs {
		return nil, fmt.Errorf("%w: have %d bytes, need %d", ErrShortData, len(payload), 2*nregs)
	}
	buf := c.reorder(payload[:2*nregs])
	var v any
	switch c.Kind {
	case KindInt8:
		v = int64(int8(buf[0]))
	case KindUint8:
		v = int64(buf[0])
	case KindInt16:
		v = int64(int16(binary.BigEndian.Uint16(buf)))
	case KindUint16:
		v = int64(binary.BigEndian.Uint16(buf))
	case KindInt32:
		v = int64(int32(binary.BigEndian.Uint32(buf)))
	case KindUint32:
		v = int64(binary.BigEndian.Uint32(buf))
	case KindInt64:
		v = int64(binary.BigEndian.Uint64(buf))
	case KindUint64:
		u := binary.BigEndian.Uint64(buf)
		if u > math.MaxInt64 {
			v = float64(u) // a record has no unsigned 64-bit type; ThingsBoard keeps such numbers as doubles too
		} else {
			v = int64(u)
		}
	case KindFloat16:
		v = float16.Frombits(binary.BigEndian.Uint16(buf))
	case KindFloat32:
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(buf)))
	case KindFloat64:
		v = math.Float64frombits(binary.BigEndian.Uint64(buf))
	}
	return c.scale(v)
}

// scale applies divider, multiplier, rounding and variants, and refuses values a record cannot carry.
func (c *Codec) scale(v any) (any, error) {
	if c.Divider != 0 {
		v = toFloat(v) / c.Divider
	}
	if c.Multiplier != 0 {
		if i, ok := v.(int64); ok && c.Multiplier == math.Trunc(c.Multiplier) && math.Abs(c.Multiplier) < 1<<31 {
			v = i * int64(c.Multiplier)
		} else {
			v = toFloat(v) * c.Multiplier
		}
	}
	if f, ok := v.(float64); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("value %v is not a number ThingsBoard can store", f)
		}
		v = roundTo(f, c.Round)
	}
	if len(c.Variants) > 0 {
		if label, ok := c.Variants[fmt.Sprint(v)]; ok {
			return label, nil
		}
	}
	return v, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// roundTo rounds to places decimal places the way Python's round does (correctly rounded decimal), keeping
// values too large to have a fraction as they are.
func roundTo(f float64, places int) float64 {
	if places < 0 || math.Abs(f) >= 1e15 {
		return f
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', places, 64), 64)
	if err != nil {
		return f
	}
	return r
}

func (c *Codec) bitValue(b bool) any {
	if c.BitsAsInt {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	return b
}

// decodeBits lists the bits of each register least significant first, then keeps the last Count of them.
func (c *Codec) decodeBits(payload []byte) (any, error) {
	all := make([]bool, 0, len(payload)*8)
	for i := 0; i+1 < len(payload); i += 2 {
		r := binary.BigEndian.Uint16(payload[i:])
		for b := range 16 {
			all = append(all, r&(1<<b) != 0)
		}
	}
	if c.Bit >= 0 {
		if c.Bit >= len(all) {
			return nil, fmt.Errorf("%w: bit %d of %d", ErrShortData, c.Bit, len(all))
		}
		return c.bitValue(all[c.Bit]), nil
	}
	n := max(c.Count, 1)
	if n > len(all) {
		return nil, fmt.Errorf("%w: %d bits of %d", ErrShortData, n, len(all))
	}
	kept := all[len(all)-n:]
	if n == 1 {
		return c.bitValue(kept[0]), nil
	}
	return c.bitList(kept), nil
}

// bitList renders bits as a JSON array of booleans, or of 0/1 for bitTargetType "int".
func (c *Codec) bitList(kept []bool) tbgateway.RawJSON {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, b := range kept {
		if i > 0 {
			sb.WriteByte(',')
		}
		switch {
		case c.BitsAsInt && b:
			sb.WriteByte('1')
		case c.BitsAsInt:
			sb.WriteByte('0')
		default:
			sb.WriteString(strconv.FormatBool(b))
		}
	}
	sb.WriteByte(']')
	return tbgateway.RawJSON(sb.String())
}

// reorder turns the registers of one value between the device's order and big-endian (most significant byte
// first): wordOrder LITTLE reverses the registers, byteOrder LITTLE swaps the bytes of each. The permutation is
// its own inverse, so decoding and encoding both use it.
func (c *Codec) reorder(regs []byte) []byte {
	n := len(regs) / 2
	out := make([]byte, 2*n)
	for i := range n {
		src := i
		if c.LittleWords {
			src = n - 1 - i
		}
		hi, lo := regs[2*src], regs[2*src+1]
		if c.swapsBytes() {
			hi, lo = lo, hi
		}
		out[2*i], out[2*i+1] = hi, lo
	}
	return out
}

// swapsBytes reports whether the two bytes of each register are swapped: byteOrder LITTLE, except for the 8-bit
// kinds, which pymodbus reads from and writes to the register's first (high) byte whatever the byte order.
func (c *Codec) swapsBytes() bool {
	return c.LittleBytes && c.Kind.width() > 1
}

// NewCodec returns the codec of an item of the given type, objectsCount and function code, with byte and word
// order "BIG" or "LITTLE", and the Python gateway's defaults for the rest.
func NewCodec(typ string, objectsCount, functionCode int, byteOrder, wordOrder string) (*Codec, error) {
	k, err := parseKind(typ, max(objectsCount, 1))
	if err != nil {
		return nil, err
	}
	c := &Codec{Kind: k, Count: max(objectsCount, 1), Bit: -1, Round: DefaultRound,
		LittleBytes: strings.EqualFold(byteOrder, "LITTLE"), LittleWords: strings.EqualFold(wordOrder, "LITTLE")}
	switch functionCode {
	case 1, 2, 5, 15:
		c.Coils = true
	}
	return c, nil
}
