// Command tbemu runs the ThingsBoard emulator: ThingsBoard's MQTT device and
// gateway API on -mqtt (and -tls), an HTTP JSON API and status page on -http.
//
//	tbemu -mqtt 127.0.0.1:1883 -http 127.0.0.1:8080 -devices devices.json
//
// -devices is a JSON list of devices: [{"name":"gw","gateway":true,"token":"..."}],
// with optional type, clientId, username, password and certPem.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tbemu:", err)
		os.Exit(1)
	}
}

type provisionFlags []string

func (p *provisionFlags) String() string     { return strings.Join(*p, ",") }
func (p *provisionFlags) Set(v string) error { *p = append(*p, v); return nil }

func run(args []string) error {
	fs := flag.NewFlagSet("tbemu", flag.ContinueOnError)
	mqttAddr := fs.String("mqtt", "127.0.0.1:1883", "MQTT listen address")
	tlsAddr := fs.String("tls", "", "MQTT over TLS listen address (needs -cert and -key)")
	certFile := fs.String("cert", "", "server certificate (PEM) for -tls")
	keyFile := fs.String("key", "", "server private key (PEM) for -tls")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP API listen address (empty: none)")
	stateFile := fs.String("state", "", "JSON state file: loaded at start, saved at exit")
	devicesFile := fs.String("devices", "", "JSON file with a list of devices to create")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	rpcTimeout := fs.Duration("rpc-timeout", 10*time.Second, "default server-side RPC timeout")
	maxValues := fs.Int("max-values", 100000, "values kept per device and telemetry key")
	maxLog := fs.Int("max-log", 1000000, "messages kept in the raw log")
	var provision provisionFlags
	fs.Var(&provision, "provision", "provisioning profile key:secret (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	opts := tbemu.Options{
		MQTTAddr: *mqttAddr, HTTPAddr: *httpAddr, StateFile: *stateFile, Logger: logger,
		RPCTimeout: *rpcTimeout, MaxValuesPerKey: *maxValues, MaxRawLog: *maxLog,
	}
	if *tlsAddr != "" {
		if *certFile == "" || *keyFile == "" {
			return errors.New("-tls needs -cert and -key")
		}
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load -cert %s / -key %s: %w", *certFile, *keyFile, err)
		}
		opts.TLSAddr = *tlsAddr
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	var devices []tbemu.DeviceSpec
	if *devicesFile != "" {
		b, err := os.ReadFile(*devicesFile)
		if err != nil {
			return fmt.Errorf("read -devices: %w", err)
		}
		if err := json.Unmarshal(b, &devices); err != nil {
			return fmt.Errorf("parse -devices %s: %w", *devicesFile, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := tbemu.Start(ctx, opts)
	if err != nil {
		return err
	}
	for _, d := range devices {
		if err := s.AddDevice(d); err != nil {
			s.Close()
			return fmt.Errorf("-devices %s: %w", *devicesFile, err)
		}
	}
	for _, p := range provision {
		key, secret, ok := strings.Cut(p, ":")
		if !ok {
			s.Close()
			return fmt.Errorf("-provision %q: want key:secret", p)
		}
		s.AddProvisionProfile(key, secret)
	}
	logger.Info("tbemu ready", "mqtt", s.MQTTAddr(), "tls", s.TLSAddr(), "http", s.HTTPURL(), "devices", len(devices))
	<-ctx.Done()
	logger.Info("tbemu stopping")
	return s.Close()
}
