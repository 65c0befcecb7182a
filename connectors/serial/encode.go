package serial

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/tbgateway/tbgateway/internal/template"
	"github.com/tbgateway/tbgateway/internal/values"
)

// EncodeParams is the built-in downlink converter (the Python sample's SerialDownlinkConverter): the bytes an
// RPC of type typ writes for params (a record value: bool, int64, float64, string or RawJSON).
//   - int: a non-negative integer as the fewest bytes that hold it (at least one), in order's byte order;
//   - float, double: 4 bytes (IEEE 754 single) when that holds the value exactly, else 8 (double);
//   - any other type: the params as text (a string as it is, numbers and JSON as written).
//
// No delimiter is added, as in the Python sample. nil params are an error: there is nothing to write.
func EncodeParams(typ string, order binary.ByteOrder, params any) ([]byte, error) {
	if params == nil {
		return nil, errors.New("the RPC has no params to write")
	}
	switch typ {
	case "int":
		n, err := values.ToInt(params)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, fmt.Errorf("%d: type int writes unsigned integers only", n)
		}
		var full [8]byte
		binary.BigEndian.PutUint64(full[:], uint64(n))
		size := max(1, (64-bits.LeadingZeros64(uint64(n))+7)/8)
		b := full[8-size:]
		if order == binary.LittleEndian {
			for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
				b[i], b[j] = b[j], b[i]
			}
		}
		return b, nil
	case "float", "double":
		f, err := values.ToFloat(params)
		if err != nil {
			return nil, err
		}
		if f32 := float32(f); float64(f32) == f {
			b := make([]byte, 4)
			order.PutUint32(b, math.Float32bits(f32))
			return b, nil
		}
		b := make([]byte, 8)
		order.PutUint64(b, math.Float64bits(f))
		return b, nil
	}
	return []byte(values.Text(params)), nil
}

// renderUpdate is the text an attribute update writes: ToDevice with ${<attribute>} as the value's text,
// ${deviceName} and ${deviceType} replaced.
func renderUpdate(au *AttributeUpdate, dc *DeviceConfig, value any) []byte {
	vars := template.Vars(map[string]string{au.Attribute: values.Text(value), "deviceName": dc.Name, "deviceType": dc.Type})
	return []byte(au.ToDevice.Render(vars))
}
