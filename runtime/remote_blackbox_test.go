package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/blackbox"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// The Python gateway's blackbox suite drives its Modbus and OPC-UA cases through ThingsBoard only: each case's
// connector config is saved as a shared attribute of the gateway device ({"<name>": {name, type, logLevel,
// configuration, configurationJson, ts}}), the case's action is a shared attribute of the device or an RPC to
// it, and the result is read back from ThingsBoard. These tests do the same against tbemu, one running gateway
// per case family; each case reads into its own device, so no case can pass on the values of the one before.

// blackboxTimeout bounds one family of cases run in sequence on one gateway: a failure bound, never a pacing.
const blackboxTimeout = 5 * time.Minute

// blackboxRun is a running gateway (with remoteConfiguration on and a probe connector) the cases of one family
// push their connector configs to.
type blackboxRun struct {
	*e2e
	gw *gwtest.Gateway
	ts int64
}

// startBlackbox starts the emulator and a gateway for one family of blackbox cases.
func startBlackbox(t *testing.T) *blackboxRun {
	t.Helper()
	e := newE2ETimeout(t, blackboxTimeout)
	gw := e.startLogged(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	return &blackboxRun{e2e: e, gw: gw, ts: time.Now().UnixMilli()}
}

// push saves the connector config attr as the shared attribute name of the gateway device, with a ts newer than
// the last push, as the Python suite does.
func (b *blackboxRun) push(name string, attr map[string]any) {
	b.t.Helper()
	b.ts++
	attr["ts"] = b.ts
	if err := b.emu.SetSharedAttributes(gwName, map[string]any{name: attr}); err != nil {
		b.t.Fatal(err)
	}
}

// waitDevice waits until the device pushed with a config is connected at the emulator; it fails at once when
// the gateway refused a pushed config.
func (b *blackboxRun) waitDevice(device string) {
	b.t.Helper()
	b.waitFor("device "+device+" connected", func() bool {
		st, ok := b.emu.Device(device)
		return b.refused() || ok && st.Connected
	})
	b.failIfRefused()
}

// waitKeys waits until the emulator holds a value of every key of want for the device (any value): the
// connector reads its source, so an action on the device now finds it connected.
func (b *blackboxRun) waitKeys(what, device string, want map[string]any) {
	b.t.Helper()
	b.waitFor(what, func() bool {
		latest := b.emu.Latest(device)
		for k := range want {
			if _, ok := latest[k]; !ok {
				return b.refused()
			}
		}
		return true
	})
	b.failIfRefused()
}

// waitValues waits until the device's latest values at the emulator are the corpus values want (floats as an
// uplink rounds them); it fails at
// once when the gateway refused a pushed config.
func (b *blackboxRun) waitValues(what, device string, want map[string]any) {
	b.t.Helper()
	err := b.emu.WaitFor(b.ctx, func() bool { return b.refused() || b.hasValues(device, want) })
	b.failIfRefused()
	if err != nil {
		latest := b.emu.Latest(device)
		var diff []string
		for k, w := range want {
			if v, ok := latest[k]; !ok || !blackbox.SameUplinked(w, v.Value) {
				diff = append(diff, fmt.Sprintf("%s = %s (present %v), want %s", k, blackbox.Show(v.Value), ok, blackbox.Show(w)))
			}
		}
		b.t.Fatalf("waiting for %s: %v: %s", what, err, strings.Join(diff, "; "))
	}
}

// hasValues says whether the device's latest values at the emulator are the corpus values want.
func (b *blackboxRun) hasValues(device string, want map[string]any) bool {
	latest := b.emu.Latest(device)
	for k, w := range want {
		if v, ok := latest[k]; !ok || !blackbox.SameUplinked(w, v.Value) {
			return false
		}
	}
	return true
}

// refused says whether the gateway refused a pushed config (written back to the emulator too, so a wait on it
// re-checks this).
func (b *blackboxRun) refused() bool { return b.gw.Log.Contains("change refused") }

// failIfRefused fails the test when the gateway refused a pushed configuration.
func (b *blackboxRun) failIfRefused() {
	b.t.Helper()
	if b.refused() {
		b.t.Fatalf("a blackbox config was refused:\n%s", strings.Join(b.gw.Log.Lines(), "\n"))
	}
}

// rpcResult makes a two-way RPC to device through the emulator and returns the reply's result object; a reply
// without one, or with result.error, fails the test.
func (b *blackboxRun) rpcResult(device, method string, params any) map[string]any {
	b.t.Helper()
	reply := b.rpc(device, method, params)
	res, ok := reply["result"].(map[string]any)
	if !ok || res["error"] != nil {
		b.t.Fatalf("rpc %s %v to %q: reply %v", method, params, device, reply)
	}
	return res
}

// readConfig reads a corpus config in the remote-configuration shape: one connector name and its attribute.
func readConfig(t *testing.T, file string) (string, map[string]any) {
	t.Helper()
	var push map[string]map[string]any
	readJSON(t, file, &push)
	if len(push) != 1 {
		t.Fatalf("%s: %d connectors, want 1", file, len(push))
	}
	for name, attr := range push {
		return name, attr
	}
	return "", nil
}

// readValues reads a corpus values file.
func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	m, err := blackbox.ReadValues(file)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// caseDevice names the device of one case: the corpus name with the case appended.
func caseDevice(name string) string { return fmt.Sprintf("Temp Sensor %s", name) }

// corpusFile joins a corpus folder and the parts of a file under it.
func corpusFile(dir string, parts ...string) string {
	return filepath.Join(append([]string{dir}, parts...)...)
}
