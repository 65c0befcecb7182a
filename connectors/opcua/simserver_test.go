package opcua

import (
	"net"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/opcua/simserver"
)

// freePort asks the kernel for a free loopback port (gopcua's server cannot report the one it got for port 0).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDemoSimulator runs the connector with simserver.DemoConfig against the in-process gopcua simulator: the
// device is announced and its counter advances through the subscription.
func TestDemoSimulator(t *testing.T) {
	ctx := testContext(t)
	sim, err := simserver.Start(ctx, "127.0.0.1", freePort(t), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg, warnings, err := Decode("", simserver.DemoConfig(sim.URL))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("demo config: %v %v", warnings, err)
	}
	sink := newSink()
	runConnector(t, ctx, cfg, sink)
	var first int64 = -1
	sink.waitFor(t, ctx, "the counter to advance", func(recs []tbgateway.Record) bool {
		got, _, _, _ := latestOf(recs, "OPC-UA Demo Device")
		c, ok := got["counter"].(int64)
		if !ok {
			return false
		}
		if first < 0 {
			first = c
		}
		_, hasStatus := got["status"].(string)
		_, hasTemp := got["temperature"].(float64)
		return c > first && hasStatus && hasTemp
	})
}
