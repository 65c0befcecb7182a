package runtime_test

// Remote configuration through the emulator: the client attributes ThingsBoard's gateway pages read, and shared
// attributes of the gateway device dispatched to the connector applier.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	_ "github.com/tbgateway/tbgateway/connectors/opcua"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

// applied is one ApplyConnector call.
type applied struct {
	c   config.Connector
	raw []byte
}

// recordingApplier records the connector changes remote configuration hands over; a config holding
// {"refuse": "<why>"} is refused with that reason.
type recordingApplier struct {
	applied chan applied
	active  chan []string
}

func newRecordingApplier() *recordingApplier {
	return &recordingApplier{applied: make(chan applied, 256), active: make(chan []string, 16)}
}

func (a *recordingApplier) ApplyConnector(ctx context.Context, c config.Connector, raw []byte) error {
	var probe struct {
		Refuse string `json:"refuse"`
	}
	_ = json.Unmarshal(raw, &probe)
	if probe.Refuse != "" {
		return errors.New(probe.Refuse)
	}
	a.applied <- applied{c: c, raw: raw}
	return nil
}

func (a *recordingApplier) SetActiveConnectors(ctx context.Context, names []string) error {
	a.active <- names
	return nil
}

// next waits for the next ApplyConnector call.
func (a *recordingApplier) next(t *testing.T, ctx context.Context) applied {
	t.Helper()
	select {
	case ap := <-a.applied:
		return ap
	case <-ctx.Done():
		t.Fatalf("no connector change reached the applier: %v", ctx.Err())
	}
	return applied{}
}

// startLogged is e.start with the gateway's log kept in the returned Gateway's Log.
func (e *e2e) startLogged(s setup) *gwtest.Gateway {
	e.t.Helper()
	e.writeConfig(s)
	return e.Start(gwtest.StartOptions{Runtime: s.opts})
}

// clientObject returns a client attribute of the gateway device decoded as a JSON object, waiting for it.
func clientObject(e *e2e, key string) map[string]any {
	e.t.Helper()
	return asObject(e.t, key, e.WaitAttribute(gwName, tbemu.ScopeClient, key))
}

func asObject(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	raw, ok := v.(json.RawMessage)
	if !ok {
		t.Fatalf("%s: %v (%T) is not a JSON value", what, v, v)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %s is not a JSON object: %v", what, raw, err)
	}
	return m
}

// ownAttributePublishes counts the gateway's client-attribute publishes holding key.
func ownAttributePublishes(emu *tbemu.Server, key string) int {
	n := 0
	for _, m := range emu.Messages() {
		if m.Device == gwName && m.Topic == "v1/devices/me/attributes" && strings.Contains(string(m.Payload), `"`+key+`":`) {
			n++
		}
	}
	return n
}

