package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// demoBLEDevice is the name of the demo's simulated BLE thermometer.
const demoBLEDevice = "BLE Thermometer"

// demoBLE is the running BLE simulator (cmd/blesim): a private D-Bus with a stand-in of bluetoothd serving one
// thermometer. It lives in its own program so that the stand-in is never part of the gateway's binary.
type demoBLE struct {
	cmd   *exec.Cmd
	stdin io.Closer
	bus   string
}

// findBLESim returns the BLE simulator program to use: path when set, else "blesim" next to this executable
// (where `make demo` builds it), else "" (the demo then runs without BLE).
func findBLESim(path string) string {
	if path != "" {
		return path
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), "blesim")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// startDemoBLE starts the simulator program at path, waits for its bus address and writes the BLE connector's
// file (ble.json) for the thermometer into dir, and adds the connector to dir's tb_gateway.json. ctx bounds the
// start; the simulator runs until close.
func startDemoBLE(ctx context.Context, path, dir string) (_ *demoBLE, err error) {
	cmd := exec.Command(path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closing it stops the simulator, also when the demo is killed
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &demoBLE{cmd: cmd, stdin: stdin}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case l, ok := <-line:
		if !ok || !strings.HasPrefix(l, "BUS=") {
			return nil, fmt.Errorf("%s did not print its bus address", path)
		}
		b.bus = strings.TrimPrefix(l, "BUS=")
	}
	if err := writeDemoBLEConfig(dir, b.bus); err != nil {
		return nil, err
	}
	return b, nil
}

// writeDemoBLEConfig writes ble.json for the thermometer on the bus at busAddress and lists it in tb_gateway.json.
func writeDemoBLEConfig(dir, busAddress string) error {
	read := func(key, uuid, expr string) map[string]any {
		return map[string]any{"key": key, "method": "read", "characteristicUUID": uuid, "valueExpression": expr}
	}
	notify := func(key, expr string) map[string]any {
		return map[string]any{"key": key, "method": "notify", "characteristicUUID": "226CAA55-6476-4566-7562-66734470666D", "valueExpression": expr}
	}
	cfg := map[string]any{
		"name": "Demo BLE thermometer", "busAddress": busAddress, "passiveScanMode": false,
		"scanner": map[string]any{"timeout": 5000},
		"devices": []any{map[string]any{
			"name": demoBLEDevice, "deviceType": "ble-thermometer", "MACAddress": "C0:FF:EE:00:00:01", "type": "hex",
			"pollPeriod": 5000, "timeout": 10000,
			"telemetry":        []any{notify("temperature", "[2]"), notify("humidity", "[0]"), read("battery", "00002A19-0000-1000-8000-00805F9B34FB", "[0]")},
			"attributes":       []any{map[string]any{"key": "name", "method": "read", "characteristicUUID": "00002A00-0000-1000-8000-00805F9B34FB", "valueExpression": "[:]"}},
			"attributeUpdates": []any{map[string]any{"attributeOnThingsBoard": "displayName", "characteristicUUID": "00002A00-0000-1000-8000-00805F9B34FB"}},
			"serverSideRpc": []any{
				map[string]any{"methodRPC": "readBattery", "withResponse": true, "characteristicUUID": "00002A19-0000-1000-8000-00805F9B34FB", "methodProcessing": "read"},
				map[string]any{"methodRPC": "scan", "withResponse": true, "methodProcessing": "scan"},
			},
		}},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ble.json"), data, 0o644); err != nil {
		return err
	}
	mainPath := filepath.Join(dir, "tb_gateway.json")
	raw, err := os.ReadFile(mainPath)
	if err != nil {
		return err
	}
	var main map[string]any
	if err := json.Unmarshal(raw, &main); err != nil {
		return fmt.Errorf("%s: %w", mainPath, err)
	}
	list, _ := main["connectors"].([]any)
	main["connectors"] = append(list, map[string]any{"type": "ble", "name": "Demo BLE thermometer", "configuration": "ble.json"})
	if raw, err = json.MarshalIndent(main, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(mainPath, raw, 0o644)
}

// close stops the simulator: its standard input closes, it stops its bus and exits.
func (b *demoBLE) close() {
	_ = b.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = b.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}
