package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// BackupsKept is how many dated backups of one file WriteFiles keeps; older ones are removed.
const BackupsKept = 10

// backupStamp is the layout of a backup's date: <file>.<yyyymmdd-hhmmss>.bak, UTC.
const backupStamp = "20060102-150405"

// FileWrite is one file WriteFiles writes: its path and its new content.
type FileWrite struct {
	Path string
	Data []byte
}

// WriteFiles writes every file in two steps so that a failure leaves each file as it was: first the new contents
// go to temporary files in the files' folders (written and fsynced); only when all of them succeeded, each
// existing file is kept as <file>.<yyyymmdd-hhmmss>.bak (now, UTC; "-2", "-3"... when that name is taken) next to
// it and the temporary file is renamed over it (atomic), and the folder is fsynced. A file keeps its permission
// bits and, where the system allows, its owner; a new file takes the permission bits of perm. At most
// BackupsKept backups of a file are kept. It returns the backups made. An error names the file and the step; the
// files already renamed before a failure of a later rename stay written (the error says which).
func WriteFiles(files []FileWrite, perm fs.FileMode, now time.Time) (backups []string, err error) {
	temps := make([]string, len(files))
	defer func() {
		for _, t := range temps {
			if t != "" {
				os.Remove(t)
			}
		}
	}()
	for i, f := range files {
		mode, old := perm.Perm(), (fs.FileInfo)(nil)
		if fi, err := os.Stat(f.Path); err == nil {
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: not a regular file", f.Path)
			}
			mode, old = fi.Mode().Perm(), fi
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		t, err := writeTemp(f, mode, old)
		if err != nil {
			return nil, err
		}
		temps[i] = t
	}
	var done []string
	for i, f := range files {
		if b, err := backup(f.Path, now); err != nil {
			return backups, renamedErr(done, err)
		} else if b != "" {
			backups = append(backups, b)
		}
		if err := os.Rename(temps[i], f.Path); err != nil {
			return backups, renamedErr(done, fmt.Errorf("%s: replacing the file: %w", f.Path, err))
		}
		temps[i] = ""
		done = append(done, f.Path)
		syncDir(filepath.Dir(f.Path))
		pruneBackups(f.Path)
	}
	return backups, nil
}

func renamedErr(done []string, err error) error {
	if len(done) == 0 {
		return err
	}
	return fmt.Errorf("%w (already written: %s)", err, strings.Join(done, ", "))
}

// writeTemp writes f's content to a new temporary file next to it, fsynced, with mode and old's owner.
func writeTemp(f FileWrite, mode fs.FileMode, old fs.FileInfo) (string, error) {
	tf, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("%s: creating a temporary file in its folder: %w", f.Path, err)
	}
	name := tf.Name()
	_, err = tf.Write(f.Data)
	if err == nil {
		err = tf.Chmod(mode)
	}
	if err == nil && old != nil {
		keepOwner(tf, old)
	}
	if err == nil {
		err = tf.Sync()
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("%s: writing a temporary file in its folder: %w", f.Path, err)
	}
	return name, nil
}

// backup keeps the current file (if any) as a dated backup: a hard link to it, or a copy where links fail.
func backup(path string, now time.Time) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	base := path + "." + now.UTC().Format(backupStamp)
	name := base + ".bak"
	for n := 2; ; n++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("%s-%d.bak", base, n)
	}
	if err := os.Link(path, name); err == nil {
		return name, nil
	}
	data, err := os.ReadFile(path)
	if err == nil {
		fi, serr := os.Stat(path)
		if serr != nil {
			return "", fmt.Errorf("%s: keeping a backup: %w", path, serr)
		}
		err = os.WriteFile(name, data, fi.Mode().Perm())
	}
	if err != nil {
		return "", fmt.Errorf("%s: keeping a backup as %s: %w", path, name, err)
	}
	return name, nil
}

// pruneBackups removes the oldest backups of path beyond BackupsKept; failures are left for the next save.
func pruneBackups(path string) {
	matches, err := filepath.Glob(globEscape(path) + ".????????-??????*.bak")
	if err != nil || len(matches) <= BackupsKept {
		return
	}
	slices.SortFunc(matches, func(a, b string) int {
		ta, tb := backupTime(path, a), backupTime(path, b)
		if c := strings.Compare(ta, tb); c != 0 {
			return c
		}
		return len(a) - len(b) // "x.bak" before "x-2.bak" before "x-10.bak"
	})
	for _, m := range matches[:len(matches)-BackupsKept] {
		os.Remove(m)
	}
}

func backupTime(path, backup string) string {
	s := strings.TrimPrefix(backup, path+".")
	if len(s) < len(backupStamp) {
		return s
	}
	return s[:len(backupStamp)]
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// syncDir fsyncs a folder so that a rename in it survives a crash; errors are ignored (not every system allows it).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