func TestRemoteConfigAttributesPublishedAtStartAndAfterReconnect(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe One")
	conn := p.conn()
	conn.Conf["logLevel"] = "DEBUG"
	conn.Conf["reportStrategy"] = map[string]any{"type": "ON_CHANGE"}
	conn.Conf["broker"] = map[string]any{"host": "127.0.0.1", "password": "broker-secret"}
	e.WriteFile("logs.json", map[string]any{"version": 1, "loggers": map[string]any{}})
	gw := e.start(setup{connectors: []connSpec{conn}, tb: map[string]any{"remoteConfiguration": true}})

	check := func() {
		t.Helper()
		general := clientObject(e, "general_configuration")
		if general["host"] == nil || general["remoteConfiguration"] != true || general["ts"] == nil {
			t.Errorf("general_configuration = %v, want the thingsboard section with ts", general)
		}
		sec, _ := general["security"].(map[string]any)
		if sec["accessToken"] != runtime.RedactedValue {
			t.Errorf("general_configuration.security = %v, want the access token redacted", sec)
		}
		stats, _ := general["statistics"].(map[string]any)
		if _, ok := stats["commands"].([]any); !ok || stats["enable"] != false {
			t.Errorf("general_configuration.statistics = %v, want the Python remote shape", stats)
		}
		if st := clientObject(e, "storage_configuration"); st["type"] != "memory" || st["ts"] == nil {
			t.Errorf("storage_configuration = %v", st)
		}
		if g := clientObject(e, "grpc_configuration"); g["ts"] == nil {
			t.Errorf("grpc_configuration = %v", g)
		}
		if l := clientObject(e, "logs_configuration"); l["version"] != float64(1) || l["ts"] == nil {
			t.Errorf("logs_configuration = %v, want logs.json with ts", l)
		}
		var active []string
		if err := json.Unmarshal(e.WaitAttribute(gwName, tbemu.ScopeClient, "active_connectors").(json.RawMessage), &active); err != nil || !slices.Equal(active, []string{"Probe One"}) {
			t.Errorf("active_connectors = %v (%v), want a JSON array [Probe One]", active, err)
		}
		if v := e.WaitAttribute(gwName, tbemu.ScopeClient, "Version"); v != runtime.Version {
			t.Errorf("Version = %v", v)
		}
		c := clientObject(e, "Probe One")
		for _, k := range []string{"name", "type", "configuration", "id", "configVersion", "grpc_key", "configurationJson", "logLevel", "enableRemoteLogging", "reportStrategy", "ts"} {
			if _, ok := c[k]; !ok {
				t.Errorf("connector attribute %v lacks %q", c, k)
			}
		}
		cj, _ := c["configurationJson"].(map[string]any)
		if c["name"] != "Probe One" || c["type"] != "e2etest" || c["configuration"] != "Probe One.json" || c["logLevel"] != "DEBUG" || cj["probe"] != p.key {
			t.Errorf("connector attribute = %v", c)
		}
		if _, ok := cj["logLevel"]; ok {
			t.Errorf("configurationJson %v still holds logLevel (moved out, as in Python)", cj)
		}
		if b, _ := cj["broker"].(map[string]any); b["password"] != runtime.RedactedValue {
			t.Errorf("configurationJson.broker = %v, want the password redacted", b)
		}
	}
	check()
	if n := ownAttributePublishes(e.emu, "general_configuration"); n != 1 {
		t.Fatalf("general_configuration published %d times at start, want 1", n)
	}
	e.emu.DropConnections()
	gw.waitEvent(t, e.ctx, uplink.EventConnected)
	for _, key := range []string{"general_configuration", "Probe One"} {
		if n := ownAttributePublishes(e.emu, key); n != 2 {
			t.Errorf("%s published %d times after a reconnect, want 2", key, n)
		}
	}
	check()
	for _, m := range e.emu.Messages() {
		if strings.Contains(string(m.Payload), "broker-secret") || strings.Contains(string(m.Payload), gwtest.GatewayToken) {
			t.Errorf("a secret reached ThingsBoard on %s: %s", m.Topic, m.Payload)
		}
	}
}

