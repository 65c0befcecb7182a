package confjson

import "fmt"

// Options change how a Decoder treats errors and loose values. The zero value is what connector files use.
type Options struct {
	// MaxErrors is how many errors are kept. 0 means 1: the first error stops decoding (connector files); from
	// then on every getter returns its default and records nothing. The main file keeps up to 20.
	MaxErrors int
	// StrictNull makes a JSON null an error for Bool, Int and Float ("expected ..., found null"). Without it a
	// null counts as absent for every getter (the Python gateway's dict.get treats None as "not set"). Strings,
	// objects and lists treat null as absent either way.
	StrictNull bool
	// StrictNumbers refuses numbers written as text ("1883") in Int and Float. Without it they are accepted, as
	// configurations produced by the ThingsBoard UI sometimes carry them.
	StrictNumbers bool
}

// Decoder reads one configuration file: it records the errors (with file and key path) and the warnings found
// while the caller walks the tree with Object's getters. It is not safe for concurrent use; one Decoder serves
// one decode and is then dropped.
type Decoder struct {
	file  string
	opts  Options
	errs  Errors
	warns []Warning
}

// New returns a Decoder for a connector file: the first error stops, null counts as absent, numbers written as
// text are accepted. file names the file in every message ("" leaves it out, for callers that prefix it).
func New(file string) *Decoder { return NewWith(file, Options{}) }

// NewWith returns a Decoder with the given options.
func NewWith(file string, opts Options) *Decoder {
	return &Decoder{file: file, opts: opts, errs: Errors{Limit: opts.MaxErrors}}
}

// File returns the file name given to New.
func (d *Decoder) File() string { return d.file }

// Root parses data (see Parse) and returns its top-level object. A syntax error, or a top level that is not an
// object ("(top level): expected an object, found a list"), is recorded and returned; the returned Object is
// then nil, which reads as empty.
func (d *Decoder) Root(data []byte) (*Object, error) {
	tree, err := Parse(d.file, data)
	if err != nil {
		d.errs.Add(err)
		return nil, err
	}
	if _, ok := tree.(map[string]any); !ok {
		d.Fail("", "an object", tree)
		return nil, d.Err()
	}
	return d.Object("", tree), nil
}

// Object wraps v, found at path, for reading. A v that is not an object is recorded as an error and yields nil
// (which reads as empty), so decoding can go on and report more.
func (d *Decoder) Object(path string, v any) *Object {
	m, ok := v.(map[string]any)
	if !ok {
		d.Fail(path, "an object", v)
		return nil
	}
	return &Object{d: d, path: path, m: m, seen: make(map[string]bool, len(m))}
}

// Fail records "PATH: expected EXPECTED, found Describe(found)".
func (d *Decoder) Fail(path, expected string, found any) {
	d.errs.Add(&Error{File: d.file, Path: path, Expected: expected, Found: Describe(found)})
}

// FailMissing records "PATH: expected EXPECTED, found nothing" (a required key is absent).
func (d *Decoder) FailMissing(path, expected string) {
	d.errs.Add(&Error{File: d.file, Path: path, Expected: expected, Found: "nothing"})
}

// Failf records "PATH: MESSAGE" for a rule that is not about one value's type (a duplicate name, a regular
// expression that does not compile, ...). An error among args is kept as the Error's Err for errors.Is/As.
func (d *Decoder) Failf(path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.Err = err
			break
		}
	}
	d.errs.Add(e)
}

// Warn records a warning about path ("unknown key, ignored", "... is not supported, ignored").
func (d *Decoder) Warn(path, msg string) {
	d.warns = append(d.warns, Warning{File: d.file, Path: path, Msg: msg})
}

// Failed reports whether an error was recorded.
func (d *Decoder) Failed() bool { return d.errs.Len() > 0 }

// stopped reports whether no more errors will be kept, so getters stop reading.
func (d *Decoder) stopped() bool { return d.errs.Full() }

// Err returns nil, the first error (as an *Error or *SyntaxError), or, with MaxErrors > 1, all kept errors
// joined one per line.
func (d *Decoder) Err() error { return d.errs.Err() }

// Warnings returns the warnings in the order recorded (unknown keys sorted per object).
func (d *Decoder) Warnings() []Warning { return d.warns }

// WarningStrings returns the warnings as "FILE: PATH: MSG" texts, the form connector factories return.
func (d *Decoder) WarningStrings() []string {
	out := make([]string, len(d.warns))
	for i, w := range d.warns {
		out[i] = w.String()
	}
	return out
}
