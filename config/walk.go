package config

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// decoder walks a generic tree (see tree.go) into typed fields, collecting errors with key paths and warnings
// for keys nobody read.
type decoder struct {
	file  string
	errs  errorList
	warns []Warning
}

func (d *decoder) fail(path, expected string, found any) {
	d.errs.add(&Error{File: d.file, Path: path, Expected: expected, Found: describe(found)})
}

func (d *decoder) warn(path, msg string) {
	d.warns = append(d.warns, Warning{File: d.file, Path: path, Msg: msg})
}

// object is a JSON object being decoded; every key read is marked, and done warns about the rest.
type object struct {
	d    *decoder
	path string
	m    map[string]any
	seen map[string]bool
}

// object wraps v as an object at path; a non-object is an error and yields an empty object so decoding goes on.
func (d *decoder) object(path string, v any) *object {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "an object", v)
		m = map[string]any{}
	}
	return &object{d: d, path: path, m: m, seen: map[string]bool{}}
}

// get returns the value of key and marks the key as known.
func (o *object) get(key string) (any, bool) {
	o.seen[key] = true
	v, ok := o.m[key]
	return v, ok
}

// ignore marks keys as known without reading them.
func (o *object) ignore(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
	}
}

// done warns about every key that was not read, in sorted order for stable output.
func (o *object) done() {
	var unknown []string
	for k := range o.m {
		if !o.seen[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		o.d.warn(joinPath(o.path, k), "unknown key, ignored")
	}
}

// str reads a string; null keeps the default (Python code treats None as "not set" for these keys).
func (o *object) str(key string, dst *string) {
	v, ok := o.get(key)
	if !ok || v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		o.d.fail(joinPath(o.path, key), "a string", v)
		return
	}
	*dst = s
}

// boolean reads true or false.
func (o *object) boolean(key string, dst *bool) {
	v, ok := o.get(key)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		o.d.fail(joinPath(o.path, key), "true or false", v)
		return
	}
	*dst = b
}

// optBool reads true or false into a pointer, left nil when the key is absent.
func (o *object) optBool(key string, dst **bool) {
	if _, ok := o.m[key]; !ok {
		o.seen[key] = true
		return
	}
	var b bool
	before := len(o.d.errs)
	o.boolean(key, &b)
	if len(o.d.errs) == before {
		*dst = &b
	}
}

// integer reads a whole number; expected describes the valid values (range checks are Validate's).
func (o *object) integer(key string, dst *int, expected string) {
	v, ok := o.get(key)
	if !ok {
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		o.d.fail(joinPath(o.path, key), expected, v)
		return
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		// 10.0 is a whole number written as a float; Python would keep it a float, but it means the same here.
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			o.d.fail(joinPath(o.path, key), expected, v)
			return
		}
		i = int64(f)
	}
	if i > math.MaxInt32 || i < math.MinInt32 {
		o.d.fail(joinPath(o.path, key), expected, v)
		return
	}
	*dst = int(i)
}

// number reads any finite number.
func (o *object) number(key string, dst *float64, expected string) {
	v, ok := o.get(key)
	if !ok {
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		o.d.fail(joinPath(o.path, key), expected, v)
		return
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		o.d.fail(joinPath(o.path, key), expected, v)
		return
	}
	*dst = f
}

// sub decodes the object at key with fn when the key is present (null counts as absent).
func (o *object) sub(key string, fn func(*object)) {
	v, ok := o.get(key)
	if !ok || v == nil {
		return
	}
	so := o.d.object(joinPath(o.path, key), v)
	fn(so)
	so.done()
}

// list calls fn for every item of the list at key when the key is present (null counts as absent).
func (o *object) list(key string, fn func(path string, item any)) {
	v, ok := o.get(key)
	if !ok || v == nil {
		return
	}
	path := joinPath(o.path, key)
	items, ok := v.([]any)
	if !ok {
		o.d.fail(path, "a list", v)
		return
	}
	for i, item := range items {
		fn(indexPath(path, i), item)
	}
}
