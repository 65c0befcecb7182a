package serial

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// testTimeout bounds each test: a failure bound for a hang, never a pacing.
const testTimeout = 60 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// farEnd is the test's serial device: the other end of a pty pair. It records every byte the connector writes.
type farEnd struct {
	f       *os.File
	mu      sync.Mutex
	got     []byte
	changed chan struct{}
	done    chan struct{}
}

func openFarEnd(t *testing.T, path string) *farEnd {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &farEnd{f: f, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		buf := make([]byte, 256)
		for {
			n, err := f.Read(buf)
			d.mu.Lock()
			d.got = append(d.got, buf[:n]...)
			close(d.changed)
			d.changed = make(chan struct{})
			d.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { f.Close(); <-d.done })
	return d
}

// send writes a device line (or any bytes) to the connector.
func (d *farEnd) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(d.f, s); err != nil {
		t.Fatalf("device write: %v", err)
	}
}

// waitFor waits until the bytes the connector wrote hold want.
func (d *farEnd) waitFor(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	if err := d.wait(ctx, want); err != nil {
		t.Fatal(err)
	}
}

// wait is waitFor for goroutines other than the test's.
func (d *farEnd) wait(ctx context.Context, want string) error {
	for {
		d.mu.Lock()
		found, changed := bytes.Contains(d.got, []byte(want)), d.changed
		got := string(d.got)
		d.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("the device never received %q; it has %q", want, got)
		}
	}
}

// sampleDevice is the Python sample's device (custom_serial.json) on port.
func sampleDevice(name, port string) map[string]any {
	return map[string]any{
		"name": name, "type": "default", "port": port, "baudrate": 9600,
		"converter": "SerialUplinkConverter", "downlink_converter": "SerialDownlinkConverter",
		"telemetry":        []any{map[string]any{"type": "float", "key": "humidity", "untilDelimiter": "\r"}},
		"attributes":       []any{map[string]any{"key": "SerialNumber", "type": "string", "fromByte": 4, "toByte": -1}},
		"attributeUpdates": []any{map[string]any{"attributeOnPlatform": "attr1", "stringToDevice": "value = ${attr1}\n"}},
		"serverSideRpc": []any{
			map[string]any{"method": "setValue", "type": "int", "withResponse": true, "responseType": "string",
				"responseUntilDelimiter": "\r", "responseTimeoutSec": 30},
			map[string]any{"method": "getValue", "type": "string", "withResponse": false},
		},
	}
}

