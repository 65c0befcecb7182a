package tbgateway_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The README's section "Connector keys, compared with the Python gateway" has one table per sample file of the
// Python gateway. These tests keep it complete and honest: every key path of a sample is listed, and every listed
// path is a key path of that sample.

const (
	keyTableSection = "### Connector keys, compared with the Python gateway"
	// keySampleDir holds the Python gateway's sample connector files, unchanged (see its NOTICE).
	keySampleDir = "config/testdata/corpus"
)

// keyTableFiles are the samples with a table. A file mapped to another one may leave out the key paths that the
// other file's table lists (modbus_serial.json lists only what it adds to modbus.json).
var keyTableFiles = map[string]string{
	"mqtt.json":          "",
	"modbus.json":        "",
	"modbus_serial.json": "modbus.json",
	"opcua.json":         "",
	"ble.json":           "",
}

func TestReadmeKeyTablesListEverySampleKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := parseKeyTables(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, file := range slices.Sorted(maps.Keys(keyTableFiles)) {
		base := keyTableFiles[file]
		rows, ok := tables[file]
		if !ok {
			t.Errorf("README.md: section %q has no table headed `%s`", keyTableSection, file)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(keySampleDir, file))
		if err != nil {
			t.Fatal(err)
		}
		paths, err := sampleKeyPaths(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		listed := map[string]bool{}
		for _, p := range rows {
			listed[p] = true
		}
		for _, p := range tables[base] {
			listed[p] = true
		}
		for _, p := range paths {
			if !listed[p] {
				t.Errorf("README.md, table `%s`: key path %s of %s/%s is not listed", file, p, keySampleDir, file)
			}
		}
		for _, p := range rows {
			if !slices.Contains(paths, p) {
				t.Errorf("README.md, table `%s`: row %s names no key path of %s/%s", file, p, keySampleDir, file)
			}
		}
	}
	for file := range tables {
		if _, ok := keyTableFiles[file]; !ok {
			t.Errorf("README.md, section %q: table `%s` is for no sample this test checks", keyTableSection, file)
		}
	}
}

// parseKeyTables reads the key tables of the README section: each "#### `file.json` ..." heading is followed by
// a Markdown table whose first column holds key paths in backticks. A backticked path may hold {a,b} groups,
// each standing for every one of its alternatives. It returns the paths per file, in table order.
func parseKeyTables(readme string) (map[string][]string, error) {
	start := strings.Index(readme, "\n"+keyTableSection+"\n")
	if start < 0 {
		return nil, fmt.Errorf("no section %q", keyTableSection)
	}
	tables := map[string][]string{}
	file := ""
	seen := map[string]bool{}
	for i, line := range strings.Split(readme[start+1:], "\n")[1:] {
		switch {
		case strings.HasPrefix(line, "## "), strings.HasPrefix(line, "### "):
			return tables, nil
		case strings.HasPrefix(line, "#### "):
			spans := backticked(line)
			if len(spans) == 0 || !strings.HasSuffix(spans[0], ".json") {
				return nil, fmt.Errorf("section %q, line %d: heading %q names no `file.json`", keyTableSection, i+1, line)
			}
			file = spans[0]
			if _, dup := tables[file]; dup {
				return nil, fmt.Errorf("section %q: two tables for `%s`", keyTableSection, file)
			}
			tables[file] = nil
		case strings.HasPrefix(line, "|") && file != "":
			cells := strings.Split(line, "|")
			first := strings.TrimSpace(cells[1])
			if first == "key" || strings.Trim(first, "-: ") == "" {
				continue // header and separator rows
			}
			spans := backticked(first)
			if len(spans) == 0 {
				return nil, fmt.Errorf("table `%s`: row %q has no `key.path` in its first cell", file, line)
			}
			for _, s := range spans {
				for _, p := range expandBraces(s) {
					if seen[file+" "+p] {
						return nil, fmt.Errorf("table `%s`: %s is listed twice", file, p)
					}
					seen[file+" "+p] = true
					tables[file] = append(tables[file], p)
				}
			}
		}
	}
	return tables, nil
}

// backticked returns the `code` spans of a line.
func backticked(line string) []string {
	parts := strings.Split(line, "`")
	var out []string
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// expandBraces expands every {a,b,...} group of s (groups do not nest).
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	end := strings.IndexByte(s, '}')
	if open < 0 || end < open {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[open+1:end], ",") {
		for _, rest := range expandBraces(s[end+1:]) {
			out = append(out, s[:open]+strings.TrimSpace(alt)+rest)
		}
	}
	return out
}

// sampleKeyPaths returns every key path of a JSON document, in document order and each once: object keys joined
// with ".", the elements of an array as "[]".
func sampleKeyPaths(raw []byte) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var paths []string
	seen := map[string]bool{}
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				p := k.(string)
				if prefix != "" {
					p = prefix + "." + p
				}
				if !seen[p] {
					seen[p] = true
					paths = append(paths, p)
				}
				if err := walk(p); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
		case json.Delim('['):
			for dec.More() {
				if err := walk(prefix + "[]"); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
		}
		return err
	}
	return paths, walk("")
}

func TestSampleKeyPaths(t *testing.T) {
	got, err := sampleKeyPaths([]byte(`{"a": {"b": 1, "c": [{"d": 2}, {"d": 3, "e": [[{"f": 4}]]}], "g": {}}, "h": []}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a.b", "a.c", "a.c[].d", "a.c[].e", "a.c[].e[][].f", "a.g", "h"}
	if !slices.Equal(got, want) {
		t.Errorf("sampleKeyPaths = %q, want %q", got, want)
	}
}

func TestExpandBraces(t *testing.T) {
	got := expandBraces("s.{x,y}.{a, b}[].t")
	want := []string{"s.x.a[].t", "s.x.b[].t", "s.y.a[].t", "s.y.b[].t"}
	if !slices.Equal(got, want) {
		t.Errorf("expandBraces = %q, want %q", got, want)
	}
}
