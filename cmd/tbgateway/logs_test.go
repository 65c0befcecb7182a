package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// logs.json in the config folder sets the outputs and levels; what lies outside the subset is warned about,
// naming the file and the key; an explicit --log-level overrides every logger's level.
func TestLogsJSONInTheConfigFolder(t *testing.T) {
	dir := t.TempDir()
	doc := `{"version":1,
		"handlers":{"sys":{"class":"logging.handlers.SysLogHandler"},
		            "svc":{"class":"logging.handlers.RotatingFileHandler","filename":"./logs/service.log","maxBytes":1048576,"backupCount":3}},
		"loggers":{"service":{"handlers":["svc","sys"],"level":"WARNING","propagate":false}}}`
	if err := os.WriteFile(filepath.Join(dir, "logs.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	logs, warns, err := openLogs(dir, "info", false, "text", &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "logs.json") + ": handlers.sys: class logging.handlers.SysLogHandler is not supported"
	if !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings %q lack %q", warns, want)
	}
	logs.Logger().Info("info line")
	logs.Logger().Warn("warning line")
	logs.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "logs", "service.log"))
	if !strings.Contains(string(b), "warning line") || strings.Contains(string(b), "info line") {
		t.Errorf("service.log at WARNING:\n%s", b)
	}

	logs, _, err = openLogs(dir, "debug", true, "text", &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logs.Logger().Debug("debug line")
	logs.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "logs", "service.log")); !strings.Contains(string(b), "debug line") {
		t.Errorf("--log-level debug given: service.log lacks the debug line:\n%s", b)
	}
	if _, _, err := openLogs(t.TempDir(), "loud", false, "text", &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
}
