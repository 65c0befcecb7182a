package modbusproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// StreamRTUSilence is how long a connection served with RTU framing must be quiet before the bytes of a frame
// not yet complete are discarded (and a frame whose length its function code does not tell ends). It stands
// for the serial line's 3.5 character times, with room for a frame that TCP delivers in several segments.
const StreamRTUSilence = 200 * time.Millisecond

var errIdle = errors.New("modbus: connection idle")

// ServeStreamRTU is ServeStream with RTU framing (unit, PDU, CRC-16, no MBAP header) on each connection, as
// "RTU over TCP" gateways and masters send it: each connection is served like a serial line by ServeRTU, with
// StreamRTUSilence as the line's silence. Frames with a bad CRC, for units the Handler does not serve, and
// broadcasts get no answer.
func (s *Server) ServeStreamRTU(ctx context.Context, ln net.Listener) error {
	return s.serveStream(ctx, ln, func(ctx context.Context, conn net.Conn) {
		err := s.ServeRTU(ctx, &streamLine{Conn: conn, idle: s.idleTimeout(), last: time.Now()})
		s.debug("modbus server: connection closed", "remote", conn.RemoteAddr().String(), "err", err)
	})
}

// streamLine reads a connection as a serial line: a read returns a timeout after StreamRTUSilence without
// bytes, and fails for good once the connection has sent nothing for idle.
type streamLine struct {
	net.Conn
	idle time.Duration
	last time.Time
}

func (l *streamLine) Read(b []byte) (int, error) {
	_ = l.SetReadDeadline(time.Now().Add(StreamRTUSilence))
	n, err := l.Conn.Read(b)
	now := time.Now()
	if n > 0 {
		l.last = now
	} else if isTimeout(err) && now.Sub(l.last) >= l.idle {
		return 0, errIdle
	}
	return n, err
}

func (l *streamLine) Write(b []byte) (int, error) {
	_ = l.SetWriteDeadline(time.Now().Add(writeTimeout))
	return l.Conn.Write(b)
}

// ServePacketRTU is ServePacket with RTU framing: each datagram holds one RTU request frame (unit, PDU,
// CRC-16) and the answer is one RTU frame. A datagram that is not exactly one request frame with a valid CRC is
// dropped, as are requests for units the Handler does not serve and broadcasts (no answer).
func (s *Server) ServePacketRTU(ctx context.Context, pc net.PacketConn) error {
	return s.servePacket(ctx, pc, func(dst, b []byte) ([]byte, error) {
		frame, err := ParseRTUDatagram(b)
		if err != nil {
			return dst, err
		}
		return s.appendRTUAnswer(dst, frame), nil
	})
}

// ParseRTUDatagram checks that b is exactly one RTU request frame with a valid CRC and returns it.
func ParseRTUDatagram(b []byte) ([]byte, error) {
	n, request, _ := ScanRTU(b, true)
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: no RTU request with a valid CRC in a datagram of %d bytes", ErrFrame, len(b))
	case !request:
		return nil, fmt.Errorf("%w: an RTU response, not a request", ErrFrame)
	case n != len(b):
		return nil, fmt.Errorf("%w: RTU frame of %d bytes followed by %d more in one datagram", ErrFrame, n, len(b)-n)
	}
	return b, nil
}
