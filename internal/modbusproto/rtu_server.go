package modbusproto

import (
	"context"
	"encoding/binary"
	"io"
)

// MaxRTUFrame is the largest RTU frame: address, the largest PDU and the CRC.
const MaxRTUFrame = 1 + MaxPDUSize + 2

// rtuRequestLen returns the length of the request frame starting b, computed from its function code: 0 when
// more bytes are needed to know it, -1 when the function's request length is not known (the frame then ends at
// the line's silence).
func rtuRequestLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case 1, 2, 3, 4, 5, 6, 8:
		return 8
	case 7, 11, 12, 17:
		return 4
	case 15, 16:
		if len(b) < 7 {
			return 0
		}
		return 9 + int(b[6])
	case 20, 21:
		if len(b) < 3 {
			return 0
		}
		return 5 + int(b[2])
	case 22:
		return 10
	case 23:
		if len(b) < 11 {
			return 0
		}
		return 13 + int(b[10])
	case 24:
		return 6
	case FuncEncapsulatedInterface:
		if len(b) < 3 {
			return 0
		}
		if b[2] == MEIReadDeviceID {
			return 7
		}
	}
	return -1
}

// rtuResponseLen returns the length of a response frame starting b (another station's answer seen on a shared
// line), with the same 0 and -1 conventions as rtuRequestLen.
func rtuResponseLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1]&0x80 != 0 {
		return 5
	}
	switch b[1] {
	case 1, 2, 3, 4, 12, 17, 20, 21, 23:
		if len(b) < 3 {
			return 0
		}
		return 5 + int(b[2])
	case 5, 6, 8, 11, 15, 16:
		return 8
	case 7:
		return 5
	case 22:
		return 10
	}
	return -1
}

func crcOK(f []byte) bool {
	n := len(f) - 2
	return n >= 2 && binary.LittleEndian.Uint16(f[n:]) == CRC16(f[:n])
}

// ScanRTU looks for an RTU frame at the start of b, which holds the bytes received since the last frame.
// silence says the line has been quiet since b's last byte (a frame cannot grow any more). It returns the
// frame's length n and whether it is a request (false: another station's response, to be skipped); or need
// when more bytes may complete a frame; or n 0 and need false when no frame with a valid CRC starts at b[0]
// (the caller drops that byte and scans again).
func ScanRTU(b []byte, silence bool) (n int, request, need bool) {
	if len(b) < 4 {
		return 0, false, !silence && len(b) > 0
	}
	reqLen := rtuRequestLen(b)
	for i, l := range []int{reqLen, rtuResponseLen(b)} {
		switch {
		case l == 0 || (l > len(b) && l <= MaxRTUFrame):
			need = true
		case l < 0 || l > MaxRTUFrame:
		case crcOK(b[:l]):
			return l, i == 0, false
		}
	}
	if reqLen < 0 {
		if silence && len(b) <= MaxRTUFrame && crcOK(b) {
			return len(b), true, false
		}
		need = true
	}
	if silence || len(b) >= MaxRTUFrame {
		need = false
	}
	return 0, false, need
}

// ServeRTU serves the Handler over Modbus RTU on a serial line until ctx is done or the line fails. The line's
// Read must return within the line's silence interval (a timeout error, or no bytes) when nothing arrives: that
// silence ends a frame whose length the function code does not tell, and discards an incomplete one. Frames
// are delimited by the request length their function code implies and checked by their CRC; frames with a bad
// CRC, frames for units the Handler does not serve and other stations' responses are dropped without an answer
// (counted in a debug line); requests to unit 0 (broadcast) are served only by a Handler that serves unit 0,
// and never answered.
func (s *Server) ServeRTU(ctx context.Context, line io.ReadWriter) error {
	back := make([]byte, 2*MaxRTUFrame)
	buf := back[:0]
	chunk := make([]byte, MaxRTUFrame)
	dropped := 0
	for ctx.Err() == nil {
		n, err := line.Read(chunk)
		silence := n == 0
		if err != nil {
			if !isTimeout(err) {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			silence = true
		}
		buf = append(buf, chunk[:n]...)
		for len(buf) > 0 {
			l, request, need := ScanRTU(buf, silence)
			if need {
				break
			}
			if l == 0 {
				buf, dropped = buf[1:], dropped+1
				continue
			}
			if dropped > 0 {
				s.debug("rtu: bytes without a valid frame dropped", "bytes", dropped)
				dropped = 0
			}
			if request {
				if err := s.answerRTU(line, buf[:l]); err != nil {
					return err
				}
			}
			buf = buf[l:]
		}
		if silence && dropped > 0 {
			s.debug("rtu: bytes without a valid frame dropped", "bytes", dropped)
			dropped = 0
		}
		buf = back[:copy(back, buf)] // what is left is shorter than MaxRTUFrame: room for the next chunk
	}
	return nil
}

// answerRTU serves one request frame (CRC already checked) and writes the answer, if any.
func (s *Server) answerRTU(w io.Writer, frame []byte) error {
	out := s.appendRTUAnswer(nil, frame)
	if len(out) == 0 {
		return nil
	}
	_, err := w.Write(out)
	return err
}

// appendRTUAnswer serves one request frame (CRC already checked) and appends the answer frame to dst; nothing
// when it gets none.
func (s *Server) appendRTUAnswer(dst, frame []byte) []byte {
	req, err := ParsePDU(frame[1 : len(frame)-2])
	if err != nil {
		s.debug("rtu: request dropped", "err", err)
		return dst
	}
	resp, ok := s.serialAnswer(frame[0], req)
	if !ok {
		return dst
	}
	n := len(dst)
	dst = append(append(dst, frame[0]), resp.Bytes()...)
	return binary.LittleEndian.AppendUint16(dst, CRC16(dst[n:]))
}

// serialAnswer serves a request of a serial framing (RTU, ASCII): ok false when it gets no answer, as it is for
// a unit the Handler does not serve or a broadcast (unit 0).
func (s *Server) serialAnswer(unit uint8, req PDU) (resp PDU, ok bool) {
	resp, ok = s.Handler.ServeModbus(unit, req)
	if !ok {
		s.debug("modbus server: request for another unit ignored", "unit", unit)
		return PDU{}, false
	}
	return resp, unit != 0
}
