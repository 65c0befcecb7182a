package confjson

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Object is a JSON object of the tree at a key path. Every getter marks its key as known; Done warns about the
// keys nobody read. A getter that finds a wrong type records an error naming the key path and returns its
// default; once the Decoder has stopped (first error, by default), getters only return defaults.
//
// A nil *Object reads as an empty object: getters return defaults and Done does nothing, so an absent or broken
// section never makes decoding panic.
type Object struct {
	d    *Decoder
	path string
	m    map[string]any
	seen map[string]bool
}

// Path returns the object's key path ("" for the top level).
func (o *Object) Path() string {
	if o == nil {
		return ""
	}
	return o.path
}

// Key returns the key path of key k in this object, for messages.
func (o *Object) Key(k string) string { return Join(o.Path(), k) }

// Decoder returns the Decoder the object reports to (nil for a nil Object).
func (o *Object) Decoder() *Decoder {
	if o == nil {
		return nil
	}
	return o.d
}

// Map returns the object's decoded contents (not a copy), without marking any key.
func (o *Object) Map() map[string]any {
	if o == nil {
		return nil
	}
	return o.m
}

// Keys returns the object's keys, sorted, without marking them.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether k is present and not null, without marking it.
func (o *Object) Has(k string) bool {
	if o == nil {
		return false
	}
	v, ok := o.m[k]
	return ok && v != nil
}

// Get marks k as known and returns its value; ok is false when k is absent or null.
func (o *Object) Get(k string) (v any, ok bool) {
	if o == nil {
		return nil, false
	}
	o.seen[k] = true
	v, ok = o.m[k]
	return v, ok && v != nil
}

// Ignore marks keys as known without reading them (keys the gateway accepts and does not act on).
func (o *Object) Ignore(keys ...string) {
	if o == nil {
		return
	}
	for _, k := range keys {
		o.seen[k] = true
	}
}

// Done warns "PATH: unknown key, ignored" for every key no getter read, in sorted order. Call it once, after the
// last getter.
func (o *Object) Done() {
	for _, k := range o.Keys() {
		if !o.seen[k] {
			o.d.Warn(o.Key(k), "unknown key, ignored")
		}
	}
}

// fail records a wrong value at k.
func (o *Object) fail(k, expected string, found any) { o.d.Fail(o.Key(k), expected, found) }

// lookup is Get for scalar getters: it reports whether a value is there to convert. With StrictNull a present
// null is an error for numbers and booleans.
func (o *Object) lookup(k, expected string, nullFails bool) (any, bool) {
	if o == nil || o.d.stopped() {
		o.Ignore(k)
		return nil, false
	}
	o.seen[k] = true
	v, present := o.m[k]
	if !present {
		return nil, false
	}
	if v == nil {
		if nullFails && o.d.opts.StrictNull {
			o.fail(k, expected, nil)
		}
		return nil, false
	}
	return v, true
}

// Require records "PATH: expected EXPECTED, found nothing" when k is absent or null, and reports whether it is
// there. It marks k as known.
func (o *Object) Require(k, expected string) bool {
	if _, ok := o.Get(k); ok {
		return true
	}
	if o != nil && !o.d.stopped() {
		o.d.FailMissing(o.Key(k), expected)
	}
	return false
}

// String returns the string at k, or def when k is absent or null.
func (o *Object) String(k, def string) string {
	v, ok := o.lookup(k, "a string", false)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		o.fail(k, "a string", v)
		return def
	}
	return s
}

// OneOf returns the string at k, which must be one of allowed (compared case-insensitively); the result is the
// allowed spelling. def is returned when k is absent or null, and is not checked.
func (o *Object) OneOf(k, def string, allowed ...string) string {
	v, ok := o.lookup(k, "a string", false)
	if !ok {
		return def
	}
	expected := "one of " + strings.Join(allowed, ", ")
	if s, isStr := v.(string); isStr {
		for _, a := range allowed {
			if strings.EqualFold(a, s) {
				return a
			}
		}
	}
	o.fail(k, expected, v)
	return def
}

// Bool returns true or false at k, or def when k is absent (or null, unless StrictNull).
func (o *Object) Bool(k string, def bool) bool {
	v, ok := o.lookup(k, "true or false", true)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		o.fail(k, "true or false", v)
		return def
	}
	return b
}

// OptBool returns true or false at k, or nil when k is absent (or null, unless StrictNull): for keys whose
// absence means something else than false.
func (o *Object) OptBool(k string) *bool {
	v, ok := o.lookup(k, "true or false", true)
	if !ok {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		o.fail(k, "true or false", v)
		return nil
	}
	return &b
}

// Int returns the integer at k, which must lie in [lo, hi]; def when k is absent (or null, unless StrictNull).
// A whole number written with a fraction or exponent (10.0, 1e3) counts as an integer up to 2^53; numbers
// written as text are accepted unless StrictNumbers. The error says "expected an integer LO-HI".
func (o *Object) Int(k string, def, lo, hi int64) int64 {
	return o.IntAs(k, def, lo, hi, intExpected(lo, hi))
}

