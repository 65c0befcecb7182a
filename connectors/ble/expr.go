package ble

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Expr is a parsed valueExpression: text with byte slices in brackets, found as the Python converters find them
// (a "[", one character that is not white space, then digits and colons, then "]"): "[2]", "[0:2]", "[2:]",
// "[:]", "[-1]". A slice with one colon is a range (Python slicing: negative indexes count from the end, bounds
// are clamped); without a colon (or with more than one, where Python uses the part before the first) it is one
// byte, which must exist.
//
// The bytes converter (Bytes) replaces every slice in the text with the decimal values of its bytes written one
// after the other ("[0:2]cm" over 0x01 0x02 is "12cm"); the result is always text. The hex converter (Hex)
// reads the last slice as one big-endian unsigned integer ("[0:2]" over 0x01 0x02 is 258); text around slices
// is not used, and an expression without a slice is sent as the text it is.
type Expr struct {
	text   string
	slices []exprSlice
}

type exprSlice struct {
	text           string // as written, "[0:2]"
	isRange        bool
	from, to       int
	hasFrom, hasTo bool
}

// exprSliceRE is the Python converters' pattern `\[[^\s][0-9:]*]`.
var exprSliceRE = regexp.MustCompile(`\[[^\s\v][0-9:]*\]`)

// ParseExpr parses a valueExpression. A slice whose index is not an integer ("[a]", "[-]"), which the Python
// converters fail on at every value, is an error here.
func ParseExpr(s string) (*Expr, error) {
	e := &Expr{text: s}
	for _, m := range exprSliceRE.FindAllString(s, -1) {
		parts := strings.Split(m[1:len(m)-1], ":")
		sl := exprSlice{text: m, isRange: len(parts) == 2}
		var err error
		if sl.isRange {
			if sl.hasFrom = parts[0] != ""; sl.hasFrom {
				sl.from, err = pyInt(parts[0])
			}
			if sl.hasTo = parts[1] != ""; sl.hasTo && err == nil {
				sl.to, err = pyInt(parts[1])
			}
		} else {
			sl.from, err = pyInt(parts[0])
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		e.slices = append(e.slices, sl)
	}
	return e, nil
}

// pyInt parses an index as Python's int() does for the characters the pattern lets through.
func pyInt(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return int(v), nil // clamped to ±2^31: beyond any data, as Python's unbounded int is
	}
	if err != nil {
		return 0, errors.New("expected an integer byte index")
	}
	return int(v), nil
}

// String returns the expression as written.
func (e *Expr) String() string { return e.text }

// errIndex is a one-byte slice beyond the data.
var errIndex = errors.New("byte index out of range")

// bytesOf returns the bytes a slice selects from data.
func (sl *exprSlice) bytesOf(data []byte) ([]byte, error) {
	n := len(data)
	if !sl.isRange {
		i := sl.from
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return nil, fmt.Errorf("%s: %w (%d bytes)", sl.text, errIndex, n)
		}
		return data[i : i+1], nil
	}
	lo, hi := 0, n
	if sl.hasFrom {
		lo = clampIndex(sl.from, n)
	}
	if sl.hasTo {
		hi = clampIndex(sl.to, n)
	}
	if hi < lo {
		hi = lo
	}
	return data[lo:hi], nil
}

// clampIndex is Python's slice bound rule: negative counts from the end, then clamped to [0, n].
func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// Bytes is the bytes converter: every slice replaced by the decimal values of its bytes (see Expr). Like the
// Python converter it replaces slices one after the other, each everywhere it occurs in the text so far.
func (e *Expr) Bytes(data []byte) (string, error) {
	out := e.text
	var b strings.Builder
	for i := range e.slices {
		sel, err := e.slices[i].bytesOf(data)
		if err != nil {
			return "", err
		}
		b.Reset()
		for _, c := range sel {
			b.WriteString(strconv.Itoa(int(c)))
		}
		out = strings.ReplaceAll(out, e.slices[i].text, b.String())
	}
	return out, nil
}

// Hex is the hex converter: the last slice's bytes as one big-endian unsigned integer (int64, or its decimal
// text when it does not fit), or the expression's text when it has no slice. An empty range is an error.
//
// Two Python defects are fixed here, doing what the expression asks for: a one-byte slice ("[2]") fails in
// Python at every value (it adds an int to a str) and would read only the byte's high nibble; here it is the
// byte's value. A range without a start ("[:2]") reads all the data in Python; here it stops where it says.
func (e *Expr) Hex(data []byte) (any, error) {
	if len(e.slices) == 0 {
		return e.text, nil
	}
	// Python computes every slice and keeps the last; an earlier failing slice fails the item too.
	var sel []byte
	for i := range e.slices {
		var err error
		if sel, err = e.slices[i].bytesOf(data); err != nil {
			return nil, err
		}
		if len(sel) == 0 {
			return nil, fmt.Errorf("%s: no bytes selected (%d bytes)", e.slices[i].text, len(data))
		}
	}
	if len(sel) <= 7 || len(sel) == 8 && sel[0] < 0x80 {
		var v int64
		for _, c := range sel {
			v = v<<8 | int64(c)
		}
		return v, nil
	}
	return new(big.Int).SetBytes(sel).String(), nil
}
