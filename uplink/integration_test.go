package uplink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/tbemu"
)

// waitBound is only a failure bound: every wait below ends on an event or a condition.
const waitBound = 30 * time.Second

type attrUpdate struct {
	device  string
	values  map[string]any
	deleted []string
}

// testDownlink records what the uplink delivers.
type testDownlink struct {
	connects chan struct{}
	updates  chan attrUpdate
	mu       sync.Mutex
	rpcs     []tbgateway.RPCRequest
}

func newTestDownlink() *testDownlink {
	return &testDownlink{connects: make(chan struct{}, 100), updates: make(chan attrUpdate, 100)}
}

func (d *testDownlink) OnConnect(context.Context) {
	select {
	case d.connects <- struct{}{}:
	default:
	}
}

func (d *testDownlink) OnAttributeUpdate(_ context.Context, device string, values map[string]any, deleted []string) {
	d.updates <- attrUpdate{device, values, deleted}
}

func (d *testDownlink) OnRPC(_ context.Context, req tbgateway.RPCRequest) json.RawMessage {
	d.mu.Lock()
	d.rpcs = append(d.rpcs, req)
	d.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"device": req.Device, "method": req.Method, "params": req.Params})
	return b
}

type harness struct {
	t     *testing.T
	emu   *tbemu.Server
	store *memory.Store
	down  *testDownlink
	cli   *Client
	dead  string
}

const gwToken = "gw-token"

func startEmu(t *testing.T) *tbemu.Server {
	t.Helper()
	emu, err := tbemu.Start(t.Context(), tbemu.Options{})
	if err != nil {
		t.Fatalf("start tbemu: %v", err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "gw", Gateway: true, Token: gwToken}); err != nil {
		t.Fatal(err)
	}
	return emu
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startLink runs a Client against emu until the test ends and waits for its first connection.
func startLink(t *testing.T, emu *tbemu.Server, tweak func(*Config, *Client)) *harness {
	t.Helper()
	host, port, _ := net.SplitHostPort(emu.MQTTAddr())
	p, _ := strconv.Atoi(port)
	h := &harness{t: t, emu: emu, store: memory.New(memory.Options{MaxRecords: 1 << 20}), down: newTestDownlink(),
		dead: filepath.Join(t.TempDir(), "dead.jsonl")}
	cfg := Config{Host: host, Port: p, Security: Security{AccessToken: gwToken},
		ReconnectMin: 5 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, DeadLetterPath: h.dead}
	if tweak != nil {
		tweak(&cfg, nil)
	}
	cli, err := New(cfg, h.store, h.down, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(nil, cli)
	}
	h.cli = cli
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		_ = h.store.Close()
	})
	h.awaitEvent(EventConnected)
	return h
}

func (h *harness) awaitEvent(want EventType) Event {
	h.t.Helper()
	deadline := time.After(waitBound)
	for {
		select {
		case ev := <-h.cli.Events():
			if ev.Type == want {
				return ev
			}
		case <-deadline:
			h.t.Fatalf("no %v event", want)
		}
	}
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	// Polled, because some conditions are about the uplink or the storage, which tbemu's WaitFor does not see.
	deadline := time.Now().Add(waitBound)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %s: gave up after %v", what, waitBound)
		}
		<-tick.C
	}
}

func (h *harness) put(recs ...tbgateway.Record) {
	h.t.Helper()
	if err := h.store.Put(h.t.Context(), recs); err != nil {
		h.t.Fatal(err)
	}
}