// newTestConnector builds a connector of the given devices logging into a Log the test can wait on, reopening
// ports quickly.
func newTestConnector(t *testing.T, devices ...map[string]any) (*Connector, *gwtest.Log) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"name": "Custom serial connector", "devices": devices})
	cfg, _, err := Decode("custom_serial.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	log := gwtest.NewLog()
	c, err := New(cfg, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	c.reconnect = backoff.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	return c, log
}

// runConnector runs c on sink until the test ends; Run must then return nil.
func runConnector(t *testing.T, c *Connector, sink tbgateway.Sink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// waitLog waits for a log line holding every part.
func waitLog(ctx context.Context, t *testing.T, log *gwtest.Log, parts ...string) {
	t.Helper()
	if err := log.Wait(ctx, parts...); err != nil {
		t.Fatalf("no log line with %q: %v\n%s", parts, err, log.Lines())
	}
}

// waitValue waits until a stored record of device holds key (telemetry or attribute) with value want.
func waitValue(ctx context.Context, t *testing.T, sink *connectortest.Sink, device, key string, want any) {
	t.Helper()
	err := sink.Await(ctx, func(stored []tbgateway.Record, _ []connectortest.Attempt, _ int) bool {
		for _, r := range stored {
			if r.Device != device {
				continue
			}
			if v, ok := r.Attributes[key]; ok && v == want {
				return true
			}
			for _, tm := range r.Telemetry {
				if v, ok := tm.Values[key]; ok && v == want {
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("device %s: %s = %v never stored; stored %+v", device, key, want, sink.Records())
	}
}

// TestLinesAndBadLines: lines a device writes become telemetry and attributes; a line that does not convert is
// one device fault, logged once naming the device, the port and the line, while the device's next lines and
// another device on its own port go on; a good line clears the fault.
func TestLinesAndBadLines(t *testing.T) {
	ctx := testCtx(t)
	p1, p2 := connectortest.StartPtyPair(t, ctx, ""), connectortest.StartPtyPair(t, ctx, "")
	c, log := newTestConnector(t, sampleDevice("SerialDevice1", p1.A), sampleDevice("SerialDevice2", p2.A))
	sink := connectortest.NewSink()
	runConnector(t, c, sink)
	waitLog(ctx, t, log, "port open", "SerialDevice1")
	waitLog(ctx, t, log, "port open", "SerialDevice2")
	d1, d2 := openFarEnd(t, p1.B), openFarEnd(t, p2.B)

	d1.send(t, "45.2\rSN-12345\n")
	waitValue(ctx, t, sink, "SerialDevice1", "humidity", 45.2)
	waitValue(ctx, t, sink, "SerialDevice1", "SerialNumber", "SN-12345")

	d1.send(t, "wet?\rSN-2\n")
	d1.send(t, "damp\rSN-3\n")
	waitValue(ctx, t, sink, "SerialDevice1", "SerialNumber", "SN-3") // the bad key did not stop the line nor the next
	waitLog(ctx, t, log, "device fault", `device=SerialDevice1`, "port="+p1.A, `wet`, `telemetry \"humidity\"`)
	if n := log.Count("level=WARN", "device fault", "SerialDevice1"); n != 1 {
		t.Errorf("the fault was logged %d times at warning level, want once per episode", n)
	}
	if st := c.DeviceFaults(); st.Faults != 2 || st.Active != 1 {
		t.Errorf("faults %+v, want 2 counted and 1 active", st)
	}
	d2.send(t, "10\rOTHER\n")
	waitValue(ctx, t, sink, "SerialDevice2", "humidity", 10.0)

	d1.send(t, "50\rSN-4\n")
	waitValue(ctx, t, sink, "SerialDevice1", "humidity", 50.0)
	waitLog(ctx, t, log, "device fault cleared", "SerialDevice1")
	if st := c.DeviceFaults(); st.Active != 0 {
		t.Errorf("faults %+v after a good line, want none active", st)
	}
}

// TestPortVanishes: when the port goes away (socat stopped, as a USB adapter pulled out) the device is in fault,
// writes fail at once naming the port, and the connector opens the port again once it is back; its lines flow
// again and the fault clears.
func TestPortVanishes(t *testing.T) {
	ctx := testCtx(t)
	pair := connectortest.StartPtyPair(t, ctx, "")
	dir := pair.A[:len(pair.A)-len("/a")]
	c, log := newTestConnector(t, sampleDevice("SerialDevice1", pair.A))
	sink := connectortest.NewSink()
	runConnector(t, c, sink)
	waitLog(ctx, t, log, "port open")
	d := openFarEnd(t, pair.B)
	d.send(t, "1\rSN-1\n")
	waitValue(ctx, t, sink, "SerialDevice1", "humidity", 1.0)

	pair.Stop()
	waitLog(ctx, t, log, "device fault", "port lost", "SerialDevice1")
	_, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Device: "SerialDevice1", Method: "getValue", Params: json.RawMessage(`"x"`)})
	if err == nil || !strings.Contains(err.Error(), "is not open") {
		t.Errorf("RPC while the port is gone: %v, want an error saying the port is not open", err)
	}
	if st := c.DeviceFaults(); st.Active != 1 {
		t.Errorf("faults %+v while the port is gone", st)
	}

	pair = connectortest.StartPtyPair(t, ctx, dir)
	waitLog(ctx, t, log, "device fault cleared", "SerialDevice1")
	d = openFarEnd(t, pair.B)
	d.send(t, "2\rSN-2\n")
	waitValue(ctx, t, sink, "SerialDevice1", "humidity", 2.0)
	if st := c.DeviceFaults(); st.Active != 0 {
		t.Errorf("faults %+v after the port came back", st)
	}
}

// TestDownlinkOverPty: a shared attribute is written as its stringToDevice; an RPC writes its params (int as
// binary, others as text) and, with withResponse, replies with the device's next line cut as configured.
func TestDownlinkOverPty(t *testing.T) {
	ctx := testCtx(t)
	pair := connectortest.StartPtyPair(t, ctx, "")
	c, log := newTestConnector(t, sampleDevice("SerialDevice1", pair.A))
	runConnector(t, c, connectortest.NewSink())
	waitLog(ctx, t, log, "port open")
	d := openFarEnd(t, pair.B)

	if err := c.UpdateAttributes(ctx, "SerialDevice1", map[string]any{"attr1": int64(7)}); err != nil {
		t.Fatal(err)
	}
	d.waitFor(ctx, t, "value = 7\n")

	reply, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Device: "SerialDevice1", Method: "getValue", Params: json.RawMessage(`"status?"`)})
	if err != nil || string(reply) != `{"success":true}` {
		t.Fatalf("getValue: %s, %v", reply, err)
	}
	d.waitFor(ctx, t, "status?")

	type result struct {
		reply json.RawMessage
		err   error
	}
	res := make(chan result, 1)
	go func() {
		r, err := c.HandleRPC(ctx, tbgateway.RPCRequest{Device: "SerialDevice1", Method: "setValue", Params: json.RawMessage(`258`)})
		res <- result{r, err}
	}()
	d.waitFor(ctx, t, "\x01\x02")
	d.send(t, "OK 258\rtrailer\n")
	r := <-res
	if r.err != nil || string(r.reply) != `{"result":"OK 258"}` {
		t.Fatalf("setValue: %s, %v", r.reply, r.err)
	}

	for _, req := range []tbgateway.RPCRequest{
		{Device: "SerialDevice1", Method: "nope"},
		{Device: "Other", Method: "getValue"},
		{Method: "getValue"},
		{Device: "SerialDevice1", Method: "setValue", Params: json.RawMessage(`-5`)},
	} {
		if _, err := c.HandleRPC(ctx, req); err == nil {
			t.Errorf("%+v: no error", req)
		}
	}
	if err := c.UpdateAttributes(ctx, "SerialDevice1", map[string]any{"other": "x"}); err == nil {
		t.Error("an attribute without attributeUpdates entry: no error")
	}
}

// TestContract runs the connector kit's contract over a pty pair.
func TestContract(t *testing.T) {
	ctx := testCtx(t)
	pair := connectortest.StartPtyPair(t, ctx, "")
	far := openFarEnd(t, pair.B)
	var mu sync.Mutex
	var log *gwtest.Log
	n := 0
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector {
			c, l := newTestConnector(t, sampleDevice("SerialDevice1", pair.A))
			mu.Lock()
			log = l
			mu.Unlock()
			return c
		},
		Ready: func(ctx context.Context, t *testing.T, _ *connectortest.Sink) {
			mu.Lock()
			l := log
			mu.Unlock()
			waitLog(ctx, t, l, "port open")
		},
		Produce: func(ctx context.Context, t *testing.T) {
			n++
			far.send(t, fmt.Sprintf("%d\rSN-%d\n", n, n))
		},
		Device: "SerialDevice1",
	})
}
