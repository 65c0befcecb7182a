package modbusproto

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Handler answers the requests of a Modbus server.
type Handler interface {
	// ServeModbus answers one request PDU addressed to unit. ok false says the unit is not served: the request
	// gets no answer on a serial line and the "gateway target device failed to respond" exception over TCP,
	// TLS and UDP. Called from one goroutine per client connection (and one for UDP and serial): it must be
	// safe for concurrent use, and it must not keep req's data after it returns.
	ServeModbus(unit uint8, req PDU) (resp PDU, ok bool)
}

// Server defaults.
const (
	DefaultMaxClients  = 64
	DefaultIdleTimeout = 2 * time.Minute
	writeTimeout       = 10 * time.Second
)

// Server serves a Handler over Modbus TCP, TLS and UDP (MBAP or RTU framing) and serial lines (RTU or ASCII). The zero value plus a
// Handler is ready to use. Every goroutine it starts ends before its Serve method returns.
type Server struct {
	Handler Handler
	// MaxClients bounds the connections served at once by ServeStream (DefaultMaxClients when 0); one more is
	// closed at once.
	MaxClients int
	// IdleTimeout closes a stream connection that sends no complete request for that long (DefaultIdleTimeout
	// when 0); it also bounds a TLS handshake.
	IdleTimeout time.Duration
	// Log receives debug lines about dropped frames and closed connections (nothing when nil).
	Log *slog.Logger
}

func (s *Server) debug(msg string, args ...any) {
	if s.Log != nil {
		s.Log.Debug(msg, args...)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// ServeStream accepts connections on ln (TCP, or TLS from tls.NewListener) and serves MBAP frames on each
// until ctx is done (then it closes ln and every connection and returns nil) or Accept fails. Requests on one
// connection are answered in order. A frame with a protocol id other than 0 is skipped; a frame whose length
// field is out of range closes its connection.
func (s *Server) ServeStream(ctx context.Context, ln net.Listener) error {
	return s.serveStream(ctx, ln, s.serveConn)
}

// serveStream accepts connections on ln and serves each with serve in its own goroutine, at most MaxClients at
// once, until ctx is done or Accept fails.
func (s *Server) serveStream(ctx context.Context, ln net.Listener, serve func(ctx context.Context, conn net.Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	maxClients := s.MaxClients
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	slots := make(chan struct{}, maxClients)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case slots <- struct{}{}:
		default:
			s.debug("modbus server: client refused, too many clients", "remote", conn.RemoteAddr().String(), "max", maxClients)
			conn.Close()
			continue
		}
		wg.Go(func() {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			defer conn.Close()
			defer func() { <-slots }() // before the close: a client that saw it may connect again at once
			serve(ctx, conn)
		})
	}
}

// serveConn answers the requests of one stream connection until it fails, idles or sends a frame it cannot
// recover from.
func (s *Server) serveConn(_ context.Context, conn net.Conn) {
	idle := s.idleTimeout()
	buf := make([]byte, MaxMBAPFrame)
	out := make([]byte, 0, MaxMBAPFrame)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		f, err := ReadMBAP(conn, buf)
		if errors.Is(err, ErrProtocolID) {
			s.debug("modbus server: frame of another protocol skipped", "remote", conn.RemoteAddr().String())
			continue
		}
		if err != nil {
			s.debug("modbus server: connection closed", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
		out = AppendMBAP(out[:0], f.Transaction, f.Unit, s.answer(f))
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := conn.Write(out); err != nil {
			s.debug("modbus server: connection closed", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
	}
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// answer returns the response PDU to an MBAP request.
func (s *Server) answer(f MBAPFrame) PDU {
	resp, ok := s.Handler.ServeModbus(f.Unit, f.PDU)
	if !ok {
		return ExceptionPDU(f.PDU.Function&0x7F, GatewayTargetDeviceFailedToRespond)
	}
	return resp
}

// ServePacket serves MBAP frames carried one per datagram on pc (UDP) until ctx is done (then it closes pc and
// returns nil) or reading fails. Malformed datagrams are dropped with a debug line; answers go to the sender.
func (s *Server) ServePacket(ctx context.Context, pc net.PacketConn) error {
	return s.servePacket(ctx, pc, func(dst, b []byte) ([]byte, error) {
		f, err := ParseMBAP(b)
		if err != nil {
			return dst, err
		}
		return AppendMBAP(dst, f.Transaction, f.Unit, s.answer(f)), nil
	})
}

// servePacket reads datagrams on pc and sends the sender the answer frame returns for each, when it appends one
// to dst; a datagram it fails on is dropped with a debug line.
func (s *Server) servePacket(ctx context.Context, pc net.PacketConn, frame func(dst, b []byte) ([]byte, error)) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 64*1024) // a whole datagram, so an oversized one is seen as such, not cut
	out := make([]byte, 0, MaxMBAPFrame)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTimeout(err) {
				continue
			}
			return err
		}
		out, err = frame(out[:0], buf[:n])
		if err != nil {
			s.debug("modbus server: datagram dropped", "remote", from.String(), "bytes", n, "err", err)
			continue
		}
		if len(out) == 0 {
			continue
		}
		if _, err := pc.WriteTo(out, from); err != nil {
			s.debug("modbus server: answer not sent", "remote", from.String(), "err", err)
		}
	}
}