func TestIntegrationTelemetryValuesAndTypes(t *testing.T) {
	h := startLink(t, startEmu(t), nil)
	var recs []tbgateway.Record
	for d := range 3 {
		dev := fmt.Sprintf("sensor-%d", d)
		for i := range 50 {
			recs = append(recs, tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: int64(1000 + i),
				Values: map[string]any{"i": int64(i), "f": float64(i), "b": i%2 == 0, "s": "v" + strconv.Itoa(i),
					"j": tbgateway.RawJSON(`{"n":` + strconv.Itoa(i) + `}`)}}}})
		}
	}
	h.put(recs...)
	h.waitFor("all telemetry", func() bool {
		for d := range 3 {
			if len(h.emu.Telemetry(fmt.Sprintf("sensor-%d", d), "j")) < 50 {
				return false
			}
		}
		return true
	})
	for d := range 3 {
		dev := fmt.Sprintf("sensor-%d", d)
		for _, key := range []string{"i", "f", "b", "s", "j"} {
			vs := h.emu.Telemetry(dev, key)
			if len(vs) != 50 {
				t.Fatalf("%s/%s: %d values", dev, key, len(vs))
			}
			for _, v := range vs {
				i := v.TS - 1000
				var want any
				switch key {
				case "i":
					want = i
				case "f":
					want = float64(i)
				case "b":
					want = i%2 == 0
				case "s":
					want = "v" + strconv.FormatInt(i, 10)
				case "j":
					if string(v.Value.(json.RawMessage)) != `{"n":`+strconv.FormatInt(i, 10)+`}` {
						t.Fatalf("%s/j at %d = %s", dev, v.TS, v.Value)
					}
					continue
				}
				if v.Value != want {
					t.Fatalf("%s/%s at ts %d = %#v (%T), want %#v (%T)", dev, key, v.TS, v.Value, v.Value, want, want)
				}
			}
		}
	}
	h.waitFor("storage drained", func() bool { return h.store.Stats().Count == 0 })
	st := h.cli.Stats()
	if st.Messages >= 150 || st.Acks != st.Messages || st.Datapoints != 750 {
		t.Fatalf("150 records must be packed into fewer messages, all acked: %+v", st)
	}
}

func TestIntegrationConnectDisconnectAndClientAttributes(t *testing.T) {
	h := startLink(t, startEmu(t), nil)
	h.put(tbgateway.Record{Device: "thermo-1", Kind: tbgateway.KindConnect, DeviceType: "thermostat"},
		tbgateway.Record{Device: "thermo-1", Attributes: map[string]any{"fw": "v1.2", "serial": int64(77)}})
	h.waitFor("device and attributes", func() bool {
		d, ok := h.emu.Device("thermo-1")
		return ok && d.Connected && len(h.emu.Attributes("thermo-1", tbemu.ScopeClient)) == 2
	})
	d, _ := h.emu.Device("thermo-1")
	if d.Type != "thermostat" || d.LastGateway != "gw" {
		t.Fatalf("device %+v", d)
	}
	attrs := h.emu.Attributes("thermo-1", tbemu.ScopeClient)
	if attrs["fw"] != "v1.2" || attrs["serial"] != int64(77) {
		t.Fatalf("client attributes %#v", attrs)
	}
	h.put(tbgateway.Record{Device: "thermo-1", Kind: tbgateway.KindDisconnect})
	h.waitFor("disconnect", func() bool { d, _ := h.emu.Device("thermo-1"); return !d.Connected })
	if err := h.cli.ConnectDevice(t.Context(), "thermo-2", ""); err != nil {
		t.Fatal(err)
	}
	if d, ok := h.emu.Device("thermo-2"); !ok || !d.Connected || d.Type != "default" {
		t.Fatalf("direct connect: %+v", d)
	}
}

