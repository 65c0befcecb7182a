package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// pyRow is one row of a Python gateway storage database: its timestamp column and its JSON message.
type pyRow struct {
	ts  any
	msg string
}

// writePythonDB creates a database shaped like the Python gateway's sqlite storage (thingsboard_gateway/storage/
// sqlite: table messages(id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp, message TEXT) in WAL mode) holding rows.
func writePythonDB(t *testing.T, path string, rows ...pyRow) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER, message TEXT)`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO messages (timestamp, message) VALUES (?, ?)`, r.ts, r.msg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImportPython(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	if err := s.Put(context.Background(), recs("ours", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	writePythonDB(t, filepath.Join(dir, "data.db"),
		pyRow{1700000000123, `{"deviceName":"Dev A","deviceType":"thermo","telemetry":[{"ts":1700000000000,"values":{"t":21.5,"n":3,"e":1e3,"big":12345678901234567890,"obj":{"a":[1, 2]},"gone":null}}],"attributes":{"fw":"1.0","on":true}}`},
		pyRow{1700000001.5, `{"deviceName":"Dev B","deviceType":"default","telemetry":[{"hum":40}],"attributes":{}}`},
		pyRow{1700000002000, `not json`},
		pyRow{1700000003000, `{"deviceName":"Dev A","telemetry":[{"ts":1700000000001,"values":{"t":22}}],"attributes":[{"x":1},{"y":"z"}]}`},
	)
	writePythonDB(t, filepath.Join(dir, "data_1700000100000.db"),
		pyRow{1700000100001, `{"deviceName":"Dev C","telemetry":[],"attributes":{"list":[1,"a"]}}`})
	// Not the Python gateway's: left alone.
	other, err := sql.Open("sqlite", filepath.Join(dir, "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`CREATE TABLE things (x)`); err != nil {
		t.Fatal(err)
	}
	other.Close()

	s = openStore(t, Options{Dir: dir})
	want := []tbgateway.Record{
		rec("ours", 0),
		{Device: "Dev A", DeviceType: "thermo",
			Attributes: map[string]any{"fw": "1.0", "on": true},
			Telemetry: []tbgateway.Telemetry{{TS: 1700000000000, Values: map[string]any{
				"t": 21.5, "n": int64(3), "e": 1000.0, "big": 12345678901234567890.0, "obj": tbgateway.RawJSON(`{"a":[1,2]}`)}}}},
		{Device: "Dev B", DeviceType: "default",
			Telemetry: []tbgateway.Telemetry{{TS: 1700000001500, Values: map[string]any{"hum": int64(40)}}}},
		{Device: "Dev A", Attributes: map[string]any{"x": int64(1), "y": "z"},
			Telemetry: []tbgateway.Telemetry{{TS: 1700000000001, Values: map[string]any{"t": int64(22)}}}},
		{Device: "Dev C", Attributes: map[string]any{"list": tbgateway.RawJSON(`[1,"a"]`)}},
	}
	got := drain(t, s, len(want))
	for i := range want {
		if !reflect.DeepEqual(got[i].Record, want[i]) {
			t.Errorf("record %d:\n got %#v\nwant %#v", i, got[i].Record, want[i])
		}
	}
	assertDrained(t, s)
	for _, name := range []string{"data.db.imported", "data_1700000100000.db.imported", "other.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"data.db", "data_1700000100000.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after the import (%v)", name, err)
		}
	}
	// The Python timestamps are the Put times: the TTL applies from them.
	var putMS int64
	if err := s.rdb.QueryRow(`SELECT put_ms FROM records WHERE id = ?`, got[2].Seq).Scan(&putMS); err != nil || putMS != 1700000001500 {
		t.Errorf("put time of the imported row = %d (%v), want 1700000001500", putMS, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash after the import committed but before the rename: the next Open only renames.
	if err := os.Rename(filepath.Join(dir, "data.db.imported"), filepath.Join(dir, "data.db")); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Options{Dir: dir})
	if c := s.Stats().Count; c != len(want) {
		t.Fatalf("after reopening with an imported file not yet renamed: Count = %d, want %d", c, len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "data.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data.db not renamed on the second open (%v)", err)
	}
}

func TestImportPythonUnreadable(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "data.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Dir: dir}, quiet)
	if err == nil {
		s.Close()
		t.Fatal("Open with an unreadable python database succeeded")
	}
	if !strings.Contains(err.Error(), bad) {
		t.Fatalf("error %q does not name %s", err, bad)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatalf("the unreadable file is gone: %v", err)
	}
}

func TestImportPythonTooBig(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(dir, "data.db")
	ev := `{"deviceName":"D","telemetry":[{"ts":1,"values":{"v":1}}]}`
	writePythonDB(t, py, pyRow{1, ev}, pyRow{2, ev}, pyRow{3, ev})
	s, err := Open(context.Background(), Options{Dir: dir, MaxRecords: 2}, quiet)
	if err == nil {
		s.Close()
		t.Fatal("Open with a python database bigger than the store succeeded")
	}
	if !errors.Is(err, tbgateway.ErrStorageFull) || !strings.Contains(err.Error(), py) {
		t.Fatalf("error %v, want ErrStorageFull naming %s", err, py)
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("the python file is gone: %v", err)
	}
	d := openStore(t, Options{Dir: dir, MaxRecords: 2, Policy: tbgateway.DropOldest, Clock: func() time.Time { return time.Unix(5, 0) }})
	if st := d.Stats(); st.Count != 2 || st.Dropped != 1 {
		t.Fatalf("drop-oldest import: Stats = %+v, want Count 2, Dropped 1", st)
	}
}
