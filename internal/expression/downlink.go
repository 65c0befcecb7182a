package expression

import (
	"encoding/json"
	"fmt"
	"time"
)

// Downlink is a downlink converter written as an expression: it turns an attribute update or an RPC (Env: key
// and value, or method and params, plus the metadata) into what the connector sends (Result). It is safe for
// concurrent use.
type Downlink struct {
	p    *Program
	base Env
	now  func() time.Time
}

// NewDownlink compiles a downlink converter; base is copied into every evaluation's Env as for NewUplink.
func NewDownlink(src string, limits Limits, base Env) (*Downlink, error) {
	p, err := Compile(src, limits)
	if err != nil {
		return nil, err
	}
	return &Downlink{p: p, base: base, now: time.Now}, nil
}

// Result is what a downlink expression returned: a map whose keys the connector reads (e.g. topic and payload
// for MQTT, functionCode, address and registers for Modbus), or nil when there is nothing to send.
type Result struct {
	m             map[string]any
	maxValueBytes int
}

// Eval evaluates the expression on env (filled from the base Env like Uplink.Records). A result that is neither
// a map nor nil is an error.
func (d *Downlink) Eval(env *Env) (*Result, error) {
	(&Uplink{base: d.base, now: d.now}).fill(env)
	out, err := d.p.eval(env)
	if err != nil {
		return nil, err
	}
	switch x := out.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return &Result{m: x, maxValueBytes: d.p.limits.MaxValueBytes}, nil
	}
	return nil, fmt.Errorf("the expression returned %s; want a map or nil", typeName(out))
}

// Has reports whether the result sets key (to something other than nil).
func (r *Result) Has(key string) bool { return r.m[key] != nil }

// String returns the text value of key; a value that is not a string is an error.
func (r *Result) String(key string) (string, error) {
	switch x := r.m[key].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("result %s is %s, want a string", key, typeName(r.m[key]))
}

// Int returns the integer value of key (def when absent).
func (r *Result) Int(key string, def int) (int, error) {
	if r.m[key] == nil {
		return def, nil
	}
	n, err := toInt(r.m[key])
	if err != nil {
		return 0, fmt.Errorf("result %s: %v", key, err)
	}
	return n, nil
}

// Payload returns key's value as the bytes to send: bytes as they are, a string as its text, any other value as
// JSON (bytes inside it as hex text).
func (r *Result) Payload(key string) ([]byte, error) {
	switch x := r.m[key].(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	if err := checkSize(r.m[key], r.maxValueBytes); err != nil {
		return nil, fmt.Errorf("result %s: %w", key, err)
	}
	b, err := json.Marshal(jsonable(r.m[key]))
	if err != nil {
		return nil, fmt.Errorf("result %s: %v", key, err)
	}
	return b, nil
}

// Ints returns key's value as a list of integers: a list of numbers, or bytes (one integer per byte).
func (r *Result) Ints(key string) ([]int, error) {
	switch x := r.m[key].(type) {
	case nil:
		return nil, nil
	case []byte:
		out := make([]int, len(x))
		for i, b := range x {
			out[i] = int(b)
		}
		return out, nil
	case []any:
		out := make([]int, len(x))
		for i, v := range x {
			n, err := toInt(v)
			if err != nil {
				return nil, fmt.Errorf("result %s[%d]: %v", key, i, err)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("result %s is %s, want a list of integers or bytes", key, typeName(r.m[key]))
}

// Bools returns key's value as a list of bools (a single bool is a list of one).
func (r *Result) Bools(key string) ([]bool, error) {
	switch x := r.m[key].(type) {
	case nil:
		return nil, nil
	case bool:
		return []bool{x}, nil
	case []any:
		out := make([]bool, len(x))
		for i, v := range x {
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("result %s[%d] is %s, want a bool", key, i, typeName(v))
			}
			out[i] = b
		}
		return out, nil
	}
	return nil, fmt.Errorf("result %s is %s, want a bool or a list of bools", key, typeName(r.m[key]))
}
