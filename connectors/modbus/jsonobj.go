package modbus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// obj reads one JSON object of a configuration, remembering which keys were used so that the others can be
// reported as unknown, and naming the key path in every error.
type obj struct {
	path string
	m    map[string]json.RawMessage
	used map[string]bool
}

func newObj(path string, raw json.RawMessage) (*obj, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s: want a JSON object, found %s", orTop(path), describe(raw))
	}
	return &obj{path: path, m: m, used: map[string]bool{}}, nil
}

func orTop(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func (o *obj) key(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

// describe shortens a JSON value for an error message.
func describe(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "nothing"
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// get returns a present, non-null value.
func (o *obj) get(k string) (json.RawMessage, bool) {
	o.used[k] = true
	v, ok := o.m[k]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

// ignore marks keys that are accepted without effect.
func (o *obj) ignore(keys ...string) {
	for _, k := range keys {
		o.used[k] = true
	}
}

func (o *obj) has(k string) bool {
	_, ok := o.get(k)
	return ok
}

func (o *obj) str(k, def string) (string, error) {
	v, ok := o.get(k)
	if !ok {
		return def, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: want a string, found %s", o.key(k), describe(v))
	}
	return s, nil
}

func (o *obj) num(k string, def float64) (float64, error) {
	v, ok := o.get(k)
	if !ok {
		return def, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		// numbers written as strings ("5021") are common in hand-written configs
		var s string
		if json.Unmarshal(v, &s) == nil {
			if g, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return g, nil
			}
		}
		return 0, fmt.Errorf("%s: want a number, found %s", o.key(k), describe(v))
	}
	return f, nil
}

func (o *obj) integer(k string, def int) (int, error) {
	f, err := o.num(k, float64(def))
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		return 0, fmt.Errorf("%s: want an integer, found %v", o.key(k), f)
	}
	return int(f), nil
}

func (o *obj) boolean(k string, def bool) (bool, error) {
	v, ok := o.get(k)
	if !ok {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, fmt.Errorf("%s: want true or false, found %s", o.key(k), describe(v))
	}
	return b, nil
}

// list returns the elements of an array (nil when absent).
func (o *obj) list(k string) ([]json.RawMessage, error) {
	v, ok := o.get(k)
	if !ok {
		return nil, nil
	}
	var l []json.RawMessage
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, fmt.Errorf("%s: want a list, found %s", o.key(k), describe(v))
	}
	return l, nil
}

// child returns a nested object (nil when absent).
func (o *obj) child(k string) (*obj, error) {
	v, ok := o.get(k)
	if !ok {
		return nil, nil
	}
	return newObj(o.key(k), v)
}

// unknown lists the keys that were never read, with their paths.
func (o *obj) unknown() []string {
	var out []string
	for k := range o.m {
		if !o.used[k] {
			out = append(out, o.key(k)+": unknown key, ignored")
		}
	}
	sort.Strings(out)
	return out
}
