package runtime_test

// Remote changes saved to the config files: dated backups, only the changed part of the main file rewritten, a
// second gateway started on the folder runs what was pushed; a YAML main file or a folder that cannot be written
// keeps the change in memory and says so.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// saveStatus waits until the gateway published a RemoteSaveKey status for key and returns it.
func saveStatus(e *e2e, key string) map[string]any {
	e.t.Helper()
	var status map[string]any
	e.waitFor("the save status of "+key, func() bool {
		v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteSaveKey].(json.RawMessage)
		status = nil
		return ok && json.Unmarshal(v, &status) == nil && status["key"] == key
	})
	return status
}

// pushConnector sets a connector's shared attribute in the remote shape.
func pushConnector(e *e2e, name, file string, conf map[string]any, ts int64) {
	e.t.Helper()
	attr := map[string]any{"name": name, "type": probeType, "logLevel": "INFO", "configurationJson": conf, "ts": ts}
	if file != "" {
		attr["configuration"] = file
	}
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{name: attr}); err != nil {
		e.t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// backupOf returns the one dated backup of file.
func backupOf(t *testing.T, file string) []byte {
	t.Helper()
	baks, _ := filepath.Glob(file + ".????????-??????.bak")
	if len(baks) != 1 {
		t.Fatalf("backups of %s: %v, want one <file>.<yyyymmdd-hhmmss>.bak", file, baks)
	}
	return readFile(t, baks[0])
}

func fileObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// TestRemoteConnectorChangesSaved: a connector updated and one created from ThingsBoard are written to their
// files and the main file's connectors list, the previous files kept as dated backups; everything in the main
// file outside the new entry keeps its bytes; the file watcher sees nothing to apply; a second gateway started
// on the folder runs what was pushed.
func TestRemoteConnectorChangesSaved(t *testing.T) {
	e := newE2E(t)
	p, added := newProbe(t, "Probe"), newProbe(t, "Added")
	conn := p.conn()
	conn.Conf["password"] = "p-secret"
	e.writeConfig(setup{connectors: []connSpec{conn}, tb: map[string]any{"remoteConfiguration": true}})
	mainFile := filepath.Join(e.dir, config.MainFileJSON)
	// The user's own layout: an unknown section and key order of their own.
	e.WriteFile(config.MainFileJSON, bytes.Replace(readFile(t, mainFile), []byte("{\n"), []byte("{\n  \"zNotes\": {\"b\": 1,   \"a\": [ 2 ]},\n"), 1))
	oldMain, oldProbe := readFile(t, mainFile), readFile(t, filepath.Join(e.dir, "Probe.json"))
	gw := e.Start(gwtest.StartOptions{})
	ts := time.Now().UnixMilli() + 60000

	// The echoed, redacted configuration comes back with a change: the running secret is what is written.
	echo := clientObject(e, "Probe")
	echo["configurationJson"].(map[string]any)["x"] = 3
	echo["ts"] = ts
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"Probe": echo}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "Probe"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{"Probe.json"}) {
		t.Fatalf("save status %v, want Probe.json saved", st)
	}
	probeFile := fileObject(t, readFile(t, filepath.Join(e.dir, "Probe.json")))
	if probeFile["x"] != float64(3) || probeFile["password"] != "p-secret" || probeFile["probe"] != p.key || probeFile["name"] != "Probe" {
		t.Errorf("Probe.json = %v, want the pushed configuration with the running secret", probeFile)
	}
	if b := backupOf(t, filepath.Join(e.dir, "Probe.json")); !bytes.Equal(b, oldProbe) {
		t.Errorf("backup of Probe.json holds %s, want the previous file %s", b, oldProbe)
	}
	if !bytes.Equal(readFile(t, mainFile), oldMain) {
		t.Errorf("the main file changed for an update of a listed connector")
	}

	pushConnector(e, "Added", "added.json", map[string]any{"probe": added.key}, ts+1)
	if st := saveStatus(e, "Added"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{"added.json", config.MainFileJSON}) {
		t.Fatalf("save status %v, want added.json and the main file saved", st)
	}
	if b := backupOf(t, mainFile); !bytes.Equal(b, oldMain) {
		t.Errorf("backup of the main file holds\n%s\nwant the previous file\n%s", b, oldMain)
	}
	end := bytes.LastIndex(oldMain, []byte("\n  ]"))
	golden := string(oldMain[:end]) + ",\n    {\n      \"type\": \"e2etest\",\n      \"name\": \"Added\",\n      \"configuration\": \"added.json\"\n    }" + string(oldMain[end:])
	if got := string(readFile(t, mainFile)); got != golden {
		t.Errorf("main file after the save:\n%s\nwant only the entry added:\n%s", got, golden)
	}

	// Our own writes are no change for the file watcher.
	restarts := gw.Log.Count("connector restarted")
	if err := gw.GW.Reload(e.ctx); err != nil {
		t.Fatalf("Reload after the save: %v", err)
	}
	if n := gw.Log.Count("connector restarted"); n != restarts {
		t.Errorf("reloading the saved files restarted %d connectors", n-restarts)
	}
	gw.Stop()

	second := e.Start(gwtest.StartOptions{})
	got := map[string]map[string]any{}
	for _, ci := range second.GW.Connectors() {
		if ci.Active {
			got[ci.Name] = fileObject(t, ci.Config)
		}
	}
	if got["Probe"]["x"] != float64(3) || got["Added"]["probe"] != added.key || len(got) != 2 {
		t.Errorf("the gateway started again runs %v, want Probe with x 3 and Added", got)
	}
}

