package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/config"
)

// RemoteSaveKey is the client attribute of the gateway device that says whether the last remote change applied
// was saved to the config files: {"key": <shared attribute>, "ts": <its ts>, "saved": true, "files": [<file
// names written, relative to the config folder>], "backups": [<the previous files kept>], "time": <ms>}, or, when
// it runs in memory only until the next restart, {"key", "ts", "saved": false, "error": <why, naming the file>,
// "time"}.
const RemoteSaveKey = "remoteConfigurationSaved"

// newFileMode is the mode of a config file the gateway creates when the main file cannot be read for it.
const newFileMode = 0o644

// errYAMLMain is why nothing is saved for a change that needs a YAML main file edited.
var errYAMLMain = errors.New("the main file is YAML, which the gateway does not rewrite (convert it to tb_gateway.json to have remote changes saved)")

// persistRemote saves what now runs for the shared attribute key (a connector, active_connectors,
// general_configuration, storage_configuration or logs_configuration, written to logs.json) after a change from ThingsBoard was applied, so that a restart
// comes up with it: the files that need it are rewritten (see saveFiles) and the result published as
// RemoteSaveKey. When they cannot be written (a YAML main file, a read-only folder) the change stays applied in
// memory, which is logged once as a warning naming the file and the reason and published. Nothing is written when
// the files already hold what runs.
func (g *Gateway) persistRemote(ctx context.Context, key string, obj map[string]any, ts int64) {
	switch key {
	case attrGeneral, attrActiveConnectors, attrLogs:
	case attrStorage:
		return // saved and reported by remoteStorage, before the new store takes over (applystorage.go)
	case attrGRPC, attrRemoteLogLevel:
		return
	default:
		// Only an update applied now is saved: one ignored as stale must not overwrite a file edited since.
		name, _ := obj["name"].(string)
		if applied, _ := g.remote.lastApplied(name); name == "" || applied != ts {
			return
		}
	}
	files, backups, err := g.saveRemote(key, obj, ts)
	g.reportSaved(ctx, key, ts, files, backups, err)
}

// reportSaved logs and publishes (RemoteSaveKey) the outcome of saveRemote for key; nothing when nothing was
// written.
func (g *Gateway) reportSaved(ctx context.Context, key string, ts int64, files, backups []string, err error) {
	status := map[string]any{"key": key, "ts": ts, "time": g.now().UnixMilli()}
	switch {
	case err != nil:
		g.log.Warn("remote configuration: change applied but not saved; it runs until the gateway restarts", "key", key, "ts", ts, "reason", err)
		status["saved"], status["error"] = false, err.Error()
	case len(files) > 0:
		g.log.Info("remote configuration: change saved", "key", key, "files", files, "backups", backups)
		status["saved"], status["files"], status["backups"] = true, g.relNames(files), g.relNames(backups)
	default:
		status = nil
	}
	// What runs was echoed by the apply itself; the status says whether it will survive a restart.
	if status != nil {
		g.publishRemote(ctx, map[string]any{RemoteSaveKey: status})
	}
}

// saveRemote writes the files of what runs for key and returns the files written and the backups made. The
// reload lock is held meanwhile, so the file watcher never reads a half-saved folder.
func (g *Gateway) saveRemote(key string, obj map[string]any, ts int64) (files, backups []string, err error) {
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	mainFile := g.config().File
	oldMain, err := os.ReadFile(mainFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the main file: %w", mainFile, err)
	}
	perm := os.FileMode(newFileMode)
	if fi, err := os.Stat(mainFile); err == nil {
		perm = fi.Mode().Perm()
	}
	var writes []config.FileWrite
	var connFile string
	var mainEdit func(top map[string]any) error
	switch key {
	case attrGeneral:
		mainEdit = g.sectionEdit("thingsboard")
	case attrStorage:
		mainEdit = g.sectionEdit("storage")
	case attrActiveConnectors:
		mainEdit = g.activeEdit
	case attrLogs:
		want := maps.Clone(obj)
		delete(want, "ts")
		w, err := jsonFileWrite(filepath.Join(g.config().Dir, logsFile), "logs_configuration", mustJSON(want))
		if err != nil {
			return nil, nil, err
		}
		if w != nil {
			writes = append(writes, *w)
		}
	default:
		name, _ := obj["name"].(string)
		ci, ok := g.connectorInfo(name)
		if !ok || len(ci.Config) == 0 {
			return nil, nil, nil
		}
		w, err := connectorWrite(ci)
		if err != nil {
			return nil, nil, err
		}
		if w != nil {
			writes, connFile = append(writes, *w), ci.File
		}
		mainEdit = g.entryEdit(ci)
	}
	if mainEdit != nil {
		newMain, err := editMain(mainFile, g.opts.Env, oldMain, mainEdit)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(newMain, oldMain) {
			writes = append(writes, config.FileWrite{Path: mainFile, Data: newMain})
		}
	}
	if len(writes) == 0 {
		return nil, nil, nil
	}
	backups, err = config.WriteFiles(writes, perm, g.now())
	if err != nil {
		return nil, backups, err
	}
	if connFile != "" && ts > 0 {
		// The file's time is the version it holds: a later update is compared with it (runningTS).
		t := time.UnixMilli(ts)
		_ = os.Chtimes(connFile, t, t)
	}
	for _, w := range writes {
		files = append(files, w.Path)
	}
	return files, backups, nil
}

