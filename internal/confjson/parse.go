package confjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Parse decodes JSON into the generic tree every getter reads: map[string]any, []any, string, bool, json.Number
// (numbers keep their text) and nil. Anything but whitespace after the value is an error, as in Python's json
// module. A syntax error is a *SyntaxError naming file, line and column. Parse never panics.
func Parse(file string, data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(file, data, err)
	}
	off := dec.InputOffset()
	for off < int64(len(data)) && isSpace(data[off]) {
		off++
	}
	if off < int64(len(data)) {
		line, col := LineColumn(data, off)
		return nil, &SyntaxError{File: file, Format: "JSON", Line: line, Column: col, Msg: "extra data after the top-level value"}
	}
	return v, nil
}

func syntaxError(file string, data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset counts the offending byte as read; point at it.
		line, col := LineColumn(data, se.Offset-1)
		return &SyntaxError{File: file, Format: "JSON", Line: line, Column: col, Msg: se.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, col := LineColumn(data, int64(len(data)))
		return &SyntaxError{File: file, Format: "JSON", Line: line, Column: col, Msg: "unexpected end of file"}
	}
	return &SyntaxError{File: file, Format: "JSON", Msg: err.Error()}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// LineColumn converts a byte offset of data into a 1-based line and column (in bytes); offsets out of range are
// clamped.
func LineColumn(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
