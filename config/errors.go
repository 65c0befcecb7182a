package config

import (
	"github.com/tbgateway/tbgateway/internal/confjson"
)

// Error is a wrong type or an invalid value in a configuration file (or in an environment variable, where File
// is "environment" and Path the variable's name). Its text is "FILE: KEY: expected X, found Y". It is the
// connector kit's confjson.Error, so main and connector files report alike.
type Error = confjson.Error

// SyntaxError is a file that is not valid JSON (or YAML). Its text is "FILE:LINE:COL: invalid JSON: MESSAGE".
// When only a line is known (the YAML parser's errors, whose line is approximate) the text is
// "FILE: invalid YAML near line LINE: MESSAGE"; with neither, "FILE: invalid YAML: MESSAGE".
type SyntaxError = confjson.SyntaxError

// Warning is something a configuration carries that the gateway does not act on: an unknown key, or a known
// key whose value asks for something not supported. It never stops the gateway. String returns
// "FILE: KEY: MESSAGE".
type Warning = confjson.Warning

// maxErrors is how many errors of the main file are reported at once, so a garbage file yields a short report.
const maxErrors = 20

// errorList collects errors in the order found, at most maxErrors.
type errorList struct{ confjson.Errors }

func (l *errorList) add(err error) { l.limit().Add(err) }

func (l *errorList) err() error { return l.limit().Err() }

func (l *errorList) limit() *confjson.Errors {
	l.Limit = maxErrors
	return &l.Errors
}

// describe renders a decoded value for the "found" part of an error message.
func describe(v any) string { return confjson.Describe(v) }

// indexPath appends a list index to a key path.
func indexPath(path string, i int) string { return confjson.Index(path, i) }