// editMain applies edit to the decoded main file and returns the file with only what changed rewritten (see
// config.PatchJSON). A YAML main file is refused when the edit changes it.
func editMain(file string, env func(string) string, old []byte, edit func(top map[string]any) error) ([]byte, error) {
	var top map[string]any
	var err error
	yaml := strings.HasSuffix(strings.ToLower(file), ".yaml") || strings.HasSuffix(strings.ToLower(file), ".yml")
	if yaml {
		cfg, _, lerr := config.Load(file, env)
		if lerr != nil {
			return nil, fmt.Errorf("%s: %w", file, lerr)
		}
		top = map[string]any{}
		for k, v := range cfg.Raw {
			top[k] = json.RawMessage(v)
		}
		top = objectOf(mustJSON(top))
	} else if top, err = decodeObject(old); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	before := canonicalJSON(mustJSON(top))
	if err := edit(top); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	want := mustJSON(top)
	if canonicalJSON(want) == before {
		return old, nil
	}
	if yaml {
		return nil, fmt.Errorf("%s: %w", file, errYAMLMain)
	}
	out, err := config.PatchJSON(old, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// sectionEdit returns an edit setting the main file's section to the one the gateway now runs with (its "ts"
// and the statistics' remote-only "commands" left out); a secret published redacted keeps the file's value, and
// a section still holding RedactedValue is not written.
func (g *Gateway) sectionEdit(section string) func(top map[string]any) error {
	return func(top map[string]any) error {
		want := objectOf(g.config().Raw[section])
		delete(want, "ts")
		if st, ok := want["statistics"].(map[string]any); ok && section == "thingsboard" {
			delete(st, "commands")
		}
		unredact(want, top[section])
		if holdsRedacted(want) {
			return fmt.Errorf("%s: a secret is %q and the file has no value for it; the section was not written", section, RedactedValue)
		}
		top[section] = want
		return nil
	}
}

// activeEdit makes the main file's "connectors" list the active connectors, as the Python gateway does: entries
// of stopped connectors are removed (their files stay), active ones missing get an entry.
func (g *Gateway) activeEdit(top map[string]any) error {
	infos := g.Connectors()
	entries, _ := top["connectors"].([]any)
	out := []any{}
	for _, e := range entries {
		name, _ := nameOfEntry(e)
		if i := slices.IndexFunc(infos, func(ci ConnectorInfo) bool { return ci.Name == name }); i < 0 || infos[i].Active {
			out = append(out, e)
		}
	}
	top["connectors"] = out
	for _, ci := range infos {
		if ci.Active {
			if err := g.entryEdit(ci)(top); err != nil {
				return err
			}
		}
	}
	return nil
}

// entryEdit returns an edit giving the connector ci an entry {type, name, configuration} in the main file's
// "connectors" list: an existing entry of that name keeps its other keys and, where they already say the same,
// its values (types compare case-insensitively).
func (g *Gateway) entryEdit(ci ConnectorInfo) func(top map[string]any) error {
	return func(top map[string]any) error {
		entries, _ := top["connectors"].([]any)
		conf := g.relConfigPath(ci.File)
		for _, e := range entries {
			m, ok := e.(map[string]any)
			if name, _ := nameOfEntry(e); !ok || name != ci.Name {
				continue
			}
			if t, _ := m["type"].(string); !strings.EqualFold(t, ci.Type) {
				m["type"] = ci.Type
			}
			if c, _ := m["configuration"].(string); filepath.Join(g.config().Dir, c) != ci.File {
				m["configuration"] = conf
			}
			return nil
		}
		entry, err := json.Marshal(struct {
			Type          string `json:"type"`
			Name          string `json:"name"`
			Configuration string `json:"configuration"`
		}{ci.Type, ci.Name, conf})
		if err != nil {
			return err
		}
		top["connectors"] = append(entries, json.RawMessage(entry))
		return nil
	}
}

// connectorWrite is the write of a connector's file with the configuration it runs, or nil when the file
// already holds it.
func connectorWrite(ci ConnectorInfo) (*config.FileWrite, error) {
	return jsonFileWrite(ci.File, fmt.Sprintf("connector %q", ci.Name), ci.Config)
}

// jsonFileWrite is the write of file with the JSON value want, or nil when the file already holds it. An
// existing file keeps its layout where unchanged (config.PatchJSON); a new one is indented by two spaces. A value
// holding RedactedValue is never written.
func jsonFileWrite(file, what string, want []byte) (*config.FileWrite, error) {
	if holdsRedacted(objectOf(want)) {
		return nil, fmt.Errorf("%s: %s: a secret is %q and what runs has no value for it; the file was not written", file, what, RedactedValue)
	}
	old, err := os.ReadFile(file)
	if err == nil && canonicalJSON(old) == canonicalJSON(want) {
		return nil, nil
	}
	var data []byte
	if err == nil {
		data, err = config.PatchJSON(old, want)
	}
	if err != nil {
		var b bytes.Buffer
		if err := json.Indent(&b, want, "", "  "); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, what, err)
		}
		b.WriteByte('\n')
		data = b.Bytes()
	}
	return &config.FileWrite{Path: file, Data: data}, nil
}

