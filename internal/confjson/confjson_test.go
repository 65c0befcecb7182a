package confjson

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// root parses a document that must be an object.
func root(t *testing.T, d *Decoder, doc string) *Object {
	t.Helper()
	o, err := d.Root([]byte(doc))
	if err != nil {
		t.Fatalf("Root(%s): %v", doc, err)
	}
	return o
}

func TestGetters(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		doc     string
		read    func(o *Object) any
		want    any
		wantErr string // exact text; "" for none
	}{
		{"string", Options{}, `{"k": "v"}`, func(o *Object) any { return o.String("k", "d") }, "v", ""},
		{"string absent", Options{}, `{}`, func(o *Object) any { return o.String("k", "d") }, "d", ""},
		{"string null is absent", Options{StrictNull: true}, `{"k": null}`, func(o *Object) any { return o.String("k", "d") }, "d", ""},
		{"string wrong type", Options{}, `{"k": 5}`, func(o *Object) any { return o.String("k", "d") }, "d", "f.json: k: expected a string, found 5"},
		{"bool", Options{}, `{"k": true}`, func(o *Object) any { return o.Bool("k", false) }, true, ""},
		{"bool from text is an error", Options{}, `{"k": "true"}`, func(o *Object) any { return o.Bool("k", false) }, false, `f.json: k: expected true or false, found "true"`},
		{"bool null absent", Options{}, `{"k": null}`, func(o *Object) any { return o.Bool("k", true) }, true, ""},
		{"bool null strict", Options{StrictNull: true}, `{"k": null}`, func(o *Object) any { return o.Bool("k", true) }, true, "f.json: k: expected true or false, found null"},
		{"optbool absent", Options{}, `{}`, func(o *Object) any { return o.OptBool("k") }, (*bool)(nil), ""},
		{"optbool false", Options{}, `{"k": false}`, func(o *Object) any { return *o.OptBool("k") }, false, ""},
		{"int", Options{}, `{"k": 1883}`, func(o *Object) any { return o.Int("k", 0, 1, 65535) }, int64(1883), ""},
		{"int whole float", Options{}, `{"k": 10.0}`, func(o *Object) any { return o.Int("k", 0, 1, 65535) }, int64(10), ""},
		{"int exponent", Options{}, `{"k": 1e3}`, func(o *Object) any { return o.Int("k", 0, 1, 65535) }, int64(1000), ""},
		{"int fraction", Options{}, `{"k": 1883.5}`, func(o *Object) any { return o.Int("k", 7, 1, 65535) }, int64(7), "f.json: k: expected an integer 1-65535, found 1883.5"},
		{"int out of range", Options{}, `{"k": 70000}`, func(o *Object) any { return o.Int("k", 7, 1, 65535) }, int64(7), "f.json: k: expected an integer 1-65535, found 70000"},
		{"int huge", Options{}, `{"k": 1e400}`, func(o *Object) any { return o.Int("k", 7, math.MinInt64, math.MaxInt64) }, int64(7), "f.json: k: expected an integer, found 1e400"},
		{"int as text", Options{}, `{"k": " 502 "}`, func(o *Object) any { return o.Int("k", 0, 1, math.MaxInt64) }, int64(502), ""},
		{"int as text strict", Options{StrictNumbers: true}, `{"k": "502"}`, func(o *Object) any { return o.Int("k", 1, 1, math.MaxInt64) }, int64(1), `f.json: k: expected an integer >= 1, found "502"`},
		{"int text not a number", Options{}, `{"k": "abc"}`, func(o *Object) any { return o.IntAs("k", 1, 1, 65535, "a port") }, int64(1), `f.json: k: expected a port, found "abc"`},
		{"int null strict", Options{StrictNull: true}, `{"k": null}`, func(o *Object) any { return o.Int("k", 3, 0, 9) }, int64(3), "f.json: k: expected an integer 0-9, found null"},
		{"float", Options{}, `{"k": 2.5}`, func(o *Object) any { return o.Float("k", 0, 0, 10) }, 2.5, ""},
		{"float out of range", Options{}, `{"k": 20}`, func(o *Object) any { return o.Float("k", 1, 0, 10) }, 1.0, "f.json: k: expected a number between 0 and 10, found 20"},
		{"float infinite", Options{}, `{"k": 1e400}`, func(o *Object) any { return o.Float("k", 1, -math.MaxFloat64, math.MaxFloat64) }, 1.0, "f.json: k: expected a number, found 1e400"},
		{"float NaN text", Options{}, `{"k": "NaN"}`, func(o *Object) any { return o.Float("k", 1, -math.MaxFloat64, math.MaxFloat64) }, 1.0, `f.json: k: expected a number, found "NaN"`},
		{"number keeps its text", Options{}, `{"k": 12345678901234567890.50}`, func(o *Object) any { n, _ := o.Number("k"); return n }, json.Number("12345678901234567890.50"), ""},
		{"oneOf case-insensitive", Options{}, `{"k": "BIG"}`, func(o *Object) any { return o.OneOf("k", "LITTLE", "big", "little") }, "big", ""},
		{"oneOf wrong", Options{}, `{"k": "mid"}`, func(o *Object) any { return o.OneOf("k", "big", "big", "little") }, "big", `f.json: k: expected one of big, little, found "mid"`},
		{"strings", Options{}, `{"k": ["a", "b"]}`, func(o *Object) any { return o.Strings("k") }, []string{"a", "b"}, ""},
		{"strings wrong item", Options{}, `{"k": ["a", 1]}`, func(o *Object) any { return o.Strings("k") }, []string{"a"}, "f.json: k[1]: expected a string, found 1"},
		{"raw sorted", Options{}, `{"k": {"b": 1, "a": [true]}}`, func(o *Object) any { return string(o.Raw("k")) }, `{"a":[true],"b":1}`, ""},
		{"nested path", Options{}, `{"a": {"b": [{"c": "x"}]}}`, func(o *Object) any { return o.Object("a").Objects("b")[0].Int("c", 0, 0, 1) }, int64(0), `f.json: a.b[0].c: expected an integer 0-1, found "x"`},
		{"object wrong type", Options{}, `{"a": [1]}`, func(o *Object) any { return o.Object("a") == nil }, true, "f.json: a: expected an object, found a list"},
		{"objects item wrong", Options{}, `{"a": [{}, 3]}`, func(o *Object) any { return len(o.Objects("a")) }, 1, "f.json: a[1]: expected an object, found 3"},
		{"objects empty object is empty list", Options{}, `{"a": {}}`, func(o *Object) any { return len(o.Objects("a")) }, 0, ""},
		{"list wrong type", Options{}, `{"a": "x"}`, func(o *Object) any { _, ok := o.List("a"); return ok }, false, `f.json: a: expected a list, found "x"`},
		{"odd key quoted in path", Options{}, `{"a": {"b.c": 1}}`, func(o *Object) any { return o.Object("a").String("b.c", "") }, "", `f.json: a["b.c"]: expected a string, found 1`},
		{"require", Options{}, `{}`, func(o *Object) any { return o.Require("host", "a host name") }, false, "f.json: host: expected a host name, found nothing"},
		{"nil object reads as empty", Options{}, `{}`, func(o *Object) any { return o.Object("none").Object("x").Int("y", 4, 0, 9) }, int64(4), ""},
		{"long string shortened", Options{}, `{"k": "` + strings.Repeat("x", 100) + `"}`, func(o *Object) any { return o.Bool("k", false) }, false, `f.json: k: expected true or false, found "` + strings.Repeat("x", 57) + `..."`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewWith("f.json", tc.opts)
			got := tc.read(root(t, d, tc.doc))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			gotErr := ""
			if err := d.Err(); err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Errorf("error\n got: %s\nwant: %s", gotErr, tc.wantErr)
			}
		})
	}
}

