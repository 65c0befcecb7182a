package runtime_test

// End-to-end tests of the uplink data path: connector → runtime → storage → uplink → emulator.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/tbemu"
)

// typedValues returns one value of every record value type; ThingsBoard must keep each type (LONG, DOUBLE even
// when integral, BOOLEAN, STRING, JSON).
func typedValues() map[string]any {
	return map[string]any{
		"long":           int64(42),
		"double":         21.5,
		"integralDouble": float64(21),
		"flag":           true,
		"text":           "hello world",
		"object":         tbgateway.RawJSON(`{"a":1,"b":[true,"x"]}`),
	}
}

// sameValue compares a value stored by the emulator with the value sent, type included; JSON values compare
// by meaning.
func sameValue(got, want any) bool {
	if w, ok := want.(tbgateway.RawJSON); ok {
		g, ok := got.(json.RawMessage)
		if !ok {
			return false
		}
		var a, b any
		return json.Unmarshal(g, &a) == nil && json.Unmarshal(w, &b) == nil && reflect.DeepEqual(a, b)
	}
	return reflect.TypeOf(got) == reflect.TypeOf(want) && got == want
}

func TestE2ETelemetryTypesAndDeviceTimestamps(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}})

	const ts0 = int64(1_700_000_000_000)
	devices := []string{"dev-1", "dev-2", "dev-3"}
	for i, d := range devices {
		p.send(t, e.ctx, tbgateway.Record{Device: d, Telemetry: []tbgateway.Telemetry{
			{TS: ts0 + int64(i), Values: typedValues()},
			{TS: ts0 + 1000 + int64(i), Values: map[string]any{"long": int64(i)}},
		}})
	}
	e.waitFor("every device's second entry", func() bool {
		for i, d := range devices {
			if _, ok := e.valueAt(d, "long", ts0+1000+int64(i)); !ok {
				return false
			}
		}
		return true
	})
	for i, d := range devices {
		for k, want := range typedValues() {
			got, ok := e.valueAt(d, k, ts0+int64(i))
			if !ok {
				t.Errorf("%s: key %q has no value at ts %d: %v", d, k, ts0+int64(i), e.emu.Telemetry(d, k))
				continue
			}
			if !sameValue(got, want) {
				t.Errorf("%s: key %q = %#v (%T), want %#v (%T)", d, k, got, got, want, want)
			}
		}
		if got := len(e.emu.Telemetry(d, "long")); got != 2 {
			t.Errorf("%s: %d values of key long, want 2", d, got)
		}
	}
}

func TestE2EGatewayStampsStrictlyIncreasing(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}})

	// Two records in one Send share the gateway's receive time: the same millisecond.
	rec := func(n int64) tbgateway.Record {
		return tbgateway.Record{Device: "stamped", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"n": n}}}}
	}
	p.send(t, e.ctx, rec(1), rec(2))
	p.send(t, e.ctx, rec(3))
	e.waitFor("three values of stamped/n", func() bool { return len(e.emu.Telemetry("stamped", "n")) >= 3 })
	pts := e.emu.Telemetry("stamped", "n")
	if len(pts) != 3 {
		t.Fatalf("stamped/n = %v, want 3 values", pts)
	}
	for i, pt := range pts {
		if pt.Value != int64(i+1) {
			t.Errorf("value %d = %#v at ts %d, want %d (values must keep their order)", i, pt.Value, pt.TS, i+1)
		}
		if i > 0 && pt.TS <= pts[i-1].TS {
			t.Errorf("ts %d not after %d", pt.TS, pts[i-1].TS)
		}
	}
}

func TestE2EDeviceConnectAndDisconnect(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	r := e.start(setup{connectors: []connSpec{p.conn()}})

	p.send(t, e.ctx, tbgateway.Record{Kind: tbgateway.KindConnect, Device: "thermo", DeviceType: "thermostat"})
	e.waitFor("thermo connected", func() bool {
		d, ok := e.emu.Device("thermo")
		return ok && d.Connected
	})
	if d, _ := e.emu.Device("thermo"); d.Type != "thermostat" || d.LastGateway != gwName {
		t.Errorf("thermo at the emulator: %+v, want type thermostat through %q", d, gwName)
	}
	p.send(t, e.ctx, tbgateway.Record{Device: "plain", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"x": int64(1)}}}})
	e.waitFor("plain connected", func() bool {
		d, ok := e.emu.Device("plain")
		return ok && d.Connected
	})
	if d, _ := e.emu.Device("plain"); d.Type != tbgateway.DefaultDeviceType {
		t.Errorf("plain at the emulator has type %q, want %q", d.Type, tbgateway.DefaultDeviceType)
	}

	p.send(t, e.ctx, tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: "thermo"})
	e.waitFor("thermo disconnected", func() bool {
		d, ok := e.emu.Device("thermo")
		return ok && !d.Connected
	})
	if d, ok := r.gw.Devices().Owner("thermo"); !ok || !d.Disconnected {
		t.Errorf("device table entry of thermo: %+v, %v; want it marked disconnected", d, ok)
	}
	if d, _ := e.emu.Device("plain"); !d.Connected {
		t.Errorf("plain was disconnected too: %+v", d)
	}
}

