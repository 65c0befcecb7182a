package runtime_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tbgateway/tbgateway/config"
	_ "github.com/tbgateway/tbgateway/connectors/modbus"
	_ "github.com/tbgateway/tbgateway/connectors/simulator"
	"github.com/tbgateway/tbgateway/runtime"
)

// logBuffer collects a logger's JSON lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged records, decoded.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	b := &logBuffer{}
	return b, slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Connector files of the tests below.
const (
	goodSimulator = `{"devices":[{"deviceName":"sim-device","periodMs":1,"timeseries":[{"key":"t","type":"constant","value":1}]}]}`
	// A Modbus file whose address range is reversed: the connector fails, the others run.
	badModbus      = `{"master":{"slaves":[{"type":"serial","port":"/dev/ttyS0","pollPeriod":1,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"3-0"}]}]}}`
	badModbusError = `master.slaves[0].timeseries[0].address: address range "3-0" is reversed`
)

// writeFolder writes a config folder: tb_gateway.json listing the connectors (name -> type, file name.json) and
// their files.
func writeFolder(t *testing.T, tb string, conns [][3]string) string {
	t.Helper()
	dir := t.TempDir()
	var list []map[string]string
	for _, c := range conns {
		name, typ, body := c[0], c[1], c[2]
		list = append(list, map[string]string{"type": typ, "name": name, "configuration": name + ".json"})
		if body != "" {
			if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	connsJSON, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	main := `{"thingsboard": ` + tb + `, "storage": {"type": "memory"}, "connectors": ` + string(connsJSON) + `}`
	if err := os.WriteFile(filepath.Join(dir, config.MainFileJSON), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const plainTB = `{"host": "127.0.0.1", "port": 1883, "security": {"accessToken": "T"}}`

// TestNewReportsInvalidConnectorFailed: a connector whose file is invalid or missing does not stop the
// gateway: New succeeds, that connector is logged once as failed with its file and key, and reported failed in
// the statistics, while the valid one is built; check-config reports the same connectors as errors.
func TestNewReportsInvalidConnectorFailed(t *testing.T) {
	dir := writeFolder(t, plainTB, [][3]string{
		{"sim", "simulator", goodSimulator},
		{"ascii", "modbus", badModbus},
		{"gone", "modbus", ""}, // no file
	})
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs, log := newLogBuffer()
	gw, err := runtime.New(cfg, runtime.Options{Logger: log})
	if err != nil {
		t.Fatalf("New stopped at one invalid connector: %v", err)
	}
	st := gw.Stats().Connectors
	if s := st["sim"]; s.State != runtime.StateRunning || s.Error != "" {
		t.Errorf("the valid connector: %+v", s)
	}
	asciiFile := filepath.Join(dir, "ascii.json")
	want := map[string][]string{
		"ascii": {asciiFile, badModbusError},
		"gone":  {filepath.Join(dir, "gone.json"), "connectors[2].configuration", "no such file"},
	}
	for name, parts := range want {
		s := st[name]
		if s.State != runtime.StateFailed {
			t.Errorf("connector %s: state %q, want %q", name, s.State, runtime.StateFailed)
		}
		for _, p := range parts {
			if !strings.Contains(s.Error, p) {
				t.Errorf("connector %s: error %q does not name %q", name, s.Error, p)
			}
		}
		n := 0
		for _, l := range logs.lines(t) {
			if l["level"] == "ERROR" && l["connector"] == name {
				n++
				if e, _ := l["err"].(string); e != s.Error {
					t.Errorf("connector %s logged %q, statistics say %q", name, e, s.Error)
				}
			}
		}
		if n != 1 {
			t.Errorf("connector %s: %d error lines logged, want 1", name, n)
		}
	}
	_, cerr := runtime.CheckConfig(dir, nil)
	if cerr == nil {
		t.Fatal("check-config found no error")
	}
	for name, s := range st {
		named := strings.Contains(cerr.Error(), `connector "`+name+`": `)
		if failed := s.State == runtime.StateFailed; failed != named || failed && !strings.Contains(cerr.Error(), s.Error) {
			t.Errorf("connector %s: state %s %q, check-config says %v", name, s.State, s.Error, cerr)
		}
	}
}

// TestConnectorWarningsLoggedAtStart: the warnings check-config prints for a connector file (an unknown key)
// are logged when the gateway starts, each once, with the same text.
func TestConnectorWarningsLoggedAtStart(t *testing.T) {
	sim := `{"devices":[{"deviceName":"A","nmae":"typo","timeseries":[{"key":"t","type":"constant","value":1}]}],"extra":true}`
	dir := writeFolder(t, plainTB, [][3]string{{"sim", "simulator", sim}})
	warnings, err := runtime.CheckConfig(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fromConnector []string
	for _, w := range warnings {
		if strings.HasPrefix(w, filepath.Join(dir, "sim.json")+": ") {
			fromConnector = append(fromConnector, w)
		}
	}
	if len(fromConnector) != 2 {
		t.Fatalf("check-config warnings %q, want two naming sim.json", warnings)
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs, log := newLogBuffer()
	if _, err := runtime.New(cfg, runtime.Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	for _, w := range fromConnector {
		n := 0
		for _, l := range logs.lines(t) {
			if l["level"] == "WARN" && l["warning"] == w && l["connector"] == "sim" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("warning %q logged %d times at start, want once", w, n)
		}
	}
}
