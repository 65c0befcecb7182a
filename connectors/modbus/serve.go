package modbus

import (
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"time"

	mb "github.com/simonvetter/modbus"
)

// Server is a Modbus TCP server run by this package (slave mode, simulated devices).
type Server struct {
	srv  *mb.ModbusServer
	addr string
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and closes its client connections.
func (s *Server) Close() error { return s.srv.Stop() }

// ServeTCP serves h over Modbus TCP on addr (host:port). Port 0 asks the kernel for a free port: the library
// binds by URL only, so a free port is found first and bound right after; a port taken in between is tried
// again with another one.
func ServeTCP(addr string, h mb.RequestHandler) (*Server, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("modbus server address %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 5
	}
	var lastErr error
	for range tries {
		p := port
		if port == "0" {
			if p, err = freePort(host); err != nil {
				return nil, err
			}
		}
		hp := net.JoinHostPort(host, p)
		srv, err := mb.NewServer(&mb.ServerConfiguration{
			URL: "tcp://" + hp, Timeout: 10 * time.Minute, MaxClients: 64,
			Logger: log.New(io.Discard, "", 0),
		}, h)
		if err != nil {
			return nil, fmt.Errorf("modbus server %s: %w", hp, err)
		}
		if err := srv.Start(); err != nil {
			lastErr = fmt.Errorf("modbus server %s: %w", hp, err)
			continue
		}
		return &Server{srv: srv, addr: hp}, nil
	}
	return nil, lastErr
}

func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
