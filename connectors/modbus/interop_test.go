package modbus_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// debianPython is Debian's interpreter: the first python3 on PATH may be one that cannot see python3-pymodbus.
const debianPython = "/usr/bin/python3"

// needPymodbus skips the test when python3-pymodbus is missing for Debian's python3, or fails it under CI=true.
func needPymodbus(t *testing.T) {
	t.Helper()
	connectortest.NeedPeerFunc(t, "python3-pymodbus", func() error {
		return exec.Command(debianPython, "-c", "import pymodbus, serial_asyncio").Run()
	})
}

// peerProcess starts a command and returns its stdout lines up to and including the first line that ready
// accepts; the process gets SIGTERM at cleanup and the test waits for it to exit.
func peerProcess(t *testing.T, ctx context.Context, fromStderr bool, ready func(string) bool, name string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var other bytes.Buffer
	var out io.ReadCloser
	var err error
	if fromStderr {
		cmd.Stdout = &other
		out, err = cmd.StderrPipe()
	} else {
		cmd.Stderr = &other
		out, err = cmd.StdoutPipe()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines, started := make(chan string), make(chan struct{})
	defer close(started)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-started: // nobody listens any more: drain so the process never blocks on a full pipe
			}
		}
		_ = cmd.Wait()
	}()
	var got []string
	for {
		select {
		case l := <-lines:
			got = append(got, l)
			if ready(l) {
				return got
			}
		case <-exited:
			t.Fatalf("%s exited before it was ready: %q %s", name, got, other.String())
		case <-ctx.Done():
			t.Fatalf("%s not ready: %v; output %q", name, ctx.Err(), got)
		}
	}
}

// startPtyPair makes a pseudo-terminal pair with socat and returns the server's and the client's ends.
func startPtyPair(t *testing.T, ctx context.Context) (srv, cli string) {
	t.Helper()
	p := connectortest.StartPtyPair(t, ctx, "")
	return p.A, p.B
}

// startPymodbus runs testdata/pymodbus_server.py holding the corpus register map (registers 0-63 of both
// register tables, coils and discrete inputs 0-15, unit modbus.CorpusUnit) and returns its listeners by kind
// ("tcp", "rtu-tcp", "udp", "rtu-udp": host:port).
func startPymodbus(t *testing.T, ctx context.Context, rtuPty string) map[string]string {
	t.Helper()
	args := []string{"--tcp", "127.0.0.1:0", "--rtu-tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--rtu-udp", "127.0.0.1:0"}
	if rtuPty != "" {
		args = append(args, "--rtu", rtuPty)
	}
	return runPymodbus(t, ctx, args...)
}

// runPymodbus runs testdata/pymodbus_server.py with the corpus register map and the given listener arguments
// and returns its listeners by kind.
func runPymodbus(t *testing.T, ctx context.Context, listeners ...string) map[string]string {
	t.Helper()
	bank := modbus.CorpusBank()
	init := map[string]any{
		"unit": modbus.CorpusUnit,
		"hr":   bank.Registers(modbus.CorpusUnit, modbus.HoldingRegisters, 0, 64),
		"ir":   bank.Registers(modbus.CorpusUnit, modbus.InputRegisters, 0, 64),
		"co":   bank.Bits(modbus.CorpusUnit, modbus.Coils, 0, 16),
		"di":   bank.Bits(modbus.CorpusUnit, modbus.DiscreteInputs, 0, 16),
	}
	b, _ := json.Marshal(init)
	initFile := filepath.Join(t.TempDir(), "init.json")
	if err := os.WriteFile(initFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{filepath.Join("testdata", "pymodbus_server.py"), "--init", initFile}, listeners...)
	lines := peerProcess(t, ctx, false, func(l string) bool { return l == "READY" }, debianPython, args...)
	out := map[string]string{}
	for _, l := range lines {
		if kind, addr, ok := strings.Cut(l, " "); ok {
			out[kind] = addr
		}
	}
	return out
}

// TestInteropPymodbus polls python3-pymodbus (a Modbus implementation we did not write) over Modbus TCP, RTU
// over TCP, UDP, RTU over UDP and RTU on a pseudo-terminal pair: the corpus' holding-register uplink values
// reach ThingsBoard, and a reserved "set" RPC writes a register that a "get" RPC then reads back.
func TestInteropPymodbus(t *testing.T) {
	needPymodbus(t)
	connectortest.NeedPeer(t, "socat")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srvPty, cliPty := startPtyPair(t, ctx)
	peers := startPymodbus(t, ctx, srvPty)
	cases := []struct {
		name, kind string
		edit       func(s map[string]any)
	}{
		{"tcp", "tcp", nil},
		{"rtu_over_tcp", "rtu-tcp", func(s map[string]any) { s["method"] = "rtu" }},
		{"udp", "udp", func(s map[string]any) { s["type"] = "udp" }},
		{"rtu_over_udp", "rtu-udp", func(s map[string]any) { s["type"], s["method"] = "udp", "rtu" }},
		{"serial_rtu", "", func(s map[string]any) {
			delete(s, "host")
			s["type"], s["method"], s["port"], s["baudrate"] = "serial", "rtu", cliPty, 19200
		}},
	}
	want := readValues(t, "uplink", "holding_registers_values_little.json")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:1"
			if tc.kind != "" {
				addr = peers[tc.kind]
				if addr == "" {
					t.Fatalf("pymodbus did not report a %s listener: %v", tc.kind, peers)
				}
			}
			cfg := corpusConfig(t, "uplink_configs/modbus_uplink_converter_holding_registers_reading_little.json", addr, 100, tc.edit)
			g := startGateway(t, cfg)
			g.waitValues("the corpus values from pymodbus", want)
			value := -1000 - i
			address := 40 + i // one register per case: the cases share the server
			g.rpc(device, "set", fmt.Sprintf("type=16int;functionCode=6;address=%d;objectsCount=1;value=%d", address, value))
			got := g.rpc(device, "get", fmt.Sprintf("type=16int;functionCode=3;address=%d;objectsCount=1", address))
			if !same(float64(value), got) {
				t.Errorf("register %d read back as %v, want %d", address, got, value)
			}
		})
	}
}