func TestIntegrationAttributeRequestAndSharedUpdate(t *testing.T) {
	emu := startEmu(t)
	h := startLink(t, emu, nil)
	h.put(tbgateway.Record{Device: "valve", Attributes: map[string]any{"model": "V1"}})
	h.waitFor("device", func() bool { return len(emu.Attributes("valve", tbemu.ScopeClient)) == 1 })
	if err := emu.SetSharedAttributes("valve", map[string]any{"setpoint": 21.5, "mode": "auto"}); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-h.down.updates:
		if u.device != "valve" || u.values["setpoint"] != 21.5 || u.values["mode"] != "auto" {
			t.Fatalf("update %+v", u)
		}
	case <-time.After(waitBound):
		t.Fatal("no shared attribute update")
	}
	got, err := h.cli.RequestAttributes(t.Context(), "valve", false, []string{"setpoint", "mode", "absent"})
	if err != nil || got["setpoint"] != 21.5 || got["mode"] != "auto" || len(got) != 2 {
		t.Fatalf("shared request: %v %v", got, err)
	}
	got, err = h.cli.RequestAttributes(t.Context(), "valve", true, []string{"model"})
	if err != nil || got["model"] != "V1" {
		t.Fatalf("client single-key request: %v %v", got, err)
	}
	// The gateway's own attributes through the device API.
	if err := h.cli.PublishOwnAttributes(t.Context(), map[string]any{"version": "v0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := emu.SetSharedAttributes("gw", map[string]any{"pollPeriod": int64(5)}); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-h.down.updates:
		if u.device != "" || u.values["pollPeriod"] != int64(5) {
			t.Fatalf("own update %+v", u)
		}
	case <-time.After(waitBound):
		t.Fatal("no own shared attribute update")
	}
	cl, sh, err := h.cli.RequestOwnAttributes(t.Context(), []string{"version"}, []string{"pollPeriod"})
	if err != nil || cl["version"] != "v0.1" || sh["pollPeriod"] != int64(5) {
		t.Fatalf("own request: %v %v %v", cl, sh, err)
	}
}

func TestIntegrationRPCRoundTrip(t *testing.T) {
	emu := startEmu(t)
	h := startLink(t, emu, nil)
	h.put(tbgateway.Record{Device: "relay", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"on": false}}}})
	h.waitFor("device", func() bool { return len(emu.Telemetry("relay", "on")) == 1 })
	reply, err := emu.RPC(t.Context(), "relay", "setState", json.RawMessage(`{"on":true}`), false, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Device, Method string
		Params         map[string]bool
	}
	if err := json.Unmarshal(reply, &r); err != nil || r.Device != "relay" || r.Method != "setState" || !r.Params["on"] {
		t.Fatalf("device rpc reply %s (%v)", reply, err)
	}
	reply, err = emu.RPC(t.Context(), "gw", "gateway_ping", nil, false, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(reply, &r); err != nil || r.Device != "" || r.Method != "gateway_ping" {
		t.Fatalf("gateway rpc reply %s (%v)", reply, err)
	}
}

func TestIntegrationOwnTelemetry(t *testing.T) {
	emu := startEmu(t)
	h := startLink(t, emu, nil)
	if err := h.cli.PublishOwnTelemetry(t.Context(), 12345, map[string]any{"cpu": 1.5, "msgs": int64(3)}); err != nil {
		t.Fatal(err)
	}
	if v := emu.Telemetry("gw", "cpu"); len(v) != 1 || v[0].TS != 12345 || v[0].Value != 1.5 {
		t.Fatalf("own telemetry %v", v)
	}
	if v := emu.Telemetry("gw", "msgs"); len(v) != 1 || v[0].Value != int64(3) {
		t.Fatalf("own telemetry %v", v)
	}
}

