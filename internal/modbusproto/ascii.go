package modbusproto

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Modbus ASCII framing (Modbus over Serial Line V1.02, 2.5.2): ':' then the address, the PDU and the LRC as two
// hexadecimal characters per byte, then CR LF. The LRC covers the binary address and PDU bytes.

// MaxASCIIFrame is the longest ASCII frame: ':', address, a PDU of MaxPDUSize bytes and the LRC in hex, CR LF.
const MaxASCIIFrame = 1 + 2*(1+MaxPDUSize+1) + 2

// ErrFrame is a frame that cannot be decoded: bad start or end, characters that are not hexadecimal, a wrong
// length. ErrChecksum is a well-formed frame whose CRC or LRC does not match its bytes.
var (
	ErrFrame    = errors.New("modbus: malformed frame")
	ErrChecksum = errors.New("modbus: checksum mismatch")
)

// EncodeASCII returns the ASCII frame of a PDU for a unit: upper-case hex, LRC, CR LF.
func EncodeASCII(unit byte, p PDU) []byte {
	bin := make([]byte, 0, 3+len(p.Data))
	bin = append(append(append(bin, unit, p.Function), p.Data...), 0)
	bin[len(bin)-1] = LRC(bin[:len(bin)-1])
	out := make([]byte, 1+2*len(bin)+2)
	out[0] = ':'
	hexUpper(out[1:], bin)
	out[len(out)-2], out[len(out)-1] = '\r', '\n'
	return out
}

func hexUpper(dst, src []byte) {
	const digits = "0123456789ABCDEF"
	for i, b := range src {
		dst[2*i], dst[2*i+1] = digits[b>>4], digits[b&0x0f]
	}
}

// DecodeASCII decodes one whole ASCII frame, from ':' to CR LF, into its unit and PDU. Hex digits of either case
// are accepted. It fails with ErrFrame for a malformed frame and ErrChecksum for a wrong LRC; it never panics.
func DecodeASCII(frame []byte) (unit byte, p PDU, err error) {
	if len(frame) > MaxASCIIFrame {
		return 0, PDU{}, fmt.Errorf("%w: ASCII frame of %d characters exceeds %d", ErrFrame, len(frame), MaxASCIIFrame)
	}
	if len(frame) < 1+2*3+2 || frame[0] != ':' || frame[len(frame)-2] != '\r' || frame[len(frame)-1] != '\n' {
		return 0, PDU{}, fmt.Errorf("%w: not an ASCII frame (':', at least 3 hex bytes, CR LF): %q", ErrFrame, frame)
	}
	body := frame[1 : len(frame)-2]
	if len(body)%2 != 0 {
		return 0, PDU{}, fmt.Errorf("%w: odd number of hex characters in ASCII frame %q", ErrFrame, frame)
	}
	bin := make([]byte, len(body)/2)
	if _, err := hex.Decode(bin, body); err != nil {
		return 0, PDU{}, fmt.Errorf("%w: ASCII frame %q: %v", ErrFrame, frame, err)
	}
	n := len(bin) - 1
	if want := LRC(bin[:n]); bin[n] != want {
		return 0, PDU{}, fmt.Errorf("%w: ASCII frame %q carries LRC %02X, its bytes give %02X", ErrChecksum, frame, bin[n], want)
	}
	return bin[0], PDU{Function: bin[1], Data: bin[2:n]}, nil
}
