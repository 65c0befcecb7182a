package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// importPython imports the Python gateway's sqlite storage files found in Dir, so that users switching over lose
// nothing that was waiting to be sent:
//   - Candidates are the files "*.db" in Dir. Those that are SQLite databases without a table "messages" are
//     skipped with a warning; any other file that cannot be read fails Open with an error naming it.
//   - Files are imported oldest first: the Python gateway's first file ("data.db", no number) before its rotated
//     ones "<name>_<ms>.db" in the order of their number; within a file, rows in id (rowid) order.
//   - Each row's message is a JSON event {"deviceName","deviceType","telemetry":[{"ts","values"}|{k:v}],
//     "attributes":{}}. JSON numbers with '.' or an exponent become float64, others int64 (float64 when too big),
//     objects and arrays tbgateway.RawJSON, null values are left out. Telemetry without "ts" takes the row's
//     timestamp (seconds or ms), which is also the record's Put time for the TTL. Rows that do not parse or
//     fail tbgateway.Record.Validate are skipped, counted in the log line; they stay in the renamed file.
//   - All rows of a file go in one transaction with a row of table "imports" naming the file (name, size,
//     mtime); then the file (and its -wal/-shm) is renamed to "<name>.imported". A crash between the commit and
//     the rename is repaired on the next Open by renaming only. Files are never deleted.
//   - The imported records count against the bounds: under RefuseNew a file that does not fit fails Open (the file
//     is left untouched); under DropOldest the oldest records are dropped, counted and logged.
func (s *Store) importPython(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(s.opts.Dir, "*.db"))
	if err != nil {
		return fmt.Errorf("sqlite storage: look for python databases in %s: %w", s.opts.Dir, err)
	}
	slices.SortFunc(files, func(a, b string) int {
		if na, nb := rotationNumber(a), rotationNumber(b); na != nb {
			return int(min(max(na-nb, -1), 1))
		}
		return bytes.Compare([]byte(a), []byte(b))
	})
	for _, f := range files {
		if err := s.importFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

var rotatedName = regexp.MustCompile(`_(\d+)\.db$`)

// rotationNumber returns the <ms> of a rotated Python file "<name>_<ms>.db", 0 for the first file.
func rotationNumber(path string) int64 {
	m := rotatedName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

type importKey struct {
	name    string
	size    int64
	mtimeNS int64
}

func keyOf(path string) (importKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return importKey{}, err
	}
	return importKey{filepath.Base(path), fi.Size(), fi.ModTime().UnixNano()}, nil
}

func (s *Store) importFile(ctx context.Context, path string) error {
	key, err := keyOf(path)
	if err != nil {
		return fmt.Errorf("sqlite storage: python database %s: %w", path, err)
	}
	var done int
	err = s.wconn.QueryRowContext(ctx, `SELECT rows FROM imports WHERE file = ? AND size = ? AND mtime_ns = ?`,
		key.name, key.size, key.mtimeNS).Scan(&done)
	switch {
	case err == nil:
		return s.renameImported(path, done, 0) // imported before a crash, not yet renamed
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite storage %s: look up imports: %w", s.path, err)
	}
	n, skipped, err := s.copyPython(ctx, path)
	if err != nil || n < 0 {
		return err
	}
	return s.renameImported(path, n, skipped)
}

// copyPython copies the rows of the Python database at path into the store in one transaction. It returns -1
// records for a database without table "messages", which is left alone.
func (s *Store) copyPython(ctx context.Context, path string) (n, skipped int, err error) {
	pdb, err := sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)", path, s.opts.BusyTimeout.Milliseconds()))
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: python database %s: %w", path, err)
	}
	defer pdb.Close()
	var tables int
	if err := pdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages'`).
		Scan(&tables); err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: cannot read python database %s (move it out of %s if it is not one): %w",
			path, s.opts.Dir, err)
	}
	if tables == 0 {
		s.log.Warn("sqlite storage: not importing a database without table messages", "file", path)
		return -1, 0, nil
	}
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, s.wrapErr("begin import", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	t := tally{count: s.count, bytes: s.bytes}
	if n, skipped, err = s.copyRows(ctx, pdb, tx, path, &t); err != nil {
		return 0, 0, err
	}
	if t.count > s.opts.MaxRecords || t.bytes > s.opts.MaxBytes {
		if s.opts.Policy != tbgateway.DropOldest {
			return 0, 0, fmt.Errorf("sqlite storage: python database %s: its %d records do not fit in the store "+
				"(%d of %d records, %d of %d bytes after import); raise the bounds or use the drop-oldest policy: %w",
				path, n, t.count, s.opts.MaxRecords, t.bytes, s.opts.MaxBytes, tbgateway.ErrStorageFull)
		}
		if err = s.dropOldest(ctx, tx, &t); err != nil {
			return 0, 0, err
		}
		s.log.Warn("sqlite storage full: dropped the oldest records while importing", "file", path, "dropped", t.dropped)
	}
	// Close the Python database first: closing may checkpoint its WAL, which changes its size and mtime.
	if err = pdb.Close(); err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: python database %s: close: %w", path, err)
	}
	key, err := keyOf(path)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: python database %s: %w", path, err)
	}
	if _, err = tx.ExecContext(ctx, `INSERT INTO imports (file, size, mtime_ns, rows) VALUES (?, ?, ?, ?)`,
		key.name, key.size, key.mtimeNS, n); err != nil {
		return 0, 0, s.wrapErr("record import of "+path, err)
	}
	if err = tx.Commit(); err != nil {
		return 0, 0, s.wrapErr("commit import of "+path, err)
	}
	s.count, s.bytes = t.count, t.bytes
	s.stats.Dropped += t.dropped
	return n, skipped, nil
}