func TestIntegrationNotConnected(t *testing.T) {
	c, err := New(Config{Host: "127.0.0.1", Port: 1, Security: Security{AccessToken: "x"}}, memory.New(memory.Options{}), newTestDownlink(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestAttributes(t.Context(), "d", true, nil); !errorsIs(err, tbgateway.ErrNotConnected) {
		t.Fatalf("got %v", err)
	}
	if err := c.PublishOwnTelemetry(t.Context(), 0, map[string]any{"a": int64(1)}); !errorsIs(err, tbgateway.ErrNotConnected) {
		t.Fatalf("got %v", err)
	}
}

func TestIntegrationMalformedGoesToDeadLetter(t *testing.T) {
	emu := startEmu(t)
	h := startLink(t, emu, func(_ *Config, c *Client) {
		if c != nil {
			c.encodeHook = func(m *outMsg) {
				if slices.Contains(m.devices, "broken") {
					m.payload = append([]byte(nil), m.payload[:len(m.payload)-1]...) // not JSON any more
				}
			}
		}
	})
	h.put(tbgateway.Record{Device: "broken", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"x": int64(1)}}}})
	h.waitFor("dead letter", func() bool { return h.cli.Stats().DeadRecords == 1 })
	for i := range 20 {
		h.put(tbgateway.Record{Device: "fine", Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1), Values: map[string]any{"x": int64(i)}}}})
	}
	h.waitFor("the rest", func() bool { return len(emu.Telemetry("fine", "x")) == 20 })
	h.waitFor("storage drained", func() bool { return h.store.Stats().Count == 0 })
	if len(emu.Telemetry("broken", "x")) != 0 {
		t.Fatal("the malformed record reached ThingsBoard")
	}
	f, err := os.Open(h.dead)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []deadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var dl deadLetter
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, dl)
	}
	if len(lines) != 1 || lines[0].ReasonCode != 0x99 || !slices.Equal(lines[0].Devices, []string{"broken"}) ||
		lines[0].Topic != topicGwTelemetry {
		t.Fatalf("dead letters %+v", lines)
	}
	// A value that passes Record.Validate but is not JSON: that value alone is dead-lettered, the rest goes.
	h.put(tbgateway.Record{Device: "half", Telemetry: []tbgateway.Telemetry{{TS: 5, Values: map[string]any{
		"bad": tbgateway.RawJSON(`{"unterminated":`), "good": int64(7)}}}})
	h.waitFor("good half", func() bool { return len(emu.Telemetry("half", "good")) == 1 })
	if st := h.cli.Stats(); st.DeadValues != 1 || len(emu.Telemetry("half", "bad")) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// ThingsBoard goes away under load and refuses connections for a while: every record arrives, duplicates come
// only from the in-flight window, and the stats count them.
func TestIntegrationOutageUnderLoad(t *testing.T) {
	emu := startEmu(t)
	h := startLink(t, emu, func(c *Config, _ *Client) {
		if c != nil {
			c.ReconnectMax = 20 * time.Millisecond
		}
	})
	const total = 20000
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; i < total; i += 100 {
			var batch []tbgateway.Record
			for j := i; j < i+100; j++ {
				batch = append(batch, tbgateway.Record{Device: "dev-" + strconv.Itoa(j%7),
					Telemetry: []tbgateway.Telemetry{{TS: int64(j + 1), Values: map[string]any{"n": int64(j)}}}})
			}
			if err := h.store.Put(context.Background(), batch); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	h.waitFor("some delivery", func() bool { return h.cli.Stats().Acks > 5 })
	emu.RefuseConnections(300 * time.Millisecond)
	emu.DropConnections()
	h.awaitEvent(EventDisconnected)
	h.awaitEvent(EventConnected)
	<-prodDone
	h.waitFor("all records", func() bool { return h.store.Stats().Count == 0 })

	seen := map[int64]int{}
	for _, m := range emu.Messages() {
		if m.Topic != topicGwTelemetry || m.Reason != 0 {
			continue
		}
		var p map[string][]struct{ TS int64 }
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		for _, es := range p {
			for _, e := range es {
				seen[e.TS]++
			}
		}
	}
	dups := 0
	for ts := int64(1); ts <= total; ts++ {
		switch n := seen[ts]; {
		case n == 0:
			t.Fatalf("record %d never arrived", ts)
		case n > 1:
			dups += n - 1
		}
	}
	st := h.cli.Stats()
	if uint64(dups) > st.Redelivered {
		t.Fatalf("%d duplicates at ThingsBoard but only %d counted as redelivered", dups, st.Redelivered)
	}
	if st.Redelivered > uint64(100*1000) {
		t.Fatalf("redelivered %d", st.Redelivered)
	}
	if st.Reconnects < 1 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("duplicates %d, counted redelivered %d, rejected connects %d, reconnects %d", dups, st.Redelivered, st.Rejected, st.Reconnects)
}
