package runtime

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/config"
)

// sectionsMain is a main file in a user's layout (tabs, own key order, an unknown section).
const sectionsMain = "{\n\t\"thingsboard\": {\n\t\t\"host\": \"127.0.0.1\",\n\t\t\"port\": 1883,\n\t\t\"remoteConfiguration\": true,\n\t\t\"security\": {\"accessToken\": \"real-token\"},\n\t\t\"statistics\": {\"enable\": false}\n\t},\n\t\"storage\": {\"type\": \"memory\", \"max_records_count\": 1000},\n\t\"mine\": {\"z\": 1, \"a\": 2},\n\t\"connectors\": []\n}\n"

// savedGateway returns a gateway running the configuration in a folder holding sectionsMain, as New leaves it
// for saving (nothing started).
func savedGateway(t *testing.T) (*Gateway, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, config.MainFileJSON), []byte(sectionsMain), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{log: slog.New(slog.DiscardHandler), now: func() time.Time { return time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC) }}
	g.cfg.Store(cfg)
	return g, dir
}

// applied stores a configuration whose section is replaced by value, as applying a remote change does.
func applySection(t *testing.T, g *Gateway, section, value string) {
	t.Helper()
	next := *g.config()
	next.Raw = map[string]json.RawMessage{}
	for k, v := range g.config().Raw {
		next.Raw[k] = v
	}
	next.Raw[section] = json.RawMessage(value)
	g.cfg.Store(&next)
}

// TestSaveStorageSectionOnly: storage_configuration applied is written into the main file's "storage" section
// only, every other byte kept, the previous file kept as a dated backup with its mode; the folder loads with it.
func TestSaveStorageSectionOnly(t *testing.T) {
	g, dir := savedGateway(t)
	main := filepath.Join(dir, config.MainFileJSON)
	applySection(t, g, "storage", `{"type":"sqlite","data_file_path":"./data/data.db","ts":5}`)
	files, backups, err := g.saveRemote(attrStorage, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0] != main || len(backups) != 1 || backups[0] != main+".20261207-220000.bak" {
		t.Fatalf("files %v backups %v", files, backups)
	}
	golden := strings.Replace(sectionsMain, `"storage": {"type": "memory", "max_records_count": 1000}`, `"storage": {"type": "sqlite", "data_file_path": "./data/data.db"}`, 1)
	if b, _ := os.ReadFile(main); string(b) != golden {
		t.Errorf("main file\n%s\nwant\n%s", b, golden)
	}
	if b, _ := os.ReadFile(backups[0]); string(b) != sectionsMain {
		t.Errorf("backup holds\n%s\nwant the previous file", b)
	}
	if fi, err := os.Stat(main); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("main file mode %v (%v), want 0640 kept", fi.Mode().Perm(), err)
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil || cfg.Storage.Type != "sqlite" {
		t.Errorf("the folder loads storage %+v (%v), want sqlite", cfg.Storage, err)
	}
	// Saving again what is saved writes nothing.
	if files, _, err := g.saveRemote(attrStorage, nil, 6); err != nil || len(files) != 0 {
		t.Errorf("a second save wrote %v (%v)", files, err)
	}
}

// TestSaveGeneralSectionKeepsSecrets: general_configuration applied with the token as published (redacted),
// its ts and the statistics' remote "commands" is written with the file's token and without the remote-only keys.
func TestSaveGeneralSectionKeepsSecrets(t *testing.T) {
	g, dir := savedGateway(t)
	applySection(t, g, "thingsboard", `{"host":"127.0.0.1","port":1884,"remoteConfiguration":true,"security":{"accessToken":"<redacted>"},"statistics":{"enable":false,"commands":[]},"ts":7}`)
	if _, _, err := g.saveRemote(attrGeneral, nil, 7); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, config.MainFileJSON))
	golden := strings.Replace(sectionsMain, `"port": 1883`, `"port": 1884`, 1)
	if string(b) != golden {
		t.Errorf("main file\n%s\nwant\n%s", b, golden)
	}
	if bytes.Contains(b, []byte(RedactedValue)) {
		t.Errorf("%q written into the main file", RedactedValue)
	}
	// A secret redacted where the file has none is not written at all.
	applySection(t, g, "thingsboard", `{"host":"127.0.0.1","port":1884,"security":{"accessToken":"real-token","password":"<redacted>"}}`)
	if _, _, err := g.saveRemote(attrGeneral, nil, 8); err == nil || !strings.Contains(err.Error(), RedactedValue) {
		t.Errorf("err = %v, want the save refused for a redacted secret", err)
	}
	if b2, _ := os.ReadFile(filepath.Join(dir, config.MainFileJSON)); !bytes.Equal(b2, b) {
		t.Error("the main file changed")
	}
}