// IntAs is Int with the "expected ..." text given by the caller (e.g. one shared with a Validate step).
func (o *Object) IntAs(k string, def, lo, hi int64, expected string) int64 {
	v, ok := o.lookup(k, expected, true)
	if !ok {
		return def
	}
	text, ok := o.numberText(v)
	if !ok {
		o.fail(k, expected, v)
		return def
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			o.fail(k, expected, v)
			return def
		}
		i = int64(f)
	}
	if i < lo || i > hi {
		o.fail(k, expected, v)
		return def
	}
	return i
}

func intExpected(lo, hi int64) string {
	switch {
	case lo == math.MinInt64 && hi == math.MaxInt64:
		return "an integer"
	case hi == math.MaxInt64:
		return fmt.Sprintf("an integer >= %d", lo)
	}
	return fmt.Sprintf("an integer %d-%d", lo, hi)
}

// Float returns the finite number at k, which must lie in [lo, hi]; def when k is absent (or null, unless
// StrictNull). Numbers written as text are accepted unless StrictNumbers. The error says "expected a number
// between LO and HI" (or "a number" when the range is the whole line).
func (o *Object) Float(k string, def, lo, hi float64) float64 {
	expected := "a number"
	if lo > -math.MaxFloat64 || hi < math.MaxFloat64 {
		expected = fmt.Sprintf("a number between %g and %g", lo, hi)
	}
	return o.FloatAs(k, def, lo, hi, expected)
}

// FloatAs is Float with the "expected ..." text given by the caller.
func (o *Object) FloatAs(k string, def, lo, hi float64, expected string) float64 {
	v, ok := o.lookup(k, expected, true)
	if !ok {
		return def
	}
	text, ok := o.numberText(v)
	if !ok {
		o.fail(k, expected, v)
		return def
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < lo || f > hi {
		o.fail(k, expected, v)
		return def
	}
	return f
}

// numberText returns the text of a number, or of a string holding one unless StrictNumbers.
func (o *Object) numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		if o.d.opts.StrictNumbers {
			return "", false
		}
		s := strings.TrimSpace(x)
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}

// Number returns the number at k as written (json.Number keeps its text, so no precision is lost); ok is false
// when k is absent or null. A value that is not a number is an error.
func (o *Object) Number(k string) (json.Number, bool) {
	v, ok := o.lookup(k, "a number", true)
	if !ok {
		return "", false
	}
	n, ok := v.(json.Number)
	if !ok {
		o.fail(k, "a number", v)
		return "", false
	}
	return n, true
}

// Object returns the object at k, or nil (which reads as empty) when k is absent, null or not an object (the
// last recorded as an error). The caller calls Done on it.
func (o *Object) Object(k string) *Object {
	v, ok := o.lookup(k, "an object", false)
	if !ok {
		return nil
	}
	return o.d.Object(o.Key(k), v)
}

// Sub calls fn with the object at k and then its Done, when k is present, not null and an object.
func (o *Object) Sub(k string, fn func(*Object)) {
	if so := o.Object(k); so != nil {
		fn(so)
		so.Done()
	}
}

// List returns the items of the list at k and whether there is one; absent and null give (nil, false), a value
// that is not a list is an error. Use Index(o.Key(k), i) for an item's path.
func (o *Object) List(k string) ([]any, bool) {
	v, ok := o.lookup(k, "a list", false)
	if !ok {
		return nil, false
	}
	items, ok := v.([]any)
	if !ok {
		o.fail(k, "a list", v)
		return nil, false
	}
	return items, true
}

// Each calls fn with the path and value of every item of the list at k (see List).
func (o *Object) Each(k string, fn func(path string, item any)) {
	items, _ := o.List(k)
	for i, item := range items {
		if o.d.stopped() {
			return
		}
		fn(Index(o.Key(k), i), item)
	}
}

// Objects returns the items of the list at k, each of which must be an object; an item that is not is an error
// and left out. An empty object ({}) counts as an empty list, as the Python gateway's converted configurations
// write empty sections that way. The caller calls Done on each.
func (o *Object) Objects(k string) []*Object {
	if v, ok := o.Map()[k].(map[string]any); ok && len(v) == 0 {
		o.Ignore(k)
		return nil
	}
	var out []*Object
	o.Each(k, func(path string, item any) {
		if so := o.d.Object(path, item); so != nil {
			out = append(out, so)
		}
	})
	return out
}

// Strings returns the list of strings at k (nil when absent or null); an item that is not a string is an error.
func (o *Object) Strings(k string) []string {
	var out []string
	o.Each(k, func(path string, item any) {
		s, ok := item.(string)
		if !ok {
			o.d.Fail(path, "a string", item)
			return
		}
		out = append(out, s)
	})
	return out
}

// Raw returns the value at k re-encoded as compact JSON with sorted keys (equal values give equal bytes), or
// nil when k is absent or null; for sections another package decodes (a report strategy, a converter).
func (o *Object) Raw(k string) json.RawMessage {
	v, ok := o.lookup(k, "a JSON value", false)
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		o.d.Failf(o.Key(k), "cannot re-encode: %v", err)
		return nil
	}
	return b
}
