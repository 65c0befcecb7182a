package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// demoModbusDevice is the name of the demo's simulated Modbus device.
const demoModbusDevice = "Modbus Meter 1"

// startDemoModbus starts a simulated Modbus TCP device on a free loopback port (it runs until ctx ends or the
// returned server is closed) and writes the Modbus connector's file (modbus.json) polling it into dir.
func startDemoModbus(ctx context.Context, dir string) (*modbus.Server, error) {
	srv, err := modbus.RunSimulator(ctx, "127.0.0.1:0", time.Second)
	if err != nil {
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portText)
	reg := func(tag, typ string, addr int, extra map[string]any) map[string]any {
		m := map[string]any{"tag": tag, "type": typ, "functionCode": 3, "objectsCount": 1, "address": addr}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cfg := map[string]any{"master": map[string]any{"slaves": []any{map[string]any{
		"host": host, "port": port, "type": "tcp", "method": "socket", "unitId": modbus.CorpusUnit,
		"deviceName": demoModbusDevice, "deviceType": "modbus-meter", "timeout": 35,
		"byteOrder": "BIG", "wordOrder": "BIG", "pollPeriod": 1000,
		"attributes": []any{reg("model", "string", 0, map[string]any{"objectsCount": 2})},
		"timeseries": []any{
			reg("temperature", "16int", modbus.SimTemperatureAddr, map[string]any{"divider": 10}),
			reg("counter", "16uint", modbus.SimCounterAddr, nil),
		},
		"attributeUpdates": []any{reg("setpoint", "16int", 200, map[string]any{"functionCode": 6})},
		"rpc": []any{
			reg("getCounter", "16uint", modbus.SimCounterAddr, nil),
			reg("setSetpoint", "16int", 200, map[string]any{"functionCode": 6}),
		},
	}}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "modbus.json"), b, 0o644)
	}
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	return srv, nil
}
