package main

import (
	"context"
	"io"
	stdlog "log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tbgateway/tbgateway/connectors/opcua/simserver"
)

// startDemoOPCUA starts a simulated OPC-UA server on a free loopback port and writes the OPC-UA connector's file
// (opcua.json) for it into dir. The server stops when ctx ends or close is called.
func startDemoOPCUA(ctx context.Context, dir string) (*simserver.Server, error) {
	// The simulator cannot report a port the kernel chose, so ask the kernel for a free one first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// The simulator's server library prints its start-up through the standard log package; the demo has its own.
	stdlog.SetOutput(io.Discard)
	sim, err := simserver.Start(ctx, "127.0.0.1", port, time.Second)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "opcua.json"), simserver.DemoConfig(sim.URL), 0o644); err != nil {
		sim.Close()
		return nil, err
	}
	return sim, nil
}