func TestE2EClientAttributes(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}})

	p.send(t, e.ctx, tbgateway.Record{Device: "meter", Attributes: typedValues()})
	want := typedValues()
	e.waitFor("meter's client attributes", func() bool {
		return len(e.emu.Attributes("meter", tbemu.ScopeClient)) >= len(want)
	})
	got := e.emu.Attributes("meter", tbemu.ScopeClient)
	for k, w := range want {
		if !sameValue(got[k], w) {
			t.Errorf("client attribute %q = %#v (%T), want %#v (%T)", k, got[k], got[k], w, w)
		}
	}
	if len(e.emu.Keys("meter")) != 0 {
		t.Errorf("attributes were stored as telemetry too: keys %v", e.emu.Keys("meter"))
	}
}

func TestE2EAttributeRequest(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	e.start(setup{connectors: []connSpec{p.conn()}})

	p.send(t, e.ctx, tbgateway.Record{Device: "valve", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"open": true}}}})
	e.waitFor("valve at the emulator", func() bool { _, ok := e.emu.Device("valve"); return ok })
	if err := e.emu.SetAttributes("valve", tbemu.ScopeClient, map[string]any{"c1": "client text", "c2": int64(7)}); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.SetSharedAttributes("valve", map[string]any{"s1": 1.5, "s2": true, "s3": json.RawMessage(`{"x":1}`), "s4": int64(-3)}); err != nil {
		t.Fatal(err)
	}
	sink := p.Sink(t, e.ctx)

	shared, err := sink.RequestAttributes(e.ctx, "valve", false, []string{"s1", "s2", "s3", "s4", "missing"})
	if err != nil {
		t.Fatalf("shared request: %v", err)
	}
	wantShared := map[string]any{"s1": 1.5, "s2": true, "s3": tbgateway.RawJSON(`{"x":1}`), "s4": int64(-3)}
	if len(shared) != len(wantShared) {
		t.Errorf("shared answer %v, want exactly %v", shared, wantShared)
	}
	for k, w := range wantShared {
		if g := shared[k]; !sameRequested(g, w) {
			t.Errorf("shared %q = %#v (%T), want %#v (%T)", k, g, g, w, w)
		}
	}

	one, err := sink.RequestAttributes(e.ctx, "valve", true, []string{"c1"})
	if err != nil {
		t.Fatalf("client request of one key: %v", err)
	}
	if len(one) != 1 || one["c1"] != "client text" {
		t.Errorf("client answer for c1: %v", one)
	}
	two, err := sink.RequestAttributes(e.ctx, "valve", true, []string{"c1", "c2"})
	if err != nil {
		t.Fatalf("client request of two keys: %v", err)
	}
	if len(two) != 2 || two["c1"] != "client text" || two["c2"] != int64(7) {
		t.Errorf("client answer for c1,c2: %#v", two)
	}
}

// sameRequested compares a value from an attribute request (RawJSON for JSON) with the value set.
func sameRequested(got, want any) bool {
	if w, ok := want.(tbgateway.RawJSON); ok {
		g, ok := got.(tbgateway.RawJSON)
		return ok && sameValue(json.RawMessage(g), w)
	}
	return reflect.TypeOf(got) == reflect.TypeOf(want) && got == want
}

// maxStringValue is the emulator's JSON_MAX_STRING_VALUE_LENGTH in these tests: longString passes Record.Validate
// (the gateway cannot know the server's limit) and the emulator rejects the message carrying it as malformed
// (MQTT 5 PUBACK 0x99), as ThingsBoard does.
const maxStringValue = 1000

var longString = strings.Repeat("x", 2*maxStringValue)