func TestRemoteConnectorUpdateReachesApplier(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	a := newRecordingApplier()
	start := time.Now().UnixMilli()
	// Set before the gateway starts: found by the request made after the connect.
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Early": map[string]any{
		"name": "Early", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"n": 1}, "ts": start + 5000,
	}}); err != nil {
		t.Fatal(err)
	}
	gw := e.startLogged(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}, opts: runtime.Options{RemoteApplier: a}})
	if got := a.next(t, e.ctx); got.c.Name != "Early" || got.c.Configuration != "early.json" || got.c.File != filepath.Join(e.dir, "early.json") {
		t.Fatalf("applied %+v, want Early from early.json", got.c)
	}

	// One push: "Probe" older than its file (ignored, as in Python), "Second" new; keys are handled in order.
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{
		"Probe":  map[string]any{"name": "Probe", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"probe": p.key}, "ts": 1},
		"Second": map[string]any{"name": "Second", "type": "e2etest", "logLevel": "DEBUG", "configuration": "second.json", "configurationJson": map[string]any{"x": 2, "password": "p"}, "ts": start + 6000},
	}); err != nil {
		t.Fatal(err)
	}
	got := a.next(t, e.ctx)
	if got.c.Name != "Second" || got.c.Type != "e2etest" || got.c.Configuration != "second.json" {
		t.Fatalf("applied %+v, want Second (the older Probe update ignored)", got.c)
	}
	var raw map[string]any
	if err := json.Unmarshal(got.raw, &raw); err != nil || raw["x"] != float64(2) || raw["logLevel"] != "DEBUG" || raw["name"] != "Second" {
		t.Errorf("raw = %s (%v), want configurationJson with logLevel and name moved back in", got.raw, err)
	}
	if echo := clientObject(e, "Second"); echo["ts"] != float64(start+6000) {
		t.Errorf("echo of Second = %v", echo)
	}

	// A refused change: its reason is written back and logged once.
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Second": map[string]any{
		"name": "Second", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"refuse": "bad key x"}, "ts": start + 8000,
	}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the refusal written back", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), "bad key x") && strings.Contains(string(v), `"key":"Second"`)
	})
	if n := gw.Log.Count("change refused", "bad key x"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}

	// After a reconnect the same shared values are requested again and change nothing: Early is not applied
	// again and Second's refusal is not logged again (keys are handled in order, Second last).
	e.emu.DropConnections()
	gw.WaitEvent(e.ctx, uplink.EventConnected)
	handled := make(chan error, 1)
	go func() { handled <- gw.Log.Wait(e.ctx, "already handled", "key=Second") }()
	select {
	case got := <-a.applied:
		t.Fatalf("after a reconnect %q was applied again", got.c.Name)
	case err := <-handled:
		if err != nil {
			t.Fatalf("the shared attributes requested after the reconnect were not handled: %v", err)
		}
	}
	if len(a.applied) > 0 {
		t.Errorf("after a reconnect %q was applied again", (<-a.applied).c.Name)
	}
	if n := gw.Log.Count("change refused", "bad key x"); n != 1 {
		t.Errorf("refusal logged %d times after a reconnect, want once", n)
	}
}

