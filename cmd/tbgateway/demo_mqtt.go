package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
)

// demoMQTTDevices is how many MQTT devices the demo simulates, and demoMQTTPeriod how often each publishes.
const (
	demoMQTTDevices = 3
	demoMQTTPeriod  = time.Second
)

// demoBroker is the demo's embedded MQTT broker with the simulated MQTT devices publishing to it.
type demoBroker struct {
	srv  *mochi.Server
	addr string
	left chan struct{} // a client has disconnected (see departures)
}

// brokerLeaveWait bounds how long close waits for clients still connected (one a user attached, say).
const brokerLeaveWait = 200 * time.Millisecond

// departures tells close that a client left, so that close can let the devices' own DISCONNECT finish instead of
// cutting their connection (mochi logs each connection it cuts as a warning).
type departures struct {
	mochi.HookBase
	left chan<- struct{}
}

func (h *departures) ID() string { return "demo-departures" }

func (h *departures) Provides(b byte) bool { return b == mochi.OnDisconnect }

func (h *departures) OnDisconnect(*mochi.Client, error, bool) {
	select {
	case h.left <- struct{}{}:
	default:
	}
}

// startDemoBroker starts an embedded broker on a free loopback port and writes the MQTT connector's file
// (mqtt.json) for it into dir.
func startDemoBroker(dir string, log *slog.Logger) (*demoBroker, error) {
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	left := make(chan struct{}, 1)
	if err := srv.AddHook(&departures{left: left}, nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close() // mochi opens its own listener on this address
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("demo MQTT broker: %w", err)
	}
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	if err := os.WriteFile(filepath.Join(dir, "mqtt.json"), mqtt.DemoConfig(host, port), 0o644); err != nil {
		srv.Close()
		return nil, err
	}
	return &demoBroker{srv: srv, addr: addr, left: left}, nil
}

// runDevices runs the simulated MQTT devices until ctx ends.
func (b *demoBroker) runDevices(ctx context.Context, log *slog.Logger) {
	if err := mqtt.RunDemoDevices(ctx, b.addr, demoMQTTDevices, demoMQTTPeriod); err != nil && ctx.Err() == nil {
		log.Error("simulated MQTT devices stopped", "err", err)
	}
}

// close stops the broker once its clients have left, or after brokerLeaveWait.
func (b *demoBroker) close() {
	deadline := time.After(brokerLeaveWait)
wait:
	for b.connected() > 0 {
		select {
		case <-b.left:
		case <-deadline:
			break wait
		}
	}
	_ = b.srv.Close()
}

// connected counts the clients whose connection is open.
func (b *demoBroker) connected() int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Closed() {
			n++
		}
	}
	return n
}