func TestE2EMalformedRecordGoesToDeadLetterFile(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	r := e.start(setup{connectors: []connSpec{p.conn()}})
	bad := tbgateway.Record{Device: "bad", Telemetry: []tbgateway.Telemetry{{TS: 5000, Values: map[string]any{"long": longString}}}}
	if err := bad.Validate(); err != nil {
		t.Fatalf("the malformed record must pass Validate: %v", err)
	}
	good := func(ts int64) tbgateway.Record {
		return tbgateway.Record{Device: "good", Telemetry: []tbgateway.Telemetry{{TS: ts, Values: map[string]any{"v": ts}}}}
	}
	p.send(t, e.ctx, good(1000))
	e.waitFor("the first good record", func() bool { _, ok := e.valueAt("good", "v", 1000); return ok })
	p.send(t, e.ctx, bad)
	// Sent alone here; the next test packs it with a valid record.
	e.eventually("the dead-letter count", func() bool { return r.gw.Stats().Uplink.DeadRecords >= 1 })
	p.send(t, e.ctx, good(2000))
	e.waitFor("the good record after the bad one", func() bool { _, ok := e.valueAt("good", "v", 2000); return ok })
	p.send(t, e.ctx, good(3000))
	e.waitFor("a later good record", func() bool { _, ok := e.valueAt("good", "v", 3000); return ok })

	st := r.gw.Stats().Uplink
	if st.DeadMessages != 1 || st.DeadRecords != 1 {
		t.Errorf("uplink counted %d dead messages / %d dead records, want 1/1", st.DeadMessages, st.DeadRecords)
	}
	path := r.cfg.Thingsboard.DeadLetterFile
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dead-letter line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 1 {
		t.Fatalf("dead-letter file %s has %d lines, want 1: %v", path, len(lines), lines)
	}
	if devs, _ := json.Marshal(lines[0]["devices"]); !bytes.Contains(devs, []byte(`"bad"`)) || bytes.Contains(devs, []byte(`"good"`)) {
		t.Errorf("dead letter names devices %s, want only bad", devs)
	}
	if pl, _ := lines[0]["payload"].(string); !strings.Contains(pl, longString) {
		t.Errorf("dead letter does not carry the rejected payload: %.200s", pl)
	}
	// Rejected once, never retried.
	n := 0
	for _, m := range e.emu.Messages() {
		if bytes.Contains(m.Payload, []byte(longString)) {
			n++
			if m.Reason != 0x99 {
				t.Errorf("the emulator answered the malformed message with 0x%02x, want 0x99", m.Reason)
			}
		}
	}
	if n != 1 {
		t.Errorf("the malformed record was published %d times, want once", n)
	}
	if _, ok := e.valueAt("bad", "long", 5000); ok {
		t.Error("the emulator stored the malformed value")
	}
}

// TestE2EMalformedRecordSpareOthersInItsMessage sends a malformed record and a valid record of another device in
// one Send, so the uplink packs them into one message that ThingsBoard answers with 0x99: the uplink must send
// the message's records one per message, so that only the malformed record is dead-lettered and the valid one
// still reaches ThingsBoard.
func TestE2EMalformedRecordSpareOthersInItsMessage(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "probe")
	r := e.start(setup{connectors: []connSpec{p.conn()}})
	bad := tbgateway.Record{Device: "bad", Telemetry: []tbgateway.Telemetry{{TS: 5000, Values: map[string]any{"long": longString}}}}
	good := func(ts int64) tbgateway.Record {
		return tbgateway.Record{Device: "good", Telemetry: []tbgateway.Telemetry{{TS: ts, Values: map[string]any{"v": ts}}}}
	}
	p.send(t, e.ctx, bad, good(1000))
	e.eventually("the dead-letter count", func() bool { return r.gw.Stats().Uplink.DeadRecords >= 1 })
	// Order per device is kept, so once the later record is there the earlier one is there or lost.
	p.send(t, e.ctx, good(2000))
	e.waitFor("the later good record", func() bool { _, ok := e.valueAt("good", "v", 2000); return ok })
	if _, ok := e.valueAt("good", "v", 1000); !ok {
		t.Errorf("the valid record packed with the malformed one was lost (uplink stats %+v)", r.gw.Stats().Uplink)
	}
	if st := r.gw.Stats().Uplink; st.DeadRecords != 1 || st.Isolations != 1 {
		t.Errorf("%d records dead-lettered after %d isolations, want only the malformed one after one", st.DeadRecords, st.Isolations)
	}
}