// checkConnectorFileName refuses a connector file name from ThingsBoard that is not a bare file name in the
// config folder (decisions.md, Security), or names a file the gateway keeps for itself or another connector's
// file. The name the running connector already has (set in the local main file) is accepted as it is.
func (g *Gateway) checkConnectorFileName(name, file string) error {
	infos := g.Connectors()
	if i := slices.IndexFunc(infos, func(ci ConnectorInfo) bool { return ci.Name == name }); i >= 0 && g.relConfigPath(infos[i].File) == file {
		return nil
	}
	switch {
	case file == "." || file == ".." || strings.ContainsAny(file, `/\`) || filepath.Base(file) != file || strings.HasPrefix(file, "."):
		return fmt.Errorf("\"configuration\" %q: a connector file from ThingsBoard must be a plain file name in the config folder", file)
	case strings.EqualFold(file, filepath.Base(g.config().File)) || slices.ContainsFunc([]string{config.MainFileJSON, config.MainFileYAML, logsFile, DeviceTableFile}, func(s string) bool { return strings.EqualFold(s, file) }):
		return fmt.Errorf("\"configuration\" %q: that file is the gateway's own, not a connector file", file)
	}
	for _, ci := range infos {
		if ci.Name != name && filepath.Base(ci.File) == file && filepath.Dir(ci.File) == filepath.Clean(g.config().Dir) {
			return fmt.Errorf("\"configuration\" %q: that file is connector %q's", file, ci.Name)
		}
	}
	return nil
}

// connectorInfo returns the known connector called name.
func (g *Gateway) connectorInfo(name string) (ConnectorInfo, bool) {
	for _, ci := range g.Connectors() {
		if ci.Name == name {
			return ci, true
		}
	}
	return ConnectorInfo{}, false
}

// relNames returns paths relative to the config folder where they are in it.
func (g *Gateway) relNames(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, g.relConfigPath(p))
	}
	return out
}

func nameOfEntry(e any) (string, bool) {
	switch x := e.(type) {
	case map[string]any:
		n, ok := x["name"].(string)
		return n, ok
	case json.RawMessage:
		return nameOfEntry(objectOf(x))
	}
	return "", false
}

// holdsRedacted reports whether RedactedValue appears anywhere in a decoded tree.
func holdsRedacted(v any) bool {
	switch x := v.(type) {
	case string:
		return x == RedactedValue
	case map[string]any:
		for _, e := range x {
			if holdsRedacted(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, holdsRedacted)
	}
	return false
}

// decodeObject decodes a JSON object with numbers kept as their text.
func decodeObject(b []byte) (map[string]any, error) {
	v, err := decodeTree(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the file does not hold a JSON object")
	}
	return m, nil
}

// mustJSON encodes a decoded tree (it always encodes).
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
