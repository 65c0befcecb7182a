package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFilesKeepsDatedBackupAndMode(t *testing.T) {
	dir := t.TempDir()
	main, conn := filepath.Join(dir, "tb_gateway.json"), filepath.Join(dir, "new.json")
	if err := os.WriteFile(main, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 21, 5, 9, 0, time.FixedZone("X", 3600))
	backups, err := WriteFiles([]FileWrite{{main, []byte("new")}, {conn, []byte("{}")}}, 0o600, now)
	if err != nil {
		t.Fatal(err)
	}
	wantBak := main + ".20261207-200509.bak"
	if len(backups) != 1 || backups[0] != wantBak {
		t.Fatalf("backups %v, want [%s]", backups, wantBak)
	}
	for file, want := range map[string]string{main: "new", wantBak: "old", conn: "{}"} {
		if b, err := os.ReadFile(file); err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", file, b, err, want)
		}
	}
	for file, want := range map[string]os.FileMode{main: 0o640, conn: 0o600} {
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", file, fi.Mode().Perm(), err, want)
		}
	}
	// The same second again: a second backup, not the first overwritten.
	backups, err = WriteFiles([]FileWrite{{main, []byte("newer")}}, 0o600, now)
	if err != nil || len(backups) != 1 || backups[0] != main+".20261207-200509-2.bak" {
		t.Fatalf("second save: backups %v, %v", backups, err)
	}
	if b, _ := os.ReadFile(wantBak); string(b) != "old" {
		t.Errorf("first backup now holds %q", b)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// A file that cannot be written (here a folder in its place, which stops the superuser too) leaves every file as
// it was, the ones listed before it included.
func TestWriteFilesFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	first, blocked := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := os.WriteFile(first, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := WriteFiles([]FileWrite{{first, []byte("new")}, {blocked, []byte("x")}}, 0o644, time.Now())
	if err == nil || !strings.Contains(err.Error(), blocked) {
		t.Fatalf("err = %v, want one naming %s", err, blocked)
	}
	if b, _ := os.ReadFile(first); string(b) != "old" {
		t.Errorf("%s holds %q after a failed save", first, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the folder holds %d entries after a failed save, want the 2 it had", len(entries))
	}
}

func TestWriteFilesPrunesOldBackups(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range BackupsKept + 3 {
		if _, err := WriteFiles([]FileWrite{{file, fmt.Appendf(nil, "%d", i)}}, 0o644, start.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	baks, _ := filepath.Glob(file + ".*.bak")
	if len(baks) != BackupsKept {
		t.Fatalf("%d backups kept, want %d: %v", len(baks), BackupsKept, baks)
	}
	// Saves 1..12 each backed up the previous content at their second; the oldest two (contents 0 and 1) are gone.
	if b, err := os.ReadFile(file + ".20260101-000003.bak"); err != nil || string(b) != "2" {
		t.Errorf("oldest kept backup holds %q (%v), want 2", b, err)
	}
	if _, err := os.Stat(file + ".20260101-000002.bak"); err == nil {
		t.Error("a backup beyond the kept ones is still there")
	}
}