func TestFirstErrorStops(t *testing.T) {
	d := New("c.json")
	o := root(t, d, `{"a": "x", "b": "y", "c": 3}`)
	o.Int("a", 0, 0, 9)
	if got := o.Int("c", 0, 0, 9); got != 0 {
		t.Errorf("after the first error a getter returned %d, want its default 0", got)
	}
	o.Int("b", 0, 0, 9)
	o.Done()
	want := `c.json: a: expected an integer 0-9, found "x"`
	if err := d.Err(); err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want %s", err, want)
	}
	var ce *Error
	if !errors.As(d.Err(), &ce) || ce.Path != "a" || ce.File != "c.json" {
		t.Errorf("Err() = %#v, want an *Error at a in c.json", d.Err())
	}
}

func TestSeveralErrorsWithLimit(t *testing.T) {
	d := NewWith("m.json", Options{MaxErrors: 2})
	o := root(t, d, `{"a": "x", "b": "y", "c": "z"}`)
	for _, k := range []string{"a", "b", "c"} {
		o.Bool(k, false)
	}
	if got := strings.Split(d.Err().Error(), "\n"); len(got) != 2 || !strings.Contains(got[1], "b:") {
		t.Errorf("errors = %q, want a and b only", got)
	}
}

func TestUnknownKeysAreWarnings(t *testing.T) {
	d := New("")
	o := root(t, d, `{"name": "n", "zeta": 1, "alpha": {"x": 1, "y": 2}, "skip": 3}`)
	o.String("name", "")
	o.Ignore("skip")
	o.Sub("alpha", func(a *Object) { a.Int("x", 0, 0, 9) })
	o.Done()
	want := []string{"alpha.y: unknown key, ignored", "zeta: unknown key, ignored"}
	if got := d.WarningStrings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	if d.Err() != nil {
		t.Errorf("unexpected error %v", d.Err())
	}
	if w := (Warning{File: "f", Path: "p", Msg: "m"}).String(); w != "f: p: m" {
		t.Errorf("Warning.String = %q", w)
	}
}

func TestRootAndSyntaxErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"{\n  \"a\": 1,\n}", "f.json:3:1: invalid JSON: invalid character '}' looking for beginning of object key string"},
		{"{\"a\": ", "f.json:1:7: invalid JSON: unexpected end of file"},
		{"{} {}", "f.json:1:4: invalid JSON: extra data after the top-level value"},
		{"[1]", "f.json: (top level): expected an object, found a list"},
		{"", "f.json:1:1: invalid JSON: unexpected end of file"},
	}
	for _, tc := range cases {
		d := New("f.json")
		o, err := d.Root([]byte(tc.doc))
		if err == nil || err.Error() != tc.want || o != nil {
			t.Errorf("Root(%q) = %v, %v; want nil, %s", tc.doc, o, err, tc.want)
		}
		if d.Err() == nil {
			t.Errorf("Root(%q): the error is not recorded", tc.doc)
		}
	}
}

func TestFailf(t *testing.T) {
	d := New("f.json")
	cause := errors.New("bad regex")
	d.Failf("mapping[0].topicFilter", "does not compile: %v", cause)
	if got := d.Err().Error(); got != "f.json: mapping[0].topicFilter: does not compile: bad regex" {
		t.Errorf("got %q", got)
	}
	if !errors.Is(d.Err(), cause) {
		t.Errorf("the cause is not kept for errors.Is")
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Join("", "a.b"), "a.b"},
		{Join("x", "a"), "x.a"},
		{Join("x", ""), `x[""]`},
		{Join("x", "a b"), `x["a b"]`},
		{Index("x", 3), "x[3]"},
		{(&Error{Expected: "e", Found: "f"}).Error(), "(top level): expected e, found f"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
