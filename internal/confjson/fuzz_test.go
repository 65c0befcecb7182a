package confjson

import (
	"math"
	"testing"
)

// FuzzDecode reads arbitrary bytes with every getter at every key and nested section: decoding never panics, and
// an error is always reported with the file's name.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a": 1, "b": "x", "c": [1, {"d": null}], "e": {"f": true}}`))
	f.Add([]byte(`{"a": 1e400, "b": -0, "c": {}, "d": [[]]}`))
	f.Add([]byte(`[1, 2]`))
	f.Add([]byte(`{"a": "12", "a": "13"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []Options{{}, {MaxErrors: 5, StrictNull: true, StrictNumbers: true}} {
			d := NewWith("f.json", opts)
			o, err := d.Root(data)
			if err != nil {
				continue
			}
			walk(o, 0)
			o.Done()
			if err := d.Err(); err != nil && len(err.Error()) < len("f.json") {
				t.Fatalf("error without the file: %v", err)
			}
		}
	})
}

func walk(o *Object, depth int) {
	if depth > 5 {
		return
	}
	for _, k := range o.Keys() {
		o.String(k, "")
		o.OneOf(k, "", "a", "b")
		o.Bool(k, false)
		o.OptBool(k)
		o.Int(k, 0, -5, 5)
		o.Float(k, 0, -math.MaxFloat64, math.MaxFloat64)
		o.Number(k)
		o.Strings(k)
		o.Raw(k)
		walk(o.Object(k), depth+1)
		for _, item := range o.Objects(k) {
			walk(item, depth+1)
			item.Done()
		}
	}
}
