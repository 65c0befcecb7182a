package modbus_test

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/blackbox"
)

// probeType is a connector type that builds an ordinary Modbus connector and records it in probes under its
// connector name, so that a test running the whole gateway can read the connector's Stats.
const probeType = "modbus_stats_probe"

// probes holds the connectors built by probeType, by connector name; like the connector registry it is written
// by the factory only.
var probes sync.Map

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: probeType, Check: modbus.Check,
		New: func(cfg tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
			c, _, err := modbus.Decode(cfg.Raw)
			if err != nil {
				return nil, err
			}
			c.Name = cfg.Name
			conn := modbus.New(c, cfg.Logger)
			probes.Store(cfg.Name, conn)
			return conn, nil
		}})
}

// silencer is a TCP proxy to a Modbus server that can go silent: while silent it swallows every request, so
// clients time out as with a device that stopped answering; when it speaks again it forwards as before.
type silencer struct {
	ln     net.Listener
	target string
	silent atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startSilencer(t *testing.T, target string) *silencer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silencer{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *silencer) addr() string { return s.ln.Addr().String() }

func (s *silencer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *silencer) accept() {
	for {
		cli, err := s.ln.Accept()
		if err != nil {
			return
		}
		srv, err := net.Dial("tcp", s.target)
		if err != nil {
			cli.Close()
			continue
		}
		if !s.track(cli) || !s.track(srv) {
			cli.Close()
			srv.Close()
			return
		}
		s.wg.Go(func() { s.pipe(cli, srv, true) })
		s.wg.Go(func() { s.pipe(srv, cli, false) })
	}
}

// pipe copies from one side to the other; requests (toServer) are dropped while the proxy is silent.
func (s *silencer) pipe(from, to net.Conn, toServer bool) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 512)
	for {
		n, err := from.Read(buf)
		if n > 0 && !(toServer && s.silent.Load()) {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *silencer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// waitStats polls the connector's counters until cond holds; the test's deadline bounds the wait.
func waitStats(t *testing.T, ctx context.Context, c *modbus.Connector, what string, cond func(map[string]modbus.DeviceStats) bool) map[string]modbus.DeviceStats {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st := c.Stats()
		if cond(st) {
			return st
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; stats %+v", what, ctx.Err(), st)
		}
	}
}

// TestDeadDeviceIsolatedAndResumes: one device stops answering (its requests are swallowed, so it times out)
// while two healthy devices on other lines go on completing their polls without a failure; its disconnect
// reaches ThingsBoard; when it answers again it resumes by itself and its connect reaches ThingsBoard.
func TestDeadDeviceIsolatedAndResumes(t *testing.T) {
	_, srvA := blackbox.StartCorpusServer(t)
	_, srvB := blackbox.StartCorpusServer(t)
	proxy := startSilencer(t, srvA.Addr())
	slave := func(name, addr string, timeoutSec float64) map[string]any {
		host, port, _ := net.SplitHostPort(addr)
		return map[string]any{
			"deviceName": name, "host": host, "port": json.Number(port), "type": "tcp", "unitId": modbus.CorpusUnit,
			"pollPeriod": 20, "timeout": timeoutSec, "retries": 0, "connectAttemptTimeMs": 10,
			"waitAfterFailedAttemptsMs": 10,
			"timeseries":                []any{map[string]any{"tag": "v", "type": "16int", "functionCode": 3, "address": 4}},
		}
	}
	cfg, _ := json.Marshal(map[string]any{"master": map[string]any{"slaves": []any{
		slave("healthy A", srvA.Addr(), 5), slave("healthy B", srvB.Addr(), 5), slave("dead", proxy.addr(), 0.3),
	}}})
	name := "probe " + t.Name()
	g := startGatewayAs(t, cfg, probeType, name)
	v, ok := probes.Load(name)
	if !ok {
		t.Fatal("the probe connector was not built")
	}
	conn := v.(*modbus.Connector)
	healthy := []string{"healthy A", "healthy B"}
	for _, d := range append(healthy, "dead") {
		g.WaitFor(d+"'s first value", func() bool { return len(g.Emu.Telemetry(d, "v")) > 0 })
	}

	proxy.silent.Store(true)
	st0 := waitStats(t, g.Ctx, conn, "the first timeout", func(st map[string]modbus.DeviceStats) bool {
		return st["dead"].Timeouts >= 1
	})
	const morePolls, moreTimeouts = 10, 2
	st1 := waitStats(t, g.Ctx, conn, "healthy polls while the dead device times out", func(st map[string]modbus.DeviceStats) bool {
		for _, d := range healthy {
			if st[d].Polls < st0[d].Polls+morePolls {
				return false
			}
		}
		return st["dead"].Timeouts >= st0["dead"].Timeouts+moreTimeouts
	})
	for _, d := range healthy {
		if st1[d].PollFailures != 0 || st1[d].Timeouts != 0 {
			t.Errorf("%s failed while another line was dead: %+v", d, st1[d])
		}
	}
	if st1["dead"].PollFailures == 0 || st1["dead"].Polls != st1["dead"].PollFailures+st0["dead"].Polls-st0["dead"].PollFailures {
		t.Errorf("dead device: every poll since it went silent should have failed: before %+v, now %+v", st0["dead"], st1["dead"])
	}
	t.Logf("while the dead device timed out %d times, the healthy devices completed %d and %d polls",
		st1["dead"].Timeouts-st0["dead"].Timeouts, st1["healthy A"].Polls-st0["healthy A"].Polls, st1["healthy B"].Polls-st0["healthy B"].Polls)
	g.WaitFor("the dead device's disconnect at ThingsBoard", func() bool {
		d, ok := g.Emu.Device("dead")
		return ok && !d.Connected && !d.LastDisconnect.IsZero()
	})
	before := len(g.Emu.Telemetry("dead", "v"))

	proxy.silent.Store(false)
	g.WaitFor("the device's connect at ThingsBoard", func() bool {
		d, ok := g.Emu.Device("dead")
		return ok && d.Connected && d.LastConnect.After(d.LastDisconnect)
	})
	g.WaitFor("new values from the resumed device", func() bool { return len(g.Emu.Telemetry("dead", "v")) > before })
	st2 := conn.Stats()["dead"]
	if st2.Polls <= st2.PollFailures+st0["dead"].Polls-st0["dead"].PollFailures {
		t.Errorf("no successful poll counted after the device resumed: %+v", st2)
	}
}
