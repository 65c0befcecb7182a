package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Error is a wrong type or an invalid value in a configuration file (or in an environment variable, where File
// is "environment" and Path the variable's name). Its text is "FILE: KEY: expected X, found Y".
type Error struct {
	// File is the file's path as given to Load (joined with the folder for connector files).
	File string
	// Path is the key's path: dotted object keys and [i] list indexes, e.g. "thingsboard.security.type" or
	// "connectors[0].name".
	Path string
	// Expected says what would have been valid, e.g. "an integer 1-65535".
	Expected string
	// Found is what was there: a JSON rendering of the value ("abc" in quotes, 70000, an object, ...) or
	// "nothing" when the key is missing.
	Found string
	// Err is an underlying error (e.g. from opening a connector file), or nil.
	Err error
}

// Error returns "FILE: KEY: expected X, found Y".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: expected %s, found %s", e.File, e.Path, e.Expected, e.Found)
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// SyntaxError is a file that is not valid JSON (or YAML). Its text is "FILE:LINE:COL: invalid JSON: MESSAGE".
// When only a line is known (the YAML parser's errors, whose line is approximate) the text is
// "FILE: invalid YAML near line LINE: MESSAGE"; with neither, "FILE: invalid YAML: MESSAGE".
type SyntaxError struct {
	File   string
	Format string // "JSON" or "YAML"
	Line   int    // 1-based
	Column int    // 1-based, 0 if unknown
	Msg    string
}

// Error returns "FILE:LINE:COL: invalid FORMAT: MESSAGE".
func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Column == 0:
		// The YAML parser's own line numbers point near, not always at, the problem.
		return fmt.Sprintf("%s: invalid %s near line %d: %s", e.File, e.Format, e.Line, e.Msg)
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: invalid %s: %s", e.File, e.Line, e.Column, e.Format, e.Msg)
	}
	return fmt.Sprintf("%s: invalid %s: %s", e.File, e.Format, e.Msg)
}

// Warning is something a configuration carries that the gateway does not act on: an unknown key, or a known
// key whose value asks for something not supported. It never stops the gateway.
type Warning struct {
	File string
	Path string // key path as in Error.Path; empty for warnings about the whole file
	Msg  string // e.g. "unknown key, ignored"
}

// String returns "FILE: KEY: MESSAGE".
func (w Warning) String() string {
	if w.Path == "" {
		return w.File + ": " + w.Msg
	}
	return w.File + ": " + w.Path + ": " + w.Msg
}

// errorList collects errors in the order found; at most maxErrors are kept so a garbage file yields a short report.
type errorList []error

const maxErrors = 20

func (l *errorList) add(err error) {
	if len(*l) < maxErrors {
		*l = append(*l, err)
	}
}

// err returns nil, the single error, or all of them joined one per line.
func (l errorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return errors.Join(l...)
}

// describe renders a decoded value for the "found" part of an error message.
func describe(v any) string {
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
		if x {
			return "true"
		}
		return "false"
	case json.Number:
		return x.String()
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// joinPath appends an object key to a key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	if strings.ContainsAny(key, ".[] ") || key == "" {
		b, _ := json.Marshal(key)
		return path + "[" + string(b) + "]"
	}
	return path + "." + key
}

// indexPath appends a list index to a key path.
func indexPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
