package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The configuration is first parsed into a generic tree (map[string]any, []any, string, bool, json.Number, nil),
// rewritten from the old shape to the new one (see upgrade), then read through node with key paths, so every
// error and warning names the key it is about.

// parseTree decodes JSON into the generic tree.
func parseTree(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: extra data after the top-level value")
	}
	return v, nil
}

// reader collects the first error and all warnings of one decode.
type reader struct {
	err      error
	warnings []string
}

func (r *reader) fail(path, expected string, found any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: expected %s, found %s", path, expected, describe(found))
	}
}

func (r *reader) failf(path, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

func (r *reader) warn(path, msg string) { r.warnings = append(r.warnings, path+": "+msg) }

// describe renders a found value for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// node is an object of the tree at a key path; it records which keys were read so the rest can be reported.
type node struct {
	r    *reader
	path string
	m    map[string]any
	seen map[string]bool
}

func newNode(r *reader, path string, v any) (*node, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(path, "an object", v)
		return &node{r: r, path: path, m: map[string]any{}, seen: map[string]bool{}}, false
	}
	return &node{r: r, path: path, m: m, seen: map[string]bool{}}, true
}

func (n *node) key(k string) string {
	if n.path == "" {
		return k
	}
	return n.path + "." + k
}

// get returns the raw value of k and marks it known.
func (n *node) get(k string) (any, bool) {
	n.seen[k] = true
	v, ok := n.m[k]
	return v, ok && v != nil
}

// ignore marks keys as known without reading them.
func (n *node) ignore(keys ...string) {
	for _, k := range keys {
		n.seen[k] = true
	}
}

// done reports the keys that were never read as unknown.
func (n *node) done() {
	var unknown []string
	for k := range n.m {
		if !n.seen[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		n.r.warn(n.key(k), "unknown key, ignored")
	}
}

func (n *node) str(k, def string) string {
	v, ok := n.get(k)
	if !ok {
		return def
	}
	s, isStr := v.(string)
	if !isStr {
		n.r.fail(n.key(k), "a string", v)
		return def
	}
	return s
}

func (n *node) boolean(k string, def bool) bool {
	v, ok := n.get(k)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		n.r.fail(n.key(k), "true or false", v)
		return def
	}
	return b
}

// integer reads an integer in [lo, hi]. Numbers written as strings ("1883") are accepted, as Python configs
// produced by the UI sometimes carry them.
func (n *node) integer(k string, def, lo, hi int64) int64 {
	v, ok := n.get(k)
	if !ok {
		return def
	}
	want := fmt.Sprintf("an integer %d-%d", lo, hi)
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = strings.TrimSpace(x)
	default:
		n.r.fail(n.key(k), want, v)
		return def
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			n.r.fail(n.key(k), want, v)
			return def
		}
		i = int64(f)
	}
	if i < lo || i > hi {
		n.r.fail(n.key(k), want, v)
		return def
	}
	return i
}

// object returns the object at k, or nil when absent.
func (n *node) object(k string) *node {
	v, ok := n.get(k)
	if !ok {
		return nil
	}
	o, _ := newNode(n.r, n.key(k), v)
	return o
}

// list returns the objects of the list at k. An empty object ({}) counts as an empty list, as the Python
// gateway's converted configs write empty request sections that way.
func (n *node) list(k string) []*node {
	v, ok := n.get(k)
	if !ok {
		return nil
	}
	if m, isMap := v.(map[string]any); isMap && len(m) == 0 {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		n.r.fail(n.key(k), "a list", v)
		return nil
	}
	out := make([]*node, 0, len(items))
	for i, it := range items {
		o, _ := newNode(n.r, fmt.Sprintf("%s[%d]", n.key(k), i), it)
		out = append(out, o)
	}
	return out
}

// rawJSON returns the value at k re-encoded as compact JSON with sorted keys (so equal trees give equal bytes).
func (n *node) rawJSON(k string) json.RawMessage {
	v, ok := n.get(k)
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		n.r.failf(n.key(k), "cannot encode: %v", err)
		return nil
	}
	return b
}

// oneOf reads a string that must be one of the allowed values (compared case-insensitively); the result is the
// allowed spelling.
func (n *node) oneOf(k, def string, allowed ...string) string {
	s := n.str(k, def)
	for _, a := range allowed {
		if strings.EqualFold(a, s) {
			return a
		}
	}
	n.r.fail(n.key(k), "one of "+strings.Join(allowed, ", "), s)
	return def
}
