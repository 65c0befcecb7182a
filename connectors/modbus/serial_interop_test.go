//go:build linux

package modbus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/tbgateway/tbgateway/internal/connectortest"
	"golang.org/x/sys/unix"
)

// Notes on Debian's pymodbus 3.0.0 (3.0.0.rc1) ASCII framer, met while testing against it:
//   - It sends upper-case hex and decodes either case.
//   - Its serial server must be given framer=ModbusAsciiFramer explicitly only when the server classes are used
//     (StartAsyncSerialServer defaults to it; ModbusSerialServer defaults to RTU).
//   - A frame whose LRC does not match is never dropped: checkFrame returns False and the framer waits for more
//     data with the bad frame still at the head of its buffer, so every later request on the line goes
//     unanswered until the server restarts (the gateway sees timeouts). Our client never sends a wrong LRC, but a
//     line noise hit on a request wedges such a device.
//   - ModbusSerialServer.start swallows a failure to configure the port other than serial.SerialException: with
//     7 data bits or a parity on a Linux pty pyserial's tcsetattr fails (EINVAL), and the server looks started
//     but never answers. Our peer therefore runs 8N1 (a pty carries the bytes whatever the settings).
//   - A frame for a unit id it does not serve resets the whole buffer (later frames in the same read are lost)
//     and is not answered.

// serialSlave points a corpus slave at a serial port with the given method.
func serialSlave(port, method string, extra map[string]any) func(s map[string]any) {
	return func(s map[string]any) {
		delete(s, "host")
		s["type"], s["method"], s["port"] = "serial", method, port
		for k, v := range extra {
			s[k] = v
		}
	}
}

// corpusValues are the corpus' holding register values, read LITTLE.
func corpusValues(t *testing.T) map[string]any {
	return readValues(t, "uplink", "holding_registers_values_little.json")
}

// TestInteropPymodbusASCII polls pymodbus' ASCII server on a pty pair with method ascii at 9600 7E2: the
// corpus' holding-register values arrive, a "set" RPC writes a register that a "get" RPC reads back, and the
// gateway's end of the pty carries the configured speed and stop bits.
func TestInteropPymodbusASCII(t *testing.T) {
	needPymodbus(t)
	connectortest.NeedPeer(t, "socat")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srvPty, cliPty := startPtyPair(t, ctx)
	runPymodbus(t, ctx, "--ascii", srvPty)
	cfg := corpusConfig(t, "uplink_configs/modbus_uplink_converter_holding_registers_reading_little.json", "127.0.0.1:1", 100,
		serialSlave(cliPty, "ascii", map[string]any{"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 2}))
	g := startGateway(t, cfg)
	g.waitValues("the corpus values from pymodbus over ASCII", corpusValues(t))
	g.rpc(device, "set", "type=16int;functionCode=6;address=50;objectsCount=1;value=-1234")
	if got := g.rpc(device, "get", "type=16int;functionCode=3;address=50;objectsCount=1"); !same(float64(-1234), got) {
		t.Errorf("register 50 read back as %v, want -1234", got)
	}

	// the settings of a tty belong to the device, so the test's own descriptor reads what the gateway set
	f, err := os.OpenFile(cliPty, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	// a Linux pty keeps 8 data bits and no parity whatever is asked (TestSerialConfig covers those settings)
	if tio.Cflag&unix.CBAUD != unix.B9600 || tio.Cflag&unix.CSTOPB == 0 {
		t.Errorf("the gateway's pty end has c_cflag %#o, want 9600 baud and 2 stop bits", tio.Cflag)
	}
}

// echoRelay joins the gateway's end of one pty pair (gw) to the peer's end of another (peer) as an RS-485
// adapter that hears its own transmission: every byte the gateway writes comes back to the gateway before it
// goes on to the peer; the peer's answers go to the gateway.
func echoRelay(t *testing.T, gw, peer string) {
	t.Helper()
	open := func(name string) *os.File {
		f, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := open(gw), open(peer)
	var wg sync.WaitGroup
	relay := func(from *os.File, to ...*os.File) {
		buf := make([]byte, 512)
		for {
			n, err := from.Read(buf)
			for _, w := range to {
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						return
					}
				}
			}
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
					t.Logf("echo relay: %v", err)
				}
				return
			}
		}
	}
	wg.Go(func() { relay(a, a, b) }) // the echo first, as the adapter hears it while sending
	wg.Go(func() { relay(b, a) })
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})
}

// TestInteropLocalEcho runs RTU and ASCII lines through an echoing relay to pymodbus: with handleLocalEcho the
// corpus values arrive; without it every poll fails and the gateway logs an error naming the device and the
// key to set, and no value is taken from the echo.
func TestInteropLocalEcho(t *testing.T) {
	needPymodbus(t)
	connectortest.NeedPeer(t, "socat")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	type pair struct{ srv, cli string }
	ptys := map[string][2]pair{}
	for _, method := range []string{"rtu", "ascii"} {
		var p [2]pair
		p[0].srv, p[0].cli = startPtyPair(t, ctx) // pymodbus .. relay
		p[1].srv, p[1].cli = startPtyPair(t, ctx) // relay .. gateway
		echoRelay(t, p[1].srv, p[0].cli)
		ptys[method] = p
	}
	runPymodbus(t, ctx, "--rtu", ptys["rtu"][0].srv, "--ascii", ptys["ascii"][0].srv)
	for _, method := range []string{"rtu", "ascii"} {
		for _, echo := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s_handleLocalEcho_%v", method, echo), func(t *testing.T) {
				cfg := corpusConfig(t, "uplink_configs/modbus_uplink_converter_holding_registers_reading_little.json", "127.0.0.1:1", 100,
					serialSlave(ptys[method][1].cli, method, map[string]any{"handleLocalEcho": echo}))
				g := startGateway(t, cfg)
				if echo {
					// a fault ends the wait early (its disconnect changes the emulator's state) and fails the test
					fault := []string{`msg="device fault"`, device}
					want := corpusValues(t)
					g.WaitFor("the corpus values through an echoing line, or a fault", func() bool {
						return g.GW.Log.Contains(fault...) || g.hasValues(want)
					})
					if g.GW.Log.Contains(fault...) {
						t.Fatalf("the device failed with handleLocalEcho on an echoing line: %q", g.GW.Log.Lines())
					}
					return
				}
				g.GW.WaitLog(g.Ctx, device, "the line echoes what is sent", "set handleLocalEcho: true for this device")
				if latest := g.Emu.Latest(device); len(latest) != 0 {
					t.Errorf("values taken from an echoing line without handleLocalEcho: %v", latest)
				}
			})
		}
	}
}
