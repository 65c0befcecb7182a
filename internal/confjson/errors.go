package confjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is a wrong type or an invalid value at one key of a configuration file.
//
// Its text is "FILE: PATH: expected EXPECTED, found FOUND", or "FILE: PATH: MSG" when Msg is set (a rule that
// is not about one value's type, e.g. "required" or a duplicate name). "FILE: " is left out when File is empty
// and PATH is "(top level)" when Path is empty.
type Error struct {
	// File is the file's path as the user gave it (or "environment" for environment variables).
	File string
	// Path is the key path: dotted object keys and [i] list indexes, e.g. "broker.security.type" or
	// "mapping[2].converter"; keys holding '.', '[', ']', ' ' or nothing are written as ["key"].
	Path string
	// Expected says what would have been valid, e.g. "an integer 1-65535".
	Expected string
	// Found is what was there, rendered by Describe ("abc" in quotes, 70000, an object, ...), or "nothing"
	// when the key is missing.
	Found string
	// Msg replaces "expected X, found Y" when set.
	Msg string
	// Err is an underlying error, or nil.
	Err error
}

// Error returns "FILE: PATH: expected X, found Y" (see the type's doc).
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Path == "" {
		b.WriteString(TopLevel)
	} else {
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else {
		fmt.Fprintf(&b, "expected %s, found %s", e.Expected, e.Found)
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// TopLevel is how the path of the whole document is written in messages.
const TopLevel = "(top level)"

// SyntaxError is a file that is not valid JSON (or YAML, for the main file). Its text is
// "FILE:LINE:COL: invalid FORMAT: MESSAGE"; with only a line (the YAML parser's, which is approximate)
// "FILE: invalid FORMAT near line LINE: MESSAGE"; with neither, "FILE: invalid FORMAT: MESSAGE".
type SyntaxError struct {
	File   string
	Format string // "JSON" or "YAML"
	Line   int    // 1-based, 0 if unknown
	Column int    // 1-based, 0 if unknown
	Msg    string
}

// Error returns the text described on the type.
func (e *SyntaxError) Error() string {
	file := e.File
	if file == "" {
		file = "configuration"
	}
	switch {
	case e.Line > 0 && e.Column == 0:
		return fmt.Sprintf("%s: invalid %s near line %d: %s", file, e.Format, e.Line, e.Msg)
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: invalid %s: %s", file, e.Line, e.Column, e.Format, e.Msg)
	}
	return fmt.Sprintf("%s: invalid %s: %s", file, e.Format, e.Msg)
}

// Warning is something a configuration carries that the gateway does not act on: an unknown key, or a known key
// whose value asks for something not supported. It never stops loading.
type Warning struct {
	File string
	Path string // as Error.Path; empty for a warning about the whole file
	Msg  string // e.g. "unknown key, ignored"
}

// String returns "FILE: PATH: MSG", leaving out the parts that are empty.
func (w Warning) String() string {
	parts := make([]string, 0, 3)
	for _, p := range []string{w.File, w.Path, w.Msg} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// Errors collects errors in the order found, keeping at most its limit (so a garbage file yields a short report).
// The zero value keeps one.
type Errors struct {
	// Limit is how many errors are kept; 0 means 1.
	Limit int
	list  []error
}

// Add keeps err unless the limit is reached; nil is ignored. It reports whether err was kept.
func (l *Errors) Add(err error) bool {
	if err == nil || l.Full() {
		return false
	}
	l.list = append(l.list, err)
	return true
}

// Full reports whether the limit is reached: nothing more will be kept.
func (l *Errors) Full() bool { return len(l.list) >= max(l.Limit, 1) }

// Len is the number of errors kept.
func (l *Errors) Len() int { return len(l.list) }

// Err returns nil, the single error, or all of them joined one per line (errors.Join).
func (l *Errors) Err() error {
	switch len(l.list) {
	case 0:
		return nil
	case 1:
		return l.list[0]
	}
	return errors.Join(l.list...)
}

// Describe renders a decoded value for the "found" part of a message: null, true/false, a number as written,
// a string in JSON quotes (shortened past 60 bytes), "an object", "a list".
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:57] + "..."
		}
		b, _ := json.Marshal(x)
		return string(b)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// Join appends an object key to a key path: "a" + "b" is "a.b"; below the top level, a key holding '.', '[',
// ']', ' ' or nothing is written as ["key"] so the path stays unambiguous. A top-level key is written as it is.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" || strings.ContainsAny(key, ".[] ") {
		b, _ := json.Marshal(key)
		return path + "[" + string(b) + "]"
	}
	return path + "." + key
}

// Index appends a list index to a key path: "a" + 2 is "a[2]".
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
