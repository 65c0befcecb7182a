package runtime_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestRemoteGeneralSaved: general_configuration applied from ThingsBoard is written into the main file's
// thingsboard section (the token as it runs, never redacted; no ts, no remote-only statistics commands), the
// previous file kept as a dated backup; a second gateway started on the folder runs with it.
func TestRemoteGeneralSaved(t *testing.T) {
	e := newE2E(t)
	gw := e.start(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	mainFile := filepath.Join(e.dir, config.MainFileJSON)
	old := readFile(t, mainFile)
	ts := time.Now().UnixMilli() + 60000

	general := clientObject(e, "general_configuration")
	general["minPackSendDelayMS"] = 60
	general["ts"] = ts
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"general_configuration": general}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "general_configuration"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{config.MainFileJSON}) {
		t.Fatalf("save status %v, want the main file saved", st)
	}
	if b := backupOf(t, mainFile); !bytes.Equal(b, old) {
		t.Errorf("backup holds\n%s\nwant the previous main file", b)
	}
	tb, _ := fileObject(t, readFile(t, mainFile))["thingsboard"].(map[string]any)
	sec, _ := tb["security"].(map[string]any)
	stats, _ := tb["statistics"].(map[string]any)
	if tb["minPackSendDelayMS"] != float64(60) || sec["accessToken"] != gwtest.GatewayToken || tb["ts"] != nil || stats["commands"] != nil {
		t.Errorf("thingsboard section saved as %v", tb)
	}

	gw.stop()
	second := e.Start(gwtest.StartOptions{})
	if c := second.Config; c.Thingsboard.MinPackSendDelayMS != 60 {
		t.Errorf("the gateway started again runs minPackSendDelayMS %d, want 60", c.Thingsboard.MinPackSendDelayMS)
	}
}

// TestRemoteStorageSaved: storage_configuration applied from ThingsBoard is written into the main file's storage
// section, the previous file kept as a dated backup; a second gateway started on the folder runs that storage.
func TestRemoteStorageSaved(t *testing.T) {
	e := newE2E(t)
	gw := e.start(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	mainFile := filepath.Join(e.dir, config.MainFileJSON)
	old := readFile(t, mainFile)
	storage := map[string]any{"type": "sqlite", "data_file_path": "./data/data.db", "ts": time.Now().UnixMilli() + 60000}
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"storage_configuration": storage}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "storage_configuration"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{config.MainFileJSON}) {
		t.Fatalf("save status %v, want the main file saved", st)
	}
	if b := backupOf(t, mainFile); !bytes.Equal(b, old) {
		t.Errorf("backup holds\n%s\nwant the previous main file", b)
	}
	gw.stop()
	second := e.Start(gwtest.StartOptions{})
	if c := second.Config; c.Storage.Type != "sqlite" {
		t.Errorf("the gateway started again runs storage %q, want sqlite", c.Storage.Type)
	}
}

// TestRemoteStorageWithYAMLMainReportedOnce: storage_configuration applied with a YAML main file runs, and that
// it is not saved is reported once.
func TestRemoteStorageWithYAMLMainReportedOnce(t *testing.T) {
	e := newE2E(t)
	e.writeConfig(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	yamlFile := filepath.Join(e.dir, config.MainFileYAML)
	if err := os.Rename(filepath.Join(e.dir, config.MainFileJSON), yamlFile); err != nil { // JSON is YAML
		t.Fatal(err)
	}
	gw := e.Start(gwtest.StartOptions{})
	storage := map[string]any{"type": "sqlite", "data_file_path": "./data/data.db", "ts": time.Now().UnixMilli() + 60000}
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"storage_configuration": storage}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("storage_configuration echoed", func() bool {
		v, _ := e.emu.Attributes(gwName, tbemu.ScopeClient)["storage_configuration"].(json.RawMessage)
		return strings.Contains(string(v), "sqlite")
	})
	notSaved(t, e, gw, "storage_configuration", yamlFile, "YAML")
	// A later change handled after it (updates are handled one at a time) shows nothing more was reported.
	pushConnector(e, "Probe", "Probe.json", map[string]any{"probe": "x"}, time.Now().UnixMilli()+70000)
	e.waitFor("the next change handled", func() bool {
		v, _ := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return strings.Contains(string(v), `"key":"Probe"`)
	})
	if n := gw.Log.Count("applied but not saved"); n != 1 {
		t.Errorf("the unsaved storage change was logged %d times, want once", n)
	}
}