// TestRemoteActiveConnectorsSaved: the main file's connectors list holds the active connectors only (as the
// Python gateway writes it); a restart runs those.
func TestRemoteActiveConnectorsSaved(t *testing.T) {
	e := newE2E(t)
	pa, pb := newProbe(t, "A"), newProbe(t, "B")
	gw := e.start(setup{connectors: []connSpec{pa.conn(), pb.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"active_connectors": []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "active_connectors"); st["saved"] != true {
		t.Fatalf("save status %v", st)
	}
	main := fileObject(t, readFile(t, filepath.Join(e.dir, config.MainFileJSON)))
	if conns, _ := main["connectors"].([]any); len(conns) != 1 || conns[0].(map[string]any)["name"] != "B" {
		t.Errorf("connectors list %v, want B only", main["connectors"])
	}
	if _, err := os.Stat(filepath.Join(e.dir, "A.json")); err != nil {
		t.Errorf("the stopped connector's file is gone: %v", err)
	}
	gw.stop()
	second := e.Start(gwtest.StartOptions{})
	var names []string
	for _, ci := range second.GW.Connectors() {
		names = append(names, ci.Name)
	}
	if !slices.Equal(names, []string{"B"}) {
		t.Errorf("the gateway started again knows %v, want [B]", names)
	}
}

// notSaved checks a change kept in memory: reported with the reason naming file, logged once as a warning.
func notSaved(t *testing.T, e *e2e, gw *gwtest.Gateway, key, file, reason string) {
	t.Helper()
	st := saveStatus(e, key)
	if msg, _ := st["error"].(string); st["saved"] != false || !strings.Contains(msg, file) || !strings.Contains(msg, reason) {
		t.Errorf("save status %v, want not saved, naming %s and %q", st, file, reason)
	}
	if n := gw.Log.Count("level=WARN", "applied but not saved", file); n != 1 {
		t.Errorf("the unsaved change is logged %d times as a warning naming %s, want once", n, file)
	}
}

// runsAndSends checks that connector p runs in the gateway and its records reach ThingsBoard.
func runsAndSends(t *testing.T, e *e2e, p *probe, device string) {
	t.Helper()
	p.send(t, e.ctx, tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{TS: 1000, Values: map[string]any{"v": int64(1)}}}})
	e.WaitTelemetry(device, "v", 1)
}

