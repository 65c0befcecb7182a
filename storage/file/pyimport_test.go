package file

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// copyFixture copies the Python file-storage fixture (see testdata/python/README.md) into a new directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"data_1700000000000.txt", "data_1700000001000.txt", "state_file.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", "python", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportPython(t *testing.T) {
	dir := copyFixture(t)
	log, buf := logBuffer()
	s, err := Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if fs := s.FileStats(); fs.Imported != 4 {
		t.Fatalf("Imported = %d, want 4", fs.Imported)
	}
	if !strings.Contains(buf.String(), "imported the Python file storage") || !strings.Contains(buf.String(), "skipped_invalid=2") {
		t.Fatalf("import not logged as expected; log:\n%s", buf)
	}
	es := drainEntries(t, s)
	if len(es) != 4 {
		t.Fatalf("got %d records, want 4: %+v", len(es), es)
	}
	stamped := es[1].Record.Telemetry[0].TS
	if stamped <= 0 {
		t.Fatalf("telemetry without a timestamp got %d, want the import time", stamped)
	}
	want := []tbgateway.Record{
		{Device: "Dev A", DeviceType: "thermo", Telemetry: []tbgateway.Telemetry{{TS: 1700000000100, Values: map[string]any{
			"temp": 21.5, "count": int64(7), "big": 1000.0, "on": true, "name": "x", "obj": tbgateway.RawJSON(`{"a":[1,2]}`)}}}},
		{Device: "Dev B", DeviceType: "default", Attributes: map[string]any{"fw": "1.2", "cfg": tbgateway.RawJSON(`[1,2,3]`)},
			Telemetry: []tbgateway.Telemetry{{TS: stamped, Values: map[string]any{"hum": int64(40)}}}},
		{Device: "Dev A", DeviceType: "thermo", Attributes: map[string]any{"model": "T-1", "n": int64(-3)}},
		{Device: "Dev B", DeviceType: "default", Telemetry: []tbgateway.Telemetry{{TS: 1700000000200, Values: map[string]any{"hum": int64(41)}}}},
	}
	for i := range want {
		if !reflect.DeepEqual(es[i].Record, want[i]) {
			t.Errorf("record %d:\n got %#v\nwant %#v", i, es[i].Record, want[i])
		}
	}
	closeT(t, s)
	for _, name := range []string{"data_1700000000000.txt", "data_1700000001000.txt", "state_file.txt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there after the import (err %v)", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".imported")); err != nil {
			t.Errorf("%s.imported: %v", name, err)
		}
	}
	// A restart imports nothing again and still holds the unacknowledged imported records.
	s = openT(t, Options{Dir: dir})
	defer closeT(t, s)
	if fs, st := s.FileStats(), s.Stats(); fs.Imported != 0 || st.Count != 4 {
		t.Fatalf("after restart: Imported %d, Count %d; want 0 and 4", fs.Imported, st.Count)
	}
}

// TestImportPythonNoState imports every line when the state file is missing (as the Python reader would start
// from the first file).
func TestImportPythonNoState(t *testing.T) {
	dir := copyFixture(t)
	if err := os.Remove(filepath.Join(dir, "state_file.txt")); err != nil {
		t.Fatal(err)
	}
	s := openT(t, Options{Dir: dir})
	defer closeT(t, s)
	if fs := s.FileStats(); fs.Imported != 6 {
		t.Fatalf("Imported = %d, want 6", fs.Imported)
	}
	es := drainEntries(t, s)
	if es[0].Record.Device != "Old A" || es[5].Record.Device != "Dev B" {
		t.Fatalf("import order: first %q, last %q", es[0].Record.Device, es[5].Record.Device)
	}
}
