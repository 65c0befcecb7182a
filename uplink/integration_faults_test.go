package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/tbemu"
)

func telRec(dev string, ts int64, key string, v any) tbgateway.Record {
	return tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: ts, Values: map[string]any{key: v}}}}
}

// A device over its datapoint limit waits while the others' records go, and ThingsBoard never has to refuse.
func TestIntegrationDeviceRateLimitDoesNotStallOthers(t *testing.T) {
	emu := startEmu(t)
	emu.SetRateLimits(tbemu.RateLimits{}, tbemu.RateLimits{TelemetryDataPoints: "50:1"})
	h := startLink(t, emu, nil)
	const slow = 100
	for i := range slow {
		h.put(telRec("slow", int64(i+1), "v", int64(i)))
	}
	for d := range 5 {
		for i := range 10 {
			h.put(telRec("fast-"+strconv.Itoa(d), int64(i+1), "v", int64(i)))
		}
	}
	h.waitFor("fast devices", func() bool {
		for d := range 5 {
			if len(emu.Telemetry("fast-"+strconv.Itoa(d), "v")) != 10 {
				return false
			}
		}
		return true
	})
	if n := len(emu.Telemetry("slow", "v")); n >= slow {
		t.Fatalf("the limited device was not held back (%d of %d already there)", n, slow)
	}
	h.waitFor("slow device", func() bool { return len(emu.Telemetry("slow", "v")) == slow })
	vs := emu.Telemetry("slow", "v")
	for i, v := range vs {
		if v.TS != int64(i+1) {
			t.Fatalf("slow device order broken at %d: ts %d", i, v.TS)
		}
	}
	for _, m := range emu.Messages() {
		if m.Reason >= 0x80 {
			t.Fatalf("thingsboard refused a message: 0x%02x on %s", m.Reason, m.Topic)
		}
	}
	if st := h.cli.Stats(); st.RateLimited != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The gateway device's own limits hold for gateway traffic as well (tbemu counts it against the gateway).
func TestIntegrationGatewayRateLimit(t *testing.T) {
	emu := startEmu(t)
	emu.SetRateLimits(tbemu.RateLimits{Messages: "5:1"}, tbemu.RateLimits{})
	h := startLink(t, emu, nil)
	for i := range 6 {
		h.put(tbgateway.Record{Device: "d" + strconv.Itoa(i%3), Kind: tbgateway.KindConnect})
		h.put(telRec("d"+strconv.Itoa(i%3), int64(i+1), "v", int64(i)))
	}
	h.waitFor("all", func() bool { return h.store.Stats().Count == 0 })
	for _, m := range emu.Messages() {
		if m.Reason >= 0x80 {
			t.Fatalf("thingsboard refused a message: 0x%02x on %s", m.Reason, m.Topic)
		}
	}
	if st := h.cli.Stats(); st.RateLimited != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// PUBACKs that never come: the link is dropped after AckTimeout, and the records go again. The ack timeout is
// driven by the test's clock (ackClock), so a slow emulator cannot add a timeout, nor a stalled test remove one.
func TestIntegrationMissingPubAckReconnects(t *testing.T) {
	emu := startEmu(t)
	clock := make(chan time.Time)
	h := startLink(t, emu, func(c *Config, cli *Client) {
		if c != nil {
			c.AckTimeout = time.Hour
		} else {
			cli.ackClock = clock
		}
	})
	emu.WithholdPubAcks(true)
	for i := range 50 {
		h.put(telRec("w", int64(i+1), "v", int64(i)))
	}
	// The emulator stores what it received even while it withholds the PUBACK.
	h.waitFor("a message without its PUBACK", func() bool { return len(emu.Telemetry("w", "v")) > 0 })
	emu.WithholdPubAcks(false) // the PUBACKs withheld so far never come
	for range 2 {              // the second send returns only once the completer handled the first
		clock <- time.Now().Add(59 * time.Minute)
	}
	if st := h.cli.Stats(); st.AckTimeouts != 0 || h.cli.current() == nil {
		t.Fatalf("link dropped before AckTimeout: stats %+v", st)
	}
	clock <- time.Now().Add(time.Hour + time.Second)
	ev := h.awaitEvent(EventDisconnected)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "no PUBACK within 1h0m0s") {
		t.Fatalf("disconnect cause %v, want the missing PUBACK", ev.Err)
	}
	h.awaitEvent(EventConnected)
	h.waitFor("all", func() bool { return h.store.Stats().Count == 0 })
	if n := len(emu.Telemetry("w", "v")); n != 50 {
		t.Fatalf("%d values", n)
	}
	st := h.cli.Stats()
	if st.AckTimeouts != 1 || st.Redelivered < 1 {
		t.Fatalf("stats %+v", st)
	}
}

// blockingDownlink holds every RPC until released, to show that a slow handler does not stop other deliveries.
type blockingDownlink struct {
	*testDownlink
	entered chan struct{}
	release chan struct{}
}

func (d *blockingDownlink) OnRPC(ctx context.Context, req tbgateway.RPCRequest) json.RawMessage {
	d.entered <- struct{}{}
	select {
	case <-d.release:
	case <-ctx.Done():
	}
	return d.testDownlink.OnRPC(ctx, req)
}

func TestIntegrationSlowHandlerDoesNotBlockTheLink(t *testing.T) {
	emu := startEmu(t)
	bd := &blockingDownlink{testDownlink: newTestDownlink(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := startLink(t, emu, func(_ *Config, c *Client) {
		if c != nil {
			c.down = bd // before Run
		}
	})
	h.put(telRec("slowdev", 1, "v", int64(1)))
	h.waitFor("device", func() bool { return len(emu.Telemetry("slowdev", "v")) == 1 })
	rpcDone := make(chan error, 1)
	go func() {
		_, err := emu.RPC(context.Background(), "slowdev", "wait", nil, false, waitBound)
		rpcDone <- err
	}()
	<-bd.entered
	if err := emu.SetSharedAttributes("slowdev", map[string]any{"x": int64(1)}); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-bd.updates:
		if u.device != "slowdev" {
			t.Fatalf("update %+v", u)
		}
	case <-time.After(waitBound):
		t.Fatal("attribute update held up behind a slow RPC handler")
	}
	h.put(telRec("slowdev", 2, "v", int64(2)))
	h.waitFor("telemetry while the handler blocks", func() bool { return len(emu.Telemetry("slowdev", "v")) == 2 })
	close(bd.release)
	if err := <-rpcDone; err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationClosedStorageEndsRun(t *testing.T) {
	emu := startEmu(t)
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	store := memory.New(memory.Options{})
	c, err := New(Config{Host: host, Port: p, Security: Security{AccessToken: gwToken}}, store, newTestDownlink(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	for ev := range c.Events() {
		if ev.Type == EventConnected {
			break
		}
	}
	_ = store.Close()
	select {
	case err := <-done:
		if !errors.Is(err, tbgateway.ErrStorageClosed) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(waitBound):
		t.Fatal("Run did not return after the storage closed")
	}
}