func (s *Store) copyRows(ctx context.Context, pdb *sql.DB, tx *sql.Tx, path string, t *tally) (n, skipped int, err error) {
	rows, err := pdb.QueryContext(ctx, `SELECT rowid, timestamp, message FROM messages ORDER BY rowid`)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: cannot read python database %s: %w", path, err)
	}
	defer rows.Close()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO records (put_ms, data, session) VALUES (?, ?, ?)`)
	if err != nil {
		return 0, 0, s.wrapErr("prepare import", err)
	}
	defer stmt.Close()
	var firstErr error
	for rows.Next() {
		var id int64
		var ts sql.NullFloat64
		var msg []byte
		if err := rows.Scan(&id, &ts, &msg); err != nil {
			return 0, 0, fmt.Errorf("sqlite storage: cannot read python database %s: %w", path, err)
		}
		putMS := rowMillis(ts, s.opts.Clock)
		rec, err := recordFromPython(msg, putMS)
		if err == nil {
			err = rec.Validate()
		}
		if err != nil {
			skipped++
			if firstErr == nil {
				firstErr = fmt.Errorf("row %d: %w", id, err)
			}
			continue
		}
		b := rec.AppendBinary(nil)
		// Imported records are backlog: never live (the column's default), session events marked.
		if _, err := stmt.ExecContext(ctx, putMS, b, sessionDevice(&rec)); err != nil {
			return 0, 0, s.wrapErr("import "+path, err)
		}
		n++
		t.count++
		t.bytes += int64(len(b))
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("sqlite storage: cannot read python database %s: %w", path, err)
	}
	if skipped > 0 {
		s.log.Warn("sqlite storage: skipped python rows that are not valid events", "file", path, "skipped", skipped,
			"first", firstErr)
	}
	return n, skipped, nil
}

// rowMillis converts a Python row timestamp (seconds as a float in older versions, ms in newer) to ms.
func rowMillis(ts sql.NullFloat64, clock func() time.Time) int64 {
	switch {
	case !ts.Valid || ts.Float64 <= 0:
		return clock().UnixMilli()
	case ts.Float64 < 1e11: // before 1973 in ms, so it is seconds
		return int64(ts.Float64 * 1000)
	default:
		return int64(ts.Float64)
	}
}

// renameImported renames the imported file (and its WAL files) to "<name>.imported" and logs it.
func (s *Store) renameImported(path string, n, skipped int) error {
	to := path + ".imported"
	if _, err := os.Lstat(to); err == nil {
		to = fmt.Sprintf("%s.%d.imported", path, time.Now().UnixMilli())
	}
	if err := os.Rename(path, to); err != nil {
		return fmt.Errorf("sqlite storage: rename imported python database: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, to+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite storage: rename imported python database: %w", err)
		}
	}
	if d, err := os.Open(s.opts.Dir); err == nil {
		_ = d.Sync() // make the renames durable; a failure only risks renaming again after a crash
		_ = d.Close()
	}
	s.log.Info("sqlite storage: imported python gateway database", "file", path, "renamed_to", to,
		"records", n, "skipped", skipped)
	return nil
}

// pyEvent is the Python gateway's stored event.
type pyEvent struct {
	DeviceName string          `json:"deviceName"`
	DeviceType string          `json:"deviceType"`
	Telemetry  json.RawMessage `json:"telemetry"`
	Attributes json.RawMessage `json:"attributes"`
}

// recordFromPython converts one Python event; telemetry without "ts" gets defaultTS.
func recordFromPython(msg []byte, defaultTS int64) (tbgateway.Record, error) {
	var ev pyEvent
	if err := json.Unmarshal(msg, &ev); err != nil {
		return tbgateway.Record{}, fmt.Errorf("event is not JSON: %w", err)
	}
	rec := tbgateway.Record{Kind: tbgateway.KindData, Device: ev.DeviceName, DeviceType: ev.DeviceType}
	var err error
	if rec.Attributes, err = mergedObjects(ev.Attributes, "attributes"); err != nil {
		return rec, err
	}
	var entries []json.RawMessage
	switch t := bytes.TrimSpace(ev.Telemetry); {
	case len(t) == 0 || string(t) == "null":
	case t[0] == '{':
		entries = []json.RawMessage{t}
	default:
		if err := json.Unmarshal(t, &entries); err != nil {
			return rec, fmt.Errorf("telemetry: %w", err)
		}
	}
	for _, e := range entries {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e, &obj); err != nil {
			return rec, fmt.Errorf("telemetry entry: %w", err)
		}
		ts := defaultTS
		if raw, ok := obj["ts"]; ok {
			if vals, ok := obj["values"]; ok {
				if ts, err = parseTS(raw); err != nil {
					return rec, err
				}
				obj = nil
				if err := json.Unmarshal(vals, &obj); err != nil {
					return rec, fmt.Errorf("telemetry values: %w", err)
				}
			}
		}
		vals, err := convertValues(obj)
		if err != nil {
			return rec, fmt.Errorf("telemetry: %w", err)
		}
		if len(vals) > 0 {
			rec.Telemetry = append(rec.Telemetry, tbgateway.Telemetry{TS: ts, Values: vals})
		}
	}
	return rec, nil
}

// mergedObjects decodes an object, or an array of objects merged in order.
func mergedObjects(raw json.RawMessage, what string) (map[string]any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var objs []map[string]json.RawMessage
	if t[0] == '{' {
		objs = make([]map[string]json.RawMessage, 1)
		if err := json.Unmarshal(t, &objs[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	} else if err := json.Unmarshal(t, &objs); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	merged := map[string]json.RawMessage{}
	for _, o := range objs {
		for k, v := range o {
			merged[k] = v
		}
	}
	vals, err := convertValues(merged)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return vals, nil
}

func parseTS(raw json.RawMessage) (int64, error) {
	v, err := convertValue(raw)
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	}
	if err == nil {
		err = fmt.Errorf("ts %s is not a number", raw)
	}
	return 0, err
}

func convertValues(obj map[string]json.RawMessage) (map[string]any, error) {
	if len(obj) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(obj))
	for k, raw := range obj {
		v, err := convertValue(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if v != nil {
			out[k] = v
		}
	}
	return out, nil
}

// convertValue maps a JSON value to the record value types; null gives nil.
func convertValue(raw json.RawMessage) (any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return nil, errors.New("empty value")
	}
	switch t[0] {
	case 'n':
		return nil, nil
	case 't', 'f':
		var b bool
		err := json.Unmarshal(t, &b)
		return b, err
	case '"':
		var s string
		err := json.Unmarshal(t, &s)
		return s, err
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, t); err != nil {
			return nil, err
		}
		return tbgateway.RawJSON(buf.Bytes()), nil
	}
	if !json.Valid(t) {
		return nil, fmt.Errorf("invalid JSON value %.40s", t)
	}
	if !bytes.ContainsAny(t, ".eE") {
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i, nil
		}
	}
	return strconv.ParseFloat(string(t), 64)
}
