package storagetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MountTmpfs mounts a tmpfs of the given size (mount's syntax, such as "1m") on a new folder and unmounts it when
// the test ends; stores in it must be closed before then (cleanups registered after this call run first). A tmpfs
// is how the disk-full tests fill a real disk. When it cannot be mounted (mounting needs root) the test fails if
// the environment variable CI is "true", as `make test` sets it, and is skipped with the reason otherwise.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	return mount(t, "tmpfs", "size="+size, "mounting a tmpfs to fill a real disk")
}

// MountReadOnly mounts an empty read-only tmpfs on a new folder and unmounts it when the test ends: a folder in
// which even root cannot create a file, for the tests of a storage that cannot be opened. Like MountTmpfs it
// needs root: without it the test fails when CI is "true" and is skipped otherwise.
func MountReadOnly(t testing.TB) string {
	t.Helper()
	return mount(t, "readonly", "ro,size=1m", "mounting a read-only tmpfs")
}

// mount mounts a tmpfs with options on a new folder name, unmounted when the test ends.
func mount(t testing.TB, name, options, what string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, what+" needs root: run the tests as root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		Unavailable(t, "cannot mount a tmpfs ("+options+") at "+dir+": "+err.Error()+": "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Unavailable ends a test whose environment lacks what it needs: a failure when CI is "true" (in CI a missing
// prerequisite must never pass as a skip), a skip with the reason otherwise.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing prerequisite fails the test)", reason)
	}
	t.Skip(reason)
}
