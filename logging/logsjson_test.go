package logging

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Python gateway's own logs.json is in the subset: only its formatter is warned about.
func TestDecodePythonSample(t *testing.T) {
	raw, err := os.ReadFile("../cmd/tbgateway/testdata/python-sample/logs.json")
	if err != nil {
		t.Fatal(err)
	}
	c, warns, err := Decode(raw, "logs.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "logs.json: formatters LogFormatter") {
		t.Errorf("warnings %q, want one about the formatter", warns)
	}
	levels, handlers := c.categoryLoggers()
	if levels[Service] != slog.LevelInfo || !slices.Equal(handlers[Service], []string{"consoleHandler", "serviceHandler"}) {
		t.Errorf("service: %v %v", levels[Service], handlers[Service])
	}
	if !slices.Equal(handlers[Storage], []string{"consoleHandler", "databaseHandler", "storageHandler"}) {
		t.Errorf("storage and database merged: %v", handlers[Storage])
	}
	if h := c.Handlers["serviceHandler"]; h.Kind != KindTimed || h.When != "D" || h.Interval != 3 || h.BackupCount != 7 {
		t.Errorf("serviceHandler = %+v", h)
	}
}

func TestDecodeWarnsAboutEverythingOutsideTheSubset(t *testing.T) {
	raw := []byte(`{"version":1,"colour":true,
		"handlers":{"sys":{"class":"logging.handlers.SysLogHandler","address":"/dev/log"},
		            "f":{"class":"logging.FileHandler","filename":"x.log","delay":true}},
		"loggers":{"service":{"handlers":["sys","f"],"level":"INFO","filters":[]},"my_module":{"level":"DEBUG"}}}`)
	_, warns, err := Decode(raw, "conf/logs.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"conf/logs.json: colour: not supported",
		"conf/logs.json: handlers.sys: class logging.handlers.SysLogHandler is not supported",
		"conf/logs.json: handlers.f.delay: not supported",
		"conf/logs.json: loggers.service.filters: not supported",
		"conf/logs.json: loggers.my_module: the gateway has no such logger",
	} {
		if !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("no warning %q in %q", want, warns)
		}
	}
}

func TestDecodeRefusesWhatPythonRefuses(t *testing.T) {
	for doc, want := range map[string]string{
		`[]`: "not a JSON object",
		`{"loggers":{"service":{"level":"LOUD"}}}`:                                                           "loggers.service.level",
		`{"loggers":{"service":{"handlers":["nope"]}}}`:                                                      `no handler "nope"`,
		`{"handlers":{"f":{"class":"logging.FileHandler"}}}`:                                                 "handlers.f.filename: missing",
		`{"handlers":{"t":{"class":"logging.handlers.TimedRotatingFileHandler","filename":"a","when":"Q"}}}`: "handlers.t.when",
		`{"version":2}`: "version",
	} {
		_, _, err := Decode([]byte(doc), "logs.json")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "logs.json: ") {
			t.Errorf("%s: error %v, want one naming the file and %q", doc, err, want)
		}
	}
}

// Levels per logger apply to the outputs, and ApplyLevels changes them in place.
func TestOpenRoutesLoggersAndAppliesLevels(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	c, _, err := Decode([]byte(`{"version":1,
		"handlers":{"console":{"class":"logging.StreamHandler","stream":"ext://sys.stdout"},
		            "svc":{"class":"logging.FileHandler","filename":"logs/service.log"}},
		"loggers":{"service":{"handlers":["svc"],"level":"INFO","propagate":false},
		           "tb_connection":{"handlers":["console"],"level":"WARNING","propagate":false}},
		"root":{"level":"ERROR","handlers":[]}}`), "logs.json")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, OpenOptions{Dir: dir, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := l.Logger()
	log.Info("service info")
	log.Debug("service debug")
	log.With("component", "uplink").Info("link info")
	log.With("component", "uplink").Warn("link warning")
	log.With("connector", "C").Warn("connector warning, below root's ERROR")
	lv := slog.LevelDebug
	l.SetConnector("D", &lv, false)
	log.With("connector", "D").Debug("connector with its own level")
	c2, _, _ := Decode([]byte(`{"loggers":{"service":{"level":"DEBUG"},"tb_connection":{"level":"INFO"}}}`), "logs_configuration")
	l.ApplyLevels(c2)
	log.Debug("service debug after the change")
	file, _ := os.ReadFile(filepath.Join(dir, "logs", "service.log"))
	for _, want := range []string{"service info", "service debug after the change"} {
		if !strings.Contains(string(file), want) {
			t.Errorf("service.log lacks %q:\n%s", want, file)
		}
	}
	if strings.Contains(string(file), "msg=\"service debug\"") || strings.Contains(string(file), "link") {
		t.Errorf("service.log holds what it should not:\n%s", file)
	}
	if out := stdout.String(); !strings.Contains(out, "link warning") || strings.Contains(out, "link info") {
		t.Errorf("stdout (tb_connection at WARNING):\n%s", out)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestSizeRotationKeepsBackups(t *testing.T) {
	dir := t.TempDir()
	c, _, err := Decode([]byte(`{"handlers":{"r":{"class":"logging.handlers.RotatingFileHandler","filename":"r.log","maxBytes":1048576,"backupCount":2}},
		"loggers":{"service":{"handlers":["r"],"level":"INFO"}}}`), "logs.json")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, OpenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 1000)
	for range 1200 { // about 1.2 MB
		l.Logger().Info(line)
	}
	l.Close()
	if b := backups(t, dir, "r-"); len(b) == 0 {
		t.Fatal("no backup after writing more than maxBytes")
	}
}

func TestTimedRotationAtMidnight(t *testing.T) {
	dir := t.TempDir()
	c, _, err := Decode([]byte(`{"handlers":{"d":{"class":"thingsboard_gateway.tb_utility.tb_rotating_file_handler.TimedRotatingFileHandler","filename":"logs/d.log","when":"midnight","backupCount":7}},
		"loggers":{"service":{"handlers":["d"],"level":"INFO"}}}`), "logs.json")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 23, 59, 0, 0, time.Local)
	l, err := Open(c, OpenOptions{Dir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Logger().Info("before midnight")
	if b := backups(t, filepath.Join(dir, "logs"), "d-"); len(b) != 0 {
		t.Fatalf("backups before midnight: %v", b)
	}
	now = now.Add(2 * time.Minute)
	l.Logger().Info("after midnight")
	b := backups(t, filepath.Join(dir, "logs"), "d-")
	if len(b) != 1 {
		t.Fatalf("backups after midnight: %v, want 1", b)
	}
	old, _ := os.ReadFile(filepath.Join(dir, "logs", b[0]))
	cur, _ := os.ReadFile(filepath.Join(dir, "logs", "d.log"))
	if !strings.Contains(string(old), "before midnight") || !strings.Contains(string(cur), "after midnight") || strings.Contains(string(cur), "before") {
		t.Errorf("backup %q, current %q", old, cur)
	}
}

func backups(t *testing.T, dir, prefix string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
