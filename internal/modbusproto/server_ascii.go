package modbusproto

import (
	"bytes"
	"context"
	"io"
)

// ScanASCII looks for an ASCII frame (':' to LF) in b, the characters received since the last frame. It
// returns how many characters to drop first (noise, or a frame cut short by a new ':' or grown past
// MaxASCIIFrame) and the length of the frame that then starts b[skip:], 0 when more characters are needed.
// A ':' always starts a new frame, as the specification says; a frame is checked (CR, hex, LRC) by DecodeASCII.
func ScanASCII(b []byte) (skip, n int) {
	start := bytes.IndexByte(b, ':')
	if start < 0 {
		return len(b), 0
	}
	for i, c := range b[start+1:] {
		switch {
		case c == ':':
			return start + 1 + i, 0
		case c == '\n':
			return start, i + 2
		case i+2 >= MaxASCIIFrame:
			return start + 1, 0
		}
	}
	return start, 0
}

// ServeASCII serves the Handler over Modbus ASCII on a serial line until ctx is done or the line fails. The
// line's Read must return (a timeout error, or no bytes) now and then when nothing arrives, so that ctx is
// seen. Frames run from ':' to CR LF and are checked by their LRC; malformed frames, frames for units the
// Handler does not serve and broadcasts (unit 0) get no answer. Answers are upper-case hex.
func (s *Server) ServeASCII(ctx context.Context, line io.ReadWriter) error {
	back := make([]byte, 2*MaxASCIIFrame)
	buf := back[:0]
	chunk := make([]byte, MaxASCIIFrame)
	dropped := 0
	for ctx.Err() == nil {
		n, err := line.Read(chunk)
		if err != nil && !isTimeout(err) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		buf = append(buf, chunk[:n]...)
		for {
			skip, l := ScanASCII(buf)
			buf, dropped = buf[skip:], dropped+skip
			if l == 0 {
				break
			}
			if dropped > 0 {
				s.debug("ascii: characters without a frame dropped", "chars", dropped)
				dropped = 0
			}
			if err := s.answerASCII(line, buf[:l]); err != nil {
				return err
			}
			buf = buf[l:]
		}
		buf = back[:copy(back, buf)] // what is left is at most MaxASCIIFrame long: room for the next chunk
	}
	return nil
}

// answerASCII decodes one frame and writes the answer, if any.
func (s *Server) answerASCII(w io.Writer, frame []byte) error {
	unit, req, err := DecodeASCII(frame)
	if err != nil {
		s.debug("ascii: frame dropped", "err", err)
		return nil
	}
	resp, ok := s.serialAnswer(unit, req)
	if !ok {
		return nil
	}
	_, err = w.Write(EncodeASCII(unit, resp))
	return err
}
