package modbus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/goburrow/serial"

	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// Server is a running Modbus server of this package (slave mode, simulated devices): one
// modbusproto.Server on a TCP or TLS listener, a UDP socket or a serial line.
type Server struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// Addr returns the host:port the server listens on, or the serial device it serves.
func (s *Server) Addr() string { return s.addr }

// Close stops the server, closes its listener or line and its client connections, and waits for them.
func (s *Server) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// start runs serve in a goroutine until Close.
func start(addr string, serve func(ctx context.Context)) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{addr: addr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		serve(ctx)
	}()
	return s
}

// ServeTCP serves h over Modbus TCP on addr (host:port; port 0 asks the kernel for a free port).
func ServeTCP(addr string, h modbusproto.Handler) (*Server, error) {
	srv := &modbusproto.Server{Handler: h}
	return serveStream(addr, srv, nil, srv.ServeStream)
}

// serveStream listens on addr (with TLS when tc is set) and runs serve, one of srv's stream methods, on it.
func serveStream(addr string, srv *modbusproto.Server, tc *tls.Config, serve func(context.Context, net.Listener) error) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("modbus server %s: %w", addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return start(ln.Addr().String(), func(ctx context.Context) {
		if err := serve(ctx, ln); err != nil && srv.Log != nil {
			srv.Log.Error("modbus server stopped", "addr", addr, "err", err)
		}
	}), nil
}

// ServeSlave serves h as the slave section says: Modbus TCP (MBAP or RTU framing), TLS (MBAP framing) or UDP
// (MBAP or RTU framing) on cfg.Addr, or RTU or ASCII on a serial port. Device identification requests are
// answered from cfg.Identity. Dropped frames and closed connections are debug lines on log.
func ServeSlave(cfg *SlaveConfig, data modbusproto.DataModel, log *slog.Logger) (*Server, error) {
	id, err := modbusproto.NewDeviceID(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("%s.identity: %w", cfg.Device.Path, err)
	}
	srv := &modbusproto.Server{Handler: modbusproto.DataHandler{Data: data, Identity: id}, Log: log}
	rtu := cfg.Device.Method == "rtu"
	switch cfg.Device.Transport {
	case "udp":
		pc, err := net.ListenPacket("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("modbus server udp %s: %w", cfg.Addr, err)
		}
		serve := srv.ServePacket
		if rtu {
			serve = srv.ServePacketRTU
		}
		return start(pc.LocalAddr().String(), func(ctx context.Context) {
			if err := serve(ctx, pc); err != nil {
				log.Error("modbus server stopped", "addr", cfg.Addr, "err", err)
			}
		}), nil
	case "serial":
		return serveSerial(cfg.Device, srv)
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		if tc, err = slaveTLSConfig(cfg.TLS); err != nil {
			return nil, fmt.Errorf("%s.security: %w", cfg.Device.Path, err)
		}
	}
	if rtu {
		return serveStream(cfg.Addr, srv, tc, srv.ServeStreamRTU)
	}
	return serveStream(cfg.Addr, srv, tc, srv.ServeStream)
}

// rtuSilence is how long a serial line must be quiet before a partial frame is discarded. Frames are delimited
// by their length, so this is well above the protocol's 3.5 character times: USB adapters deliver a frame in
// chunks some milliseconds apart.
const rtuSilence = 50 * time.Millisecond

func serveSerial(dev *Device, srv *modbusproto.Server) (*Server, error) {
	port, err := serial.Open(&serial.Config{Address: dev.SerialPort, BaudRate: dev.Baudrate, DataBits: dev.Bytesize,
		StopBits: dev.Stopbits, Parity: dev.Parity, Timeout: rtuSilence})
	if err != nil {
		return nil, fmt.Errorf("modbus server serial %s: %w", dev.SerialPort, err)
	}
	return start(dev.SerialPort, func(ctx context.Context) {
		defer port.Close()
		serve := srv.ServeRTU
		if dev.Method == "ascii" {
			serve = srv.ServeASCII
		}
		if err := serve(ctx, serialLine{port}); err != nil && srv.Log != nil {
			srv.Log.Error("modbus server stopped", "port", dev.SerialPort, "err", err)
		}
	}), nil
}

// serialLine reports the serial port's read timeout as a deadline error, which the RTU server reads as silence.
type serialLine struct{ serial.Port }

func (l serialLine) Read(b []byte) (int, error) {
	n, err := l.Port.Read(b)
	if errors.Is(err, serial.ErrTimeout) {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}
