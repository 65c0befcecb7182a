package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

const (
	pyStateFile      = "state_file.txt"
	pyImportedSuffix = ".imported"
	importBatch      = 1000
)

// pyDataFile is one of the Python storage's data_<ms>.txt files.
type pyDataFile struct {
	name string
	ms   int64
}

// listPythonFiles returns the Python storage's data files in Dir, oldest first.
func listPythonFiles(dir string) ([]pyDataFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []pyDataFile
	for _, e := range ents {
		digits, ok := strings.CutPrefix(e.Name(), "data_")
		if digits, ok = strings.CutSuffix(digits, ".txt"); !ok || !e.Type().IsRegular() {
			continue
		}
		if ms, err := strconv.ParseInt(digits, 10, 64); err == nil {
			out = append(out, pyDataFile{name: e.Name(), ms: ms})
		}
	}
	slices.SortFunc(out, func(a, b pyDataFile) int { return cmpUint(uint64(a.ms), uint64(b.ms)) })
	return out, nil
}

// pyState is the Python storage's state_file.txt: the file being read and the lines of it already read.
type pyState struct {
	File     string `json:"file"`
	Position int    `json:"position"`
}

// importPython imports the Python file storage's unread events, in order, then renames its files to
// <name>.imported. See the package doc.
func (s *Store) importPython(ctx context.Context) error {
	files, err := listPythonFiles(s.opts.Dir)
	if err != nil || len(files) == 0 {
		return err
	}
	var st pyState
	statePath := filepath.Join(s.opts.Dir, pyStateFile)
	if b, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			s.log.Warn("file storage: Python state file unreadable; importing every Python data file", "file", statePath, "err", err)
			st = pyState{}
		}
	}
	start := slices.IndexFunc(files, func(f pyDataFile) bool { return f.name == st.File })
	if start < 0 {
		start, st.Position = 0, 0 // what the Python reader does when the state names no present file
	}
	imp := pyImporter{stamps: map[string]int64{}, now: time.Now().UnixMilli()}
	var batch []tbgateway.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.put(batch, true); err != nil {
			return fmt.Errorf("file storage: import Python events: %w", err)
		}
		s.mu.Lock()
		s.fstats.Imported += uint64(len(batch))
		s.mu.Unlock()
		batch = batch[:0]
		return nil
	}
	for i := start; i < len(files); i++ {
		skip := 0
		if i == start {
			skip = st.Position
		}
		path := filepath.Join(s.opts.Dir, files[i].name)
		err := imp.readFile(path, skip, func(r tbgateway.Record) error {
			batch = append(batch, r)
			if len(batch) >= importBatch {
				return flush()
			}
			return ctx.Err()
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return s.retirePython(files, imp)
}

// retirePython renames the imported Python files so that they are never imported again, and logs the import.
func (s *Store) retirePython(files []pyDataFile, imp pyImporter) error {
	names := []string{pyStateFile}
	for _, f := range files {
		names = append(names, f.name)
	}
	for _, n := range names {
		p := filepath.Join(s.opts.Dir, n)
		if err := os.Rename(p, p+pyImportedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file storage: import Python events: rename %s: %w", p, err)
		}
	}
	if err := syncDir(s.opts.Dir); err != nil {
		return fmt.Errorf("file storage: import Python events: %w", err)
	}
	s.log.Info("file storage: imported the Python file storage's unread events", "dir", s.opts.Dir,
		"files", len(files), "records", imp.imported, "skipped_invalid", imp.skipped, "renamed_to", "*"+pyImportedSuffix)
	return nil
}

// pyImporter turns Python events into records.
type pyImporter struct {
	stamps   map[string]int64 // last timestamp given per device to telemetry without one
	now      int64
	imported int
	skipped  int
}

// readFile calls emit for every valid event of a data file after its first skip lines.
func (p *pyImporter) readFile(path string, skip int, emit func(tbgateway.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("file storage: import Python events: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxPayload)
	for line := 0; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if line < skip || len(text) == 0 {
			continue
		}
		r, err := p.event(text)
		if err != nil {
			p.skipped++
			continue
		}
		p.imported++
		if err := emit(r); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("file storage: import Python events: read %s: %w", path, err)
	}
	return nil
}

// pyEvent is the Python gateway's stored event.
type pyEvent struct {
	DeviceName string          `json:"deviceName"`
	DeviceType string          `json:"deviceType"`
	Telemetry  json.RawMessage `json:"telemetry"`
	Attributes json.RawMessage `json:"attributes"`
}

// event decodes one base64(JSON) line into a valid record.
func (p *pyImporter) event(line []byte) (tbgateway.Record, error) {
	raw, err := base64.StdEncoding.DecodeString(string(line))
	if err != nil {
		return tbgateway.Record{}, err
	}
	var ev pyEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return tbgateway.Record{}, err
	}
	r := tbgateway.Record{Device: ev.DeviceName, DeviceType: ev.DeviceType}
	for _, obj := range objects(ev.Attributes) {
		if r.Attributes == nil {
			r.Attributes = map[string]any{}
		}
		addValues(r.Attributes, obj)
	}
	for _, obj := range objects(ev.Telemetry) {
		t := tbgateway.Telemetry{Values: map[string]any{}}
		if vals, ok := obj["values"]; ok {
			if ts, ok := obj["ts"]; ok {
				t.TS, _ = strconv.ParseInt(strings.Split(string(ts), ".")[0], 10, 64)
			}
			for _, o := range objects(vals) {
				addValues(t.Values, o)
			}
		} else {
			addValues(t.Values, obj)
		}
		if t.TS <= 0 {
			t.TS = max(p.now, p.stamps[r.Device]+1)
			p.stamps[r.Device] = t.TS
		}
		if len(t.Values) > 0 {
			r.Telemetry = append(r.Telemetry, t)
		}
	}
	return r, r.Validate()
}

// objects returns a JSON object, or the objects of a JSON array, as raw members.
func objects(raw json.RawMessage) []map[string]json.RawMessage {
	var one map[string]json.RawMessage
	if json.Unmarshal(raw, &one) == nil && one != nil {
		return []map[string]json.RawMessage{one}
	}
	var many []map[string]json.RawMessage
	_ = json.Unmarshal(raw, &many)
	return many
}

// addValues converts raw JSON values: numbers with a '.' or an exponent are float64, other numbers int64 (float64
// when out of range), objects and arrays tbgateway.RawJSON; nulls are left out.
func addValues(dst map[string]any, obj map[string]json.RawMessage) {
	for k, raw := range obj {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		switch c := raw[0]; {
		case c == '{' || c == '[':
			var b bytes.Buffer
			if json.Compact(&b, raw) == nil {
				dst[k] = tbgateway.RawJSON(b.Bytes())
			}
		case c == '"':
			var str string
			if json.Unmarshal(raw, &str) == nil {
				dst[k] = str
			}
		case c == 't' || c == 'f':
			dst[k] = c == 't'
		case c == 'n':
		default:
			dst[k] = number(string(raw))
		}
	}
}

func number(text string) any {
	if !strings.ContainsAny(text, ".eE") {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	}
	f, _ := strconv.ParseFloat(text, 64)
	return f
}