// TestRemoteChangeWithYAMLMainStaysInMemory: a change that needs the YAML main file edited runs, is reported
// not saved, and writes nothing; a connector file change alone is saved.
func TestRemoteChangeWithYAMLMainStaysInMemory(t *testing.T) {
	e := newE2E(t)
	p, added := newProbe(t, "Probe"), newProbe(t, "Added")
	e.writeConfig(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	yamlFile := filepath.Join(e.dir, config.MainFileYAML)
	if err := os.Rename(filepath.Join(e.dir, config.MainFileJSON), yamlFile); err != nil { // JSON is YAML
		t.Fatal(err)
	}
	oldYAML := readFile(t, yamlFile)
	gw := e.Start(gwtest.StartOptions{})
	ts := time.Now().UnixMilli() + 60000
	pushConnector(e, "Added", "added.json", map[string]any{"probe": added.key}, ts)
	notSaved(t, e, gw, "Added", yamlFile, "YAML")
	runsAndSends(t, e, added, "Added Dev")
	if _, err := os.Stat(filepath.Join(e.dir, "added.json")); err == nil {
		t.Error("added.json was written though its entry could not be")
	}
	if !bytes.Equal(readFile(t, yamlFile), oldYAML) {
		t.Error("the YAML main file was rewritten")
	}
	pushConnector(e, "Probe", "Probe.json", map[string]any{"probe": p.key, "x": 4}, ts+1)
	if st := saveStatus(e, "Probe"); st["saved"] != true {
		t.Errorf("save status %v, want Probe.json saved (the YAML main file needs no change)", st)
	}
	if f := fileObject(t, readFile(t, filepath.Join(e.dir, "Probe.json"))); f["x"] != json.Number("4") && f["x"] != float64(4) {
		t.Errorf("Probe.json = %v, want x 4", f)
	}
}

// TestRemoteChangeWithReadOnlyFolderStaysInMemory: the config folder cannot be written (mode 0555, or immutable
// when the test runs as the superuser, who writes through 0555): the change runs, is reported, nothing changes.
func TestRemoteChangeWithReadOnlyFolderStaysInMemory(t *testing.T) {
	e := newE2E(t)
	p, added := newProbe(t, "Probe"), newProbe(t, "Added")
	data := t.TempDir()
	e.writeConfig(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	main := filepath.Join(e.dir, config.MainFileJSON)
	oldMain := readFile(t, main)
	// The gateway's state (device table, stamper) goes elsewhere: only the config folder is read-only.
	m := fileObject(t, oldMain)
	m["gateway"] = map[string]any{"dataFolderPath": data}
	e.WriteFile(config.MainFileJSON, m)
	oldMain = readFile(t, main)
	makeReadOnly(t, e.dir)
	gw := e.Start(gwtest.StartOptions{})
	pushConnector(e, "Added", "added.json", map[string]any{"probe": added.key}, time.Now().UnixMilli()+60000)
	notSaved(t, e, gw, "Added", filepath.Join(e.dir, "added.json"), "temporary file")
	runsAndSends(t, e, added, "Added Dev")
	runsAndSends(t, e, p, "Probe Dev")
	if !bytes.Equal(readFile(t, main), oldMain) {
		t.Error("the main file changed in a read-only folder")
	}
}

// makeReadOnly makes dir unwritable for this process until the end of the test: mode 0555, and for the
// superuser the immutable attribute; it skips when neither stops a write.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if !writable(dir) {
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("the folder stays writable: running as the superuser and chattr +i failed (%v: %s); TestRemoteChangeToUnwritableFileStaysInMemory covers the case", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	if writable(dir) {
		t.Skip("the folder stays writable even immutable")
	}
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// TestRemoteChangeToUnwritableFileStaysInMemory: a connector file that cannot be written (a folder in its place,
// which stops the superuser too) keeps the change in memory, reported, and the main file is not written either.
func TestRemoteChangeToUnwritableFileStaysInMemory(t *testing.T) {
	e := newE2E(t)
	p, added := newProbe(t, "Probe"), newProbe(t, "Added")
	e.writeConfig(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	if err := os.Mkdir(filepath.Join(e.dir, "added.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(e.dir, config.MainFileJSON)
	oldMain := readFile(t, main)
	gw := e.Start(gwtest.StartOptions{})
	pushConnector(e, "Added", "added.json", map[string]any{"probe": added.key}, time.Now().UnixMilli()+60000)
	notSaved(t, e, gw, "Added", filepath.Join(e.dir, "added.json"), "not a regular file")
	runsAndSends(t, e, added, "Added Dev")
	if !bytes.Equal(readFile(t, main), oldMain) {
		t.Error("the main file was written though the connector file could not be")
	}
	if baks, _ := filepath.Glob(main + ".*.bak"); len(baks) > 0 {
		t.Errorf("backups made for a save that did not happen: %v", baks)
	}
}

// TestRemoteConnectorFileNameMustBeBare: a connector file from ThingsBoard outside the config folder, in a
// subfolder, or one of the gateway's own files is refused with the reason; nothing is applied or written.
func TestRemoteConnectorFileNameMustBeBare(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	e.writeConfig(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	main := filepath.Join(e.dir, config.MainFileJSON)
	oldMain := readFile(t, main)
	gw := e.Start(gwtest.StartOptions{})
	ts := time.Now().UnixMilli() + 60000
	for i, file := range []string{"../evil.json", "sub/x.json", "/tmp/abs.json", config.MainFileJSON, ".hidden.json", "Probe.json"} {
		name := "Bad" + string(rune('A'+i))
		pushConnector(e, name, file, map[string]any{"probe": p.key}, ts+int64(i))
		e.waitFor("the refusal of "+file, func() bool {
			v, ok := e.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
			return ok && strings.Contains(string(v), `"key":"`+name+`"`)
		})
		for _, ci := range gw.GW.Connectors() {
			if ci.Name == name {
				t.Errorf("connector %s with file %q was applied", name, file)
			}
		}
	}
	if !bytes.Equal(readFile(t, main), oldMain) {
		t.Error("the main file changed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.dir), "evil.json")); err == nil {
		t.Error("a file was written outside the config folder")
	}
}

// TestRemoteIgnoredUpdateWritesNothing: an update ignored as not newer than what runs saves nothing, so a file
// edited on disk since (not reloaded yet) is not overwritten with what runs.
func TestRemoteIgnoredUpdateWritesNothing(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "Probe")
	e.writeConfig(setup{connectors: []connSpec{p.conn()}, tb: map[string]any{"remoteConfiguration": true}})
	gw := e.Start(gwtest.StartOptions{})
	e.WriteFile("Probe.json", map[string]any{"probe": p.key, "local": 1})
	edited := readFile(t, filepath.Join(e.dir, "Probe.json"))
	pushConnector(e, "Probe", "Probe.json", map[string]any{"probe": p.key}, 1)
	gw.WaitLog(e.ctx, "not newer than what runs", "Probe")
	// Updates are handled one at a time: once the next one is saved, the ignored one is done with.
	pushConnector(e, "Other", "other.json", map[string]any{"probe": p.key}, time.Now().UnixMilli()+60000)
	saveStatus(e, "Other")
	if b := readFile(t, filepath.Join(e.dir, "Probe.json")); !bytes.Equal(b, edited) {
		t.Errorf("Probe.json overwritten by an ignored update:\n%s", b)
	}
	if n := gw.Log.Count("change saved", "key=Probe"); n != 0 {
		t.Errorf("a save logged for an ignored update")
	}
}

// TestRemoteLogsConfigurationSaved: logs_configuration applied is written to logs.json (without its ts), the
// previous file kept as a dated backup, so the next start reads it.
func TestRemoteLogsConfigurationSaved(t *testing.T) {
	e := newE2E(t)
	e.WriteFile("logs.json", map[string]any{"version": 1, "loggers": map[string]any{"connector": map[string]any{"level": "INFO"}}})
	old := readFile(t, filepath.Join(e.dir, "logs.json"))
	e.start(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	pushed := map[string]any{"version": 1, "loggers": map[string]any{"connector": map[string]any{"level": "ERROR"}}, "ts": time.Now().UnixMilli()}
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"logs_configuration": pushed}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "logs_configuration"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{"logs.json"}) {
		t.Fatalf("save status %v, want logs.json saved", st)
	}
	got := fileObject(t, readFile(t, filepath.Join(e.dir, "logs.json")))
	delete(pushed, "ts")
	if want := fileObject(t, mustMarshal(t, pushed)); !reflect.DeepEqual(got, want) {
		t.Errorf("logs.json = %v, want %v", got, want)
	}
	if b := backupOf(t, filepath.Join(e.dir, "logs.json")); !bytes.Equal(b, old) {
		t.Errorf("backup of logs.json holds %s, want %s", b, old)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