// TestRemoteActiveConnectorsStopsUnlisted: active_connectors stops the unlisted connector and disconnects its
// devices at ThingsBoard; listing it again starts it, and its devices connect again with their next data.
func TestRemoteActiveConnectorsStopsUnlisted(t *testing.T) {
	e := newE2E(t)
	pa, pb := newProbe(t, "A"), newProbe(t, "B")
	gw := e.start(setup{connectors: []connSpec{pa.conn(), pb.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	pa.send(t, e.ctx, tbgateway.Record{Device: "A Dev", Telemetry: []tbgateway.Telemetry{{TS: 1000, Values: map[string]any{"v": int64(1)}}}})
	pb.send(t, e.ctx, tbgateway.Record{Device: "B Dev", Telemetry: []tbgateway.Telemetry{{TS: 1000, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry("A Dev", "v", 1)
	e.WaitTelemetry("B Dev", "v", 1)
	oldSink := pa.Sink(t, e.ctx)
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"active_connectors": []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("active_connectors echoed", func() bool {
		v, _ := e.emu.Attributes(gwName, tbemu.ScopeClient)["active_connectors"].(json.RawMessage)
		return string(v) == `["B"]`
	})
	for _, ci := range gw.gw.Connectors() {
		if ci.Active != (ci.Name == "B") {
			t.Errorf("connector %s active %v after active_connectors [B]", ci.Name, ci.Active)
		}
	}
	e.waitFor("A Dev disconnected at ThingsBoard", func() bool {
		d, ok := e.emu.Device("A Dev")
		return ok && !d.Connected
	})
	if d, _ := e.emu.Device("B Dev"); !d.Connected {
		t.Error("B Dev, of the connector still listed, was disconnected")
	}

	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"active_connectors": []string{"A", "B"}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("A started again", func() bool {
		pa.mu.Lock()
		defer pa.mu.Unlock()
		return pa.sink != oldSink
	})
	pa.send(t, e.ctx, tbgateway.Record{Device: "A Dev", Telemetry: []tbgateway.Telemetry{{TS: 2000, Values: map[string]any{"v": int64(2)}}}})
	e.WaitTelemetry("A Dev", "v", 2)
	e.waitFor("A Dev connected again", func() bool {
		d, ok := e.emu.Device("A Dev")
		return ok && d.Connected
	})
}

// TestRemoteConnectorAppliedByTheGateway pushes connector configurations to a gateway applying them itself: a
// new connector starts, an invalid one is refused with its reason and the running one stays.
func TestRemoteConnectorAppliedByTheGateway(t *testing.T) {
	e := newE2E(t)
	p, added := newProbe(t, "Probe"), newProbe(t, "Added")
	conn := p.conn()
	conn.Conf["password"] = "p-secret"
	gw := e.startLogged(setup{connectors: []connSpec{conn}, tb: map[string]any{"remoteConfiguration": true}})
	ts := time.Now().UnixMilli() + 60000

	// ThingsBoard's UI sends the echoed (redacted) configuration back with a change: the secret is kept.
	echo := clientObject(e, "Probe")
	echo["configurationJson"].(map[string]any)["x"] = 3
	echo["ts"] = ts
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Probe": echo}); err != nil {
		t.Fatal(err)
	}
	var running map[string]any
	e.eventually("Probe restarted with x 3", func() bool {
		for _, ci := range gw.GW.Connectors() {
			if ci.Name == "Probe" && json.Unmarshal(ci.Config, &running) == nil && running["x"] == float64(3) {
				return true
			}
		}
		return false
	})
	if running["password"] != "p-secret" {
		t.Errorf("Probe runs with %v, want the running password in place of the redacted one", running)
	}
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Added": map[string]any{
		"name": "Added", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"probe": added.key}, "ts": ts + 1,
	}}); err != nil {
		t.Fatal(err)
	}
	added.send(t, e.ctx, tbgateway.Record{Device: "Added Dev", Telemetry: []tbgateway.Telemetry{{TS: 1000, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry("Added Dev", "v", 1)
	e.waitFor("Added in active_connectors", func() bool {
		v, _ := e.emu.Attributes(gwName, tbemu.ScopeClient)["active_connectors"].(json.RawMessage)
		return string(v) == `["Probe","Added"]`
	})

	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Probe": map[string]any{
		"name": "Probe", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"probe": "no such probe"}, "ts": ts + 2,
	}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the refusal written back", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), `no probe \"no such probe\" registered`)
	})
	p.send(t, e.ctx, tbgateway.Record{Device: "Probe Dev", Telemetry: []tbgateway.Telemetry{{TS: 1000, Values: map[string]any{"v": int64(2)}}}})
	e.WaitTelemetry("Probe Dev", "v", 1)
	if n := gw.Log.Count("change refused", "no such probe"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
}

func TestRemoteConfigurationOffIgnoresConnectorUpdate(t *testing.T) {
	e := newE2E(t)
	a := newRecordingApplier()
	gw := e.startLogged(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": false}, opts: runtime.Options{RemoteApplier: a}})
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{
		"RemoteLoggingLevel": "DEBUG",
		"Probe":              map[string]any{"name": "Probe", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{}, "ts": time.Now().UnixMilli() + 60000},
	}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the refusal written back", func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), "remoteConfiguration is false")
	})
	select {
	case got := <-a.applied:
		t.Errorf("connector %q applied with remoteConfiguration false", got.c.Name)
	default:
	}
	if !gw.Log.Contains("RemoteLoggingLevel received") {
		t.Error("RemoteLoggingLevel was not dispatched with remoteConfiguration false")
	}
	e.waitFor("the start log line", func() bool {
		return gw.Log.Contains("remote configuration is off", "changes from ThingsBoard are ignored")
	})
	if n := gw.Log.Count("remote configuration is off", "changes from ThingsBoard are ignored"); n != 1 {
		t.Errorf("the start log says %d times that remote configuration is off, want once", n)
	}
	if !gw.Log.Contains("remoteConfiguration is false", "Probe") {
		t.Error("the log does not say why the connector update was ignored")
	}
}

// blackboxConfigDirs hold the Python gateway's blackbox connector configs (copied unchanged, see their NOTICE),
// in the shape its suite pushes as shared attributes of the gateway device.
var blackboxConfigDirs = []string{"../connectors/modbus/testdata/blackbox/configs", "../connectors/opcua/testdata/corpus/configs"}

func TestRemotePythonBlackboxConfigsReachApplier(t *testing.T) {
	var files []string
	for _, dir := range blackboxConfigDirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 40 {
		t.Fatalf("found %d blackbox configs, want the whole corpus", len(files))
	}
	e := newE2E(t)
	a := newRecordingApplier()
	e.start(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}, opts: runtime.Options{RemoteApplier: a}})
	ts := time.Now().UnixMilli()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var push map[string]map[string]any
		if err := json.Unmarshal(b, &push); err != nil || len(push) != 1 {
			t.Fatalf("%s: not one connector in the remote shape: %v", f, err)
		}
		for name, attr := range push {
			ts++
			attr["ts"] = ts // as the Python suite does before pushing
			if err := e.emu.SetSharedAttributes(gwName, map[string]any{name: attr}); err != nil {
				t.Fatal(err)
			}
			got := a.next(t, e.ctx)
			want := attr["configurationJson"].(map[string]any)
			want["logLevel"], want["name"] = attr["logLevel"], attr["name"]
			var raw map[string]any
			if err := json.Unmarshal(got.raw, &raw); err != nil || !reflect.DeepEqual(raw, want) {
				t.Errorf("%s: applied %s, want configurationJson with logLevel and name", f, got.raw)
			}
			if got.c.Name != name || got.c.Type != strings.ToLower(attr["type"].(string)) || got.c.Configuration != attr["configuration"] || !reflect.DeepEqual([]byte(got.c.Raw), got.raw) {
				t.Errorf("%s: applied connector name %q type %q configuration %q, raw passed apart: %v", f, got.c.Name, got.c.Type, got.c.Configuration, !reflect.DeepEqual([]byte(got.c.Raw), got.raw))
			}
			ct, ok := tbgateway.LookupConnector(got.c.Type)
			if !ok {
				t.Fatalf("%s: connector type %q is not built in", f, got.c.Type)
			}
			if _, err := ct.New(tbgateway.ConnectorConfig{Name: name, Type: got.c.Type, File: got.c.File, Raw: got.raw, Logger: testLogger("connector")}); err != nil {
				t.Errorf("%s: the pushed config does not build a %s connector: %v", f, got.c.Type, err)
			}
		}
	}
}

// TestRemoteStaleConnectorUpdateIgnored: an update older than one already applied (an answer to the connect-time
// request overtaken by a newer push) is never applied, even when the connector does not run.
func TestRemoteStaleConnectorUpdateIgnored(t *testing.T) {
	e := newE2E(t)
	a := newRecordingApplier()
	gw := e.startLogged(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}, opts: runtime.Options{RemoteApplier: a}})
	ts := time.Now().UnixMilli() + 60000
	push := func(ts int64, v string) {
		t.Helper()
		if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Later": map[string]any{
			"name": "Later", "type": "e2etest", "logLevel": "INFO", "configurationJson": map[string]any{"v": v}, "ts": ts,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	push(ts, "new")
	if got := a.next(t, e.ctx); !strings.Contains(string(got.raw), `"v":"new"`) {
		t.Fatalf("first update applied %s", got.raw)
	}
	push(ts-1000, "stale")
	e.waitFor("the stale update ignored", func() bool { return gw.Log.Contains("older than one already applied", "Later") })
	select {
	case got := <-a.applied:
		t.Errorf("a stale update was applied: %s\n%s", got.raw, strings.Join(gw.Log.Lines(), "\n"))
	default:
	}
}
