package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/runtime"
)

// classTestConnector stands in for a built-in type that declares a Python class.
type classTestConnector struct{}

func (classTestConnector) Run(ctx context.Context, _ tbgateway.Sink) error { <-ctx.Done(); return nil }

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: "classtest", Classes: []string{"ClassTestConnector"},
		New: func(tbgateway.ConnectorConfig) (tbgateway.Connector, error) { return classTestConnector{}, nil }})
}

// TestPythonClassEntries: a main-config entry naming a Python class runs the built-in type declaring that class
// whatever its "type" says; a class on a built-in type that declares none is ignored with a warning (as the
// Python gateway does); any other class fails that connector alone, with an error naming the class and the three
// ways instead, in check-config and at start alike.
func TestPythonClassEntries(t *testing.T) {
	dir := t.TempDir()
	main := `{"thingsboard": ` + plainTB + `, "storage": {"type": "memory"}, "connectors": [
		{"type": "custom", "name": "mapped", "class": "ClassTestConnector", "configuration": "empty.json"},
		{"type": "simulator", "name": "ignored", "class": "SimulatorConnector", "configuration": "sim.json"},
		{"type": "custom", "name": "python", "class": "MyPythonConnector", "configuration": "empty.json"}]}`
	for name, body := range map[string]string{config.MainFileJSON: main, "empty.json": `{}`, "sim.json": goodSimulator} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	warnings, err := runtime.CheckConfig(dir, nil)
	if err == nil {
		t.Fatal("check-config accepted a Python class nobody provides")
	}
	for _, part := range []string{`connector "python"`, `class "MyPythonConnector"`, `Writing a connector`, `gRPC`,
		`Converters in config`, `ClassTestConnector (type classtest)`} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("check-config error %q does not name %q", err, part)
		}
	}
	if strings.Contains(err.Error(), `"mapped"`) || strings.Contains(err.Error(), `"ignored"`) {
		t.Errorf("check-config failed a connector it can run: %v", err)
	}
	if !slices.Contains(warnings, `connector "ignored": class "SimulatorConnector" ignored: type simulator is built in`) {
		t.Errorf("check-config warnings %q lack the ignored class", warnings)
	}
	cfg, _, err := config.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, log := newLogBuffer()
	gw, err := runtime.New(cfg, runtime.Options{Logger: log})
	if err != nil {
		t.Fatalf("New stopped at one unknown class: %v", err)
	}
	st := gw.Stats().Connectors
	if s := st["mapped"]; s.State != runtime.StateRunning {
		t.Errorf("the entry naming a built-in class: %+v", s)
	}
	if s := st["ignored"]; s.State != runtime.StateRunning {
		t.Errorf("the built-in type with a foreign class: %+v", s)
	}
	if s := st["python"]; s.State != runtime.StateFailed || !strings.Contains(s.Error, "MyPythonConnector") {
		t.Errorf("the unknown class: %+v", s)
	}
}
